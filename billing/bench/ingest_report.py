"""The ingest bench's table: every figure of one run, its ratio to the figure it is held
against, the target and whether the run met it.

Figures are keyed by name; a phase that did not run (no --prefill) leaves its figures out and
its targets print as skipped.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    label: str
    value: float
    unit: str
    note: str = ""


@dataclass(frozen=True)
class Target:
    """A ratio to another figure (`against`) of at least `at_least`, or a value in bounds."""

    against: str | None = None
    at_least: float | None = None
    below: float | None = None

    def met(self, value: float) -> bool:
        if self.at_least is not None and value < self.at_least:
            return False
        return self.below is None or value < self.below

    def describe(self, unit: str) -> str:
        if self.against is not None:
            return f">= {self.at_least:.2f} x {SHORT_NAMES[self.against]}"
        if self.at_least is not None:
            return f">= {self.at_least:,.0f} {unit}"
        return f"< {self.below:,.0f} {unit}"


# The targets (#17), by the figure each applies to.
TARGETS = {
    "http_live_2": Target(against="lean_copy", at_least=0.3),
    "http_spread_2": Target(against="http_live_2", at_least=0.7),
    "litellm_live_2": Target(against="http_live_2", at_least=0.8),
    "litellm_spread_2": Target(against="http_spread_2", at_least=0.8),
    "import_rate": Target(at_least=20_000),
    "import_rss": Target(below=300),
    "prefilled_live_2": Target(against="http_live_2", at_least=0.9),
    "prefilled_overview_p95": Target(below=250),
    "batch_rss": Target(below=300),
}
# Ratios printed for information: how far each step is from the plain COPY limit.
SHOWN_AGAINST = {
    "same_table_copy": "lean_copy",
    "http_live_1": "lean_copy",
}
SHORT_NAMES = {
    "lean_copy": "lean COPY",
    "http_live_2": "canonical live",
    "http_spread_2": "canonical spread",
}
# Why a target has no figure: the phase that measures it was left out.
SKIPPED_BECAUSE = {
    "import_rate": "--import-events 0",
    "import_rss": "--import-events 0",
    "prefilled_live_2": "--prefill 0",
    "prefilled_overview_p95": "--prefill 0",
}


def report_lines(figures: dict[str, Figure]) -> list[str]:
    """One line per figure, in the order given, then one per target whose figure is missing."""
    width = max((len(figure.label) for figure in figures.values()), default=0)
    lines = [f"{'':<{width}}  {'value':>16}  {'ratio':<22}  {'target':<24}  verdict"]
    for key, figure in figures.items():
        value = f"{figure.value:,.0f} {figure.unit}"
        ratio = target_text = verdict = ""
        target = TARGETS.get(key)
        against = target.against if target else SHOWN_AGAINST.get(key)
        judged = figure.value
        if against is not None and against in figures and figures[against].value:
            judged = figure.value / figures[against].value
            ratio = f"{judged:.2f} x {SHORT_NAMES.get(against, figures[against].label)}"
        if target is not None:
            target_text = target.describe(figure.unit)
            if target.against is not None and not ratio:
                verdict = f"no {SHORT_NAMES[target.against]} figure"
            else:
                verdict = "met" if target.met(judged) else "NOT met"
        line = f"{figure.label:<{width}}  {value:>16}  {ratio:<22}  {target_text:<24}  {verdict}"
        lines.append(f"{line.rstrip()}{f'  ({figure.note})' if figure.note else ''}")
    for key in TARGETS:
        if key not in figures:
            reason = SKIPPED_BECAUSE.get(key, "not measured")
            lines.append(f"{key}: skipped ({reason})")
    return lines
