"""A rollout step's gates, judged on the evidence gathered while the step has been live.

Quality and error rate are judged with the always-valid intervals of routing.confidence, so
they may pass or fail at any look; p95 latency, read from histogram buckets, only once the step
has run its minimum days and scored calls.
"""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from billing.experiments.evidence import ArmRef, Evidence
from routing.confidence import Verdict

DEFAULT_GATES = {
    "min_days": 3,
    "min_scored": 200,
    "max_error_increase_pts": "2",
    "max_p95_ratio": "1.5",
}


@dataclass(frozen=True)
class StepGates:
    """One step as a plan stores it: the candidate's weight and what must hold to go on."""

    weight: int
    min_days: int
    min_scored: int
    max_error_increase_pts: Decimal  # percentage points above the control's error rate
    max_p95_ratio: Decimal  # times the control's p95 latency

    @classmethod
    def of(cls, step: dict) -> "StepGates":
        merged = DEFAULT_GATES | step
        return cls(
            weight=int(merged["weight"]),
            min_days=int(merged["min_days"]),
            min_scored=int(merged["min_scored"]),
            max_error_increase_pts=Decimal(str(merged["max_error_increase_pts"])),
            max_p95_ratio=Decimal(str(merged["max_p95_ratio"])),
        )

    def as_json(self) -> dict:
        return {
            "weight": self.weight,
            "min_days": self.min_days,
            "min_scored": self.min_scored,
            "max_error_increase_pts": str(self.max_error_increase_pts),
            "max_p95_ratio": str(self.max_p95_ratio),
        }


class GateStatus(StrEnum):
    PASS = "pass"  # noqa: S105 (a gate status, not a password)
    WAIT = "wait"
    FAIL = "fail"


@dataclass(frozen=True)
class GateCheck:
    name: str
    status: GateStatus
    detail: str


@dataclass(frozen=True)
class GateReport:
    checks: list[GateCheck]

    @property
    def status(self) -> GateStatus:
        statuses = {check.status for check in self.checks}
        if GateStatus.FAIL in statuses:
            return GateStatus.FAIL
        return GateStatus.WAIT if GateStatus.WAIT in statuses else GateStatus.PASS

    @property
    def failed(self) -> list[GateCheck]:
        return [check for check in self.checks if check.status is GateStatus.FAIL]

    def as_json(self) -> list[dict]:
        return [asdict(check) | {"status": check.status.value} for check in self.checks]

    def lines(self) -> list[str]:
        return [f"{check.name}: {check.status.value} ({check.detail})" for check in self.checks]


def _pts(value: float) -> str:
    return f"{value * 100:+.2f} pts"


def gates_check(
    gates: StepGates,
    evidence: Evidence | None,
    candidate: ArmRef,
    *,
    live_since: datetime,
    now: datetime,
) -> GateReport:
    """Every gate of the step, each passed, failed or still waiting for evidence."""
    days = (now - live_since) / timedelta(days=1)
    enough_days = days >= gates.min_days
    checks = [
        GateCheck(
            "Days live",
            GateStatus.PASS if enough_days else GateStatus.WAIT,
            f"{days:.1f} of {gates.min_days}",
        )
    ]
    comparison = next(
        (c for c in (evidence.comparisons if evidence else []) if c.arm.ref == candidate), None
    )
    if evidence is None or comparison is None:
        missing = "no evidence yet: the step is not live in a split with the control"
        checks += [
            GateCheck(name, GateStatus.WAIT, missing)
            for name in ("Scored calls", "Quality", "Error rate", "p95 latency")
        ]
        return GateReport(checks)
    arm, control = comparison.arm, evidence.control
    enough_scored = arm.quality.count >= gates.min_scored
    checks.append(
        GateCheck(
            "Scored calls",
            GateStatus.PASS if enough_scored else GateStatus.WAIT,
            f"{arm.quality.count} of {gates.min_scored} on {candidate.label}",
        )
    )
    checks.append(_quality_check(comparison, evidence))
    checks.append(_error_check(comparison, gates))
    checks.append(_latency_check(arm, control, gates, judged=enough_days and enough_scored))
    return GateReport(checks)


def _quality_check(comparison, evidence: Evidence) -> GateCheck:
    interval = comparison.quality
    margin = f"margin {evidence.margin}"
    if interval is None:
        return GateCheck("Quality", GateStatus.WAIT, f"too few scored calls yet; {margin}")
    detail = (
        f"{interval.estimate:+.4f} against the control ({interval.low:+.4f} to "
        f"{interval.high:+.4f}), {comparison.verdict.value}; {margin}"
    )
    if comparison.verdict in (Verdict.BETTER, Verdict.NOT_WORSE):
        return GateCheck("Quality", GateStatus.PASS, detail)
    if comparison.verdict is Verdict.WORSE:
        return GateCheck("Quality", GateStatus.FAIL, detail)
    return GateCheck("Quality", GateStatus.WAIT, detail)


def _error_check(comparison, gates: StepGates) -> GateCheck:
    interval = comparison.error_rate
    allowed = float(gates.max_error_increase_pts) / 100
    limit = f"at most {gates.max_error_increase_pts} pts above the control"
    if interval is None:
        return GateCheck("Error rate", GateStatus.WAIT, f"too few calls yet; {limit}")
    detail = (
        f"{_pts(interval.estimate)} against the control ({_pts(interval.low)} to "
        f"{_pts(interval.high)}); {limit}"
    )
    if interval.high <= allowed:
        return GateCheck("Error rate", GateStatus.PASS, detail)
    if interval.low > allowed:
        return GateCheck("Error rate", GateStatus.FAIL, detail)
    return GateCheck("Error rate", GateStatus.WAIT, detail)


def _latency_check(arm, control, gates: StepGates, *, judged: bool) -> GateCheck:
    limit = f"at most {gates.max_p95_ratio}x the control's"
    mine, theirs = arm.p95, control.p95
    if mine is None or theirs is None:
        return GateCheck("p95 latency", GateStatus.WAIT, f"no latencies yet; {limit}")
    ratio = mine.ms / theirs.ms if theirs.ms else float("inf")
    detail = f"{mine.ms:.0f} ms against {theirs.ms:.0f} ms ({ratio:.2f}x); {limit}"
    if not judged:
        return GateCheck(
            "p95 latency", GateStatus.WAIT, f"{detail}; judged after the minimum days and calls"
        )
    passed = Decimal(str(mine.ms)) <= Decimal(str(theirs.ms)) * gates.max_p95_ratio
    return GateCheck("p95 latency", GateStatus.PASS if passed else GateStatus.FAIL, detail)
