"""A plain text progress bar for long management commands."""

import time


class ProgressBar:
    """Call with (done, total); redraws one line, at most a few times a second."""

    def __init__(self, stream, label: str, width: int = 30):
        self.stream, self.label, self.width = stream, label, width
        self.started = time.monotonic()
        self._drawn_at = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._drawn_at < 0.2:
            return
        self._drawn_at = now
        fraction = done / total if total else 1
        filled = int(self.width * fraction)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = now - self.started
        self.stream.write(
            f"\r{self.label} [{bar}] {fraction:4.0%} {done:,}/{total:,} {elapsed:5.1f}s",
            ending="\n" if done >= total else "",
        )
        self.stream.flush()
