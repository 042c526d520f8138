"""The known value closest to one typed, for messages that refuse it ("did you mean ...?")."""

import difflib
from collections.abc import Iterable


def closest_known(value: str, known: Iterable[str]) -> str | None:
    """The known value most like `value`, ignoring case, or None when none is close."""
    by_folded = {item.casefold(): item for item in known}
    matches = difflib.get_close_matches(value.casefold(), list(by_folded), n=1, cutoff=0.7)
    return by_folded[matches[0]] if matches else None


def did_you_mean(value: str, known: Iterable[str]) -> str:
    """ " Did you mean “summarization”?" for the closest known value, else ""."""
    closest = closest_known(value, known)
    return f" Did you mean “{closest}”?" if closest else ""
