"""Staged rollout plans: what the beat job does with each open plan, and what ops do to one.

A plan waits while its step is prepared in the draft and not yet published; runs while the
step is live, gathering evidence; and on each check judges the step's gates on the evidence since
it went live. Gates passed: the next step is prepared in the draft (or, with auto-advance,
published) and ops are emailed; the last step passed completes the plan. A gate failed: the plan
pauses and ops are emailed; with auto-rollback the previous step is published. The plan never
publishes over a draft with someone's unpublished edits: it says so and waits for a person.
Every transition is a RolloutEvent and an audit record.
"""

import logging
import smtplib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from billing.experiments.evidence import ArmRef, Evidence, experiment_evidence, experiments_of
from billing.experiments.gates import GateReport, GateStatus, StepGates, gates_check
from billing.rollups import hour_of
from dashboard.access import PERMISSIONS
from dashboard.audit import audit_record
from dashboard.models import Membership
from routing.models import (
    RolloutEvent,
    RolloutEventKind,
    RolloutPlan,
    RolloutState,
    RoutingVersion,
)
from routing.proposals import DraftDiffers
from routing.publish import latest_version
from routing.rollouts import (
    DraftHasEdits,
    plain_targets,
    rule_targets,
    same_targets,
    step_prepare,
    step_proposal,
    step_publish,
    step_targets,
)
from routing.rules import StaleEdit

logger = logging.getLogger(__name__)

# Transitions that ops hear of by email.
EMAILED = {
    RolloutEventKind.PREPARED,
    RolloutEventKind.BLOCKED,
    RolloutEventKind.PUBLISHED,
    RolloutEventKind.PAUSED,
    RolloutEventKind.ROLLED_BACK,
    RolloutEventKind.COMPLETED,
}


def step_name(plan: RolloutPlan, index: int) -> str:
    return f"step {index + 1} of {len(plan.steps)} ({plan.steps[index]['weight']}%)"


def plan_record(
    plan: RolloutPlan,
    kind: RolloutEventKind,
    message: str,
    *,
    version: int | None = None,
    report: GateReport | None = None,
    actor=None,
) -> RolloutEvent:
    """Record a transition: its event, its audit record, and for some an email to ops."""
    if version is None:
        live = latest_version(plan.team)
        version = live.number if live else None
    event = RolloutEvent.objects.create(
        plan=plan,
        kind=kind,
        step=plan.step,
        version=version,
        message=message[:1000],
        gates=report.as_json() if report else [],
        actor=actor if actor is not None and actor.is_authenticated else None,
        at=timezone.now(),
    )
    audit_record(
        team=plan.team,
        action=f"rollout.{kind.value}",
        target=f"rollout of {plan.candidate_label} on {plan.task_type}",
        actor=actor,
        detail={"plan": plan.pk, "step": plan.step + 1, "version": version, "message": message},
    )
    if kind in EMAILED:
        transaction.on_commit(lambda: _email_ops(plan, event, report))
    return event


def _ops_emails(team) -> list[str]:
    members = Membership.objects.filter(
        team=team, role__in=PERMISSIONS["routing.edit"], user__is_active=True
    ).values_list("user__email", flat=True)
    return sorted({email.strip().lower() for email in members if email and email.strip()})


def rollouts_url(plan: RolloutPlan) -> str:
    path = reverse("rollouts", kwargs={"team": plan.team.slug})
    return f"{settings.SITE_URL.rstrip('/')}{path}#plan-{plan.pk}"


def _email_ops(plan: RolloutPlan, event: RolloutEvent, report: GateReport | None) -> None:
    recipients = _ops_emails(plan.team)
    if not recipients:
        return
    subject = (
        f"{plan.team.name}: rollout of {plan.candidate_label} on {plan.task_type}: "
        f"{event.get_kind_display().lower()}"
    )
    lines = [event.message, ""]
    if report is not None:
        lines += ["The gates, on the evidence while the step was live:", *report.lines(), ""]
    lines.append(f"The plan, its history and its evidence: {rollouts_url(plan)}")
    message = EmailMessage(
        subject=" ".join(subject.splitlines()),
        body="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        bcc=recipients,
    )
    try:
        message.send()
    except (smtplib.SMTPException, OSError):
        # The transition stands and shows on the page; only this email is lost, and logged.
        logger.exception("Rollout email not sent for plan %s", plan.pk)


def plan_evidence(plan: RolloutPlan, *, now: datetime) -> Evidence | None:
    """The live experiment of the plan's rule, since its step went live, against its control."""
    live = latest_version(plan.team)
    if live is None or plan.step_started_at is None:
        return None
    candidate = ArmRef(plan.candidate_provider, plan.candidate_model)
    for experiment in experiments_of(plan.team):
        if (
            experiment.task_type == plan.task_type
            and live.number in experiment.version_numbers
            and candidate in experiment.arms
        ):
            # A step's own versions only: the step before had the same targets, so the same
            # experiment, and its calls of the step's first hour would count otherwise.
            own = [v for v in experiment.versions if v.number >= (plan.step_version or 0)]
            control = ArmRef(plan.control_provider, plan.control_model)
            return experiment_evidence(
                plan.team,
                replace(experiment, versions=own),
                control=control,
                start=plan.step_started_at,
                now=now,
            )
    return None


def plan_gates(plan: RolloutPlan, *, now: datetime) -> GateReport | None:
    """The current step's gates on its evidence; None unless the step is live."""
    if plan.state != RolloutState.RUNNING or plan.step_started_at is None:
        return None
    return gates_check(
        StepGates.of(plan.current_step),
        plan_evidence(plan, now=now),
        ArmRef(plan.candidate_provider, plan.candidate_model),
        live_since=plan.step_started_at,
        now=now,
    )


@dataclass
class RolloutRun:
    checked: int = 0
    events: list[RolloutEvent] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        text = f"{self.checked} plans checked, {len(self.events)} transitions"
        return text + (f"; failed: {', '.join(self.failed)}" if self.failed else "")


def rollouts_evaluate(*, now: datetime | None = None) -> RolloutRun:
    """One check of every waiting or running plan (paused ones wait for a person)."""
    now = now or timezone.now()
    run = RolloutRun()
    plans = RolloutPlan.objects.select_related("team").filter(
        state__in=[RolloutState.WAITING, RolloutState.RUNNING]
    )
    for plan in plans:
        run.checked += 1
        try:
            run.events += rollout_evaluate(plan, now=now)
        except Exception:
            logger.exception("Rollout plan %s could not be checked", plan.pk)
            run.failed.append(f"plan {plan.pk} ({plan.team.slug} {plan.task_type})")
    return run


def rollout_evaluate(plan: RolloutPlan, *, now: datetime) -> list[RolloutEvent]:
    """One check of one plan; the transitions it made."""
    with transaction.atomic():
        plan = RolloutPlan.objects.select_for_update().select_related("team").get(pk=plan.pk)
        before = RolloutEvent.objects.filter(plan=plan).count()
        live = latest_version(plan.team)
        live_targets = rule_targets(live.snapshot, plan.task_type) if live else None
        if plan.state == RolloutState.WAITING:
            _check_waiting(plan, live, live_targets, now)
        elif plan.state == RolloutState.RUNNING:
            _check_running(plan, live, live_targets, now)
        plan.checked_at = now
        plan.save()
        return list(RolloutEvent.objects.filter(plan=plan).order_by("pk")[before:])


def _changed_outside(plan: RolloutPlan, live: RoutingVersion | None) -> None:
    where = f"in v{live.number}" if live else "(nothing is published)"
    _pause(
        plan,
        f"The {plan.task_type} rule was changed outside the plan {where}: it no longer holds "
        f"{step_name(plan, plan.step)}. Resume the plan to go on from the rule as it is.",
    )


def _check_waiting(plan, live, live_targets, now) -> None:
    if same_targets(live_targets, step_targets(plan, plan.step)):
        _step_live(plan, live)
        return
    if not same_targets(live_targets, plan.from_targets):
        _changed_outside(plan, live)
        return
    if plan.auto_advance and plan.step > 0:
        _publish_step(plan, now)
        return
    _prepare(plan)


def _step_live(plan: RolloutPlan, live: RoutingVersion) -> None:
    plan.state = RolloutState.RUNNING
    plan.step_started_at, plan.step_version = live.published_at, live.number
    plan.paused_reason = ""
    plan_record(
        plan,
        RolloutEventKind.STEP_LIVE,
        f"{step_name(plan, plan.step).capitalize()} is live in v{live.number}: its evidence "
        "counts from then.",
        version=live.number,
    )


def _prepare(plan: RolloutPlan, report: GateReport | None = None) -> None:
    """The step into the draft; said once when the draft cannot take it. `report`: the gates
    the step before passed, for the email."""
    try:
        prepared = step_prepare(plan, step_targets(plan, plan.step))
    except (DraftDiffers, StaleEdit, ValidationError) as error:
        message = (
            f"{step_name(plan, plan.step).capitalize()} could not be prepared in the draft: "
            f"{_draft_problem(error)}"
        )
        last = plan.events.order_by("-pk").first()
        if last is None or last.message != message:
            plan_record(plan, RolloutEventKind.BLOCKED, message, report=report)
        return
    if prepared:
        plan_record(
            plan,
            RolloutEventKind.PREPARED,
            f"{step_name(plan, plan.step).capitalize()} is prepared in the draft: review it "
            "and publish it from the Routing page.",
            report=report,
        )


def _draft_problem(error) -> str:
    if isinstance(error, DraftDiffers):
        return (
            f"the draft's {error} rule holds unpublished edits; publish or discard them, and "
            "the plan prepares the step at its next check."
        )
    if isinstance(error, DraftHasEdits):
        return (
            "the draft holds unpublished edits (" + "; ".join(error.changes)[:400] + "); "
            "the plan publishes only a draft without them."
        )
    if isinstance(error, StaleEdit):
        return "someone was saving the same rule; the plan tries again at its next check."
    return "; ".join(error.messages)


def _publish_step(plan: RolloutPlan, now: datetime, report: GateReport | None = None) -> None:
    """Auto-advance: publish the step, or prepare it for a person when the draft has edits."""
    comment = (
        f"Rollout plan {plan.pk}: {step_name(plan, plan.step)} for {plan.candidate_label} on "
        f"{plan.task_type}, published automatically"
    )
    if report is not None:
        comment += ": every gate passed (" + "; ".join(report.lines())[:380] + ")"
    try:
        version = step_publish(plan, step_targets(plan, plan.step), comment=comment[:500])
    except (DraftHasEdits, DraftDiffers, StaleEdit, ValidationError) as error:
        message = f"Not published automatically: {_draft_problem(error)}"
        last = plan.events.order_by("-pk").first()
        if last is None or last.message != message:
            plan_record(plan, RolloutEventKind.BLOCKED, message, report=report)
        _prepare(plan, report)
        return
    plan.state = RolloutState.RUNNING
    plan.step_started_at, plan.step_version = version.published_at, version.number
    plan_record(
        plan,
        RolloutEventKind.PUBLISHED,
        f"{step_name(plan, plan.step).capitalize()} published as v{version.number}.",
        version=version.number,
        report=report,
    )


def _check_running(plan, live, live_targets, now) -> None:
    if not same_targets(live_targets, step_targets(plan, plan.step)):
        _changed_outside(plan, live)
        return
    report = plan_gates(plan, now=now)
    assert report is not None
    if report.status is GateStatus.FAIL:
        _fail(plan, report, now)
    elif report.status is GateStatus.PASS:
        _pass(plan, report, now)


def _pass(plan: RolloutPlan, report: GateReport, now: datetime) -> None:
    passed = step_name(plan, plan.step)
    if plan.is_last_step:
        plan.state = RolloutState.COMPLETED
        plan_record(
            plan,
            RolloutEventKind.COMPLETED,
            f"Every gate of {passed}, the last step, passed: the rollout is complete.",
            report=report,
        )
        return
    plan_record(plan, RolloutEventKind.PASSED, f"Every gate of {passed} passed.", report=report)
    plan.from_targets = step_targets(plan, plan.step)
    plan.step += 1
    plan.state = RolloutState.WAITING
    plan.step_started_at = plan.step_version = None
    if plan.auto_advance:
        _publish_step(plan, now, report)
    else:
        _prepare(plan, report)


def _fail(plan: RolloutPlan, report: GateReport, now: datetime) -> None:
    failed = ", ".join(check.name.lower() for check in report.failed)
    reason = f"{step_name(plan, plan.step).capitalize()} failed its gates: {failed}."
    _pause(plan, reason, report=report)
    if plan.auto_rollback:
        _roll_back(plan, report)


def _pause(plan: RolloutPlan, reason: str, *, report: GateReport | None = None) -> None:
    plan.state = RolloutState.PAUSED
    plan.paused_reason = reason[:500]
    plan_record(plan, RolloutEventKind.PAUSED, reason, report=report)


def _roll_back(plan: RolloutPlan, report: GateReport) -> None:
    back_to = _targets_text(plan.from_targets)
    comment = (
        f"Rollout plan {plan.pk}: rolled back to {back_to} for {plan.candidate_label} on "
        f"{plan.task_type}: {plan.paused_reason}"
    )
    try:
        version = step_publish(plan, plan.from_targets, comment=comment[:500])
    except (DraftHasEdits, DraftDiffers, StaleEdit, ValidationError) as error:
        plan_record(
            plan,
            RolloutEventKind.BLOCKED,
            f"Not rolled back automatically: {_draft_problem(error)} Roll back by hand from the "
            "Versions page.",
            report=report,
        )
        return
    plan_record(
        plan,
        RolloutEventKind.ROLLED_BACK,
        f"Rolled back to {back_to} as v{version.number}.",
        version=version.number,
        report=report,
    )


def _targets_text(targets: list[dict]) -> str:
    return ", ".join(f"{t['provider']}/{t['model']} {t['weight']}%" for t in targets)


def rollout_create(
    *,
    team,
    user,
    task_type: str,
    candidate: ArmRef,
    control: ArmRef,
    steps: list[StepGates],
    auto_advance: bool,
    auto_rollback: bool,
) -> RolloutPlan:
    """A plan from the live rule as it is; its first step is prepared in the draft for a
    person to publish (or found live already)."""
    live = latest_version(team)
    targets = rule_targets(live.snapshot, task_type) if live else None
    if live is None or targets is None:
        raise ValidationError(f"The {task_type} rule is not published and enabled.")
    with transaction.atomic():
        plan = RolloutPlan.objects.create(
            team=team,
            task_type=task_type,
            candidate_provider=candidate.provider,
            candidate_model=candidate.model,
            control_provider=control.provider,
            control_model=control.model,
            steps=[step.as_json() for step in steps],
            starting_targets=plain_targets(targets),
            from_targets=plain_targets(targets),
            auto_advance=auto_advance,
            auto_rollback=auto_rollback,
            created_by=user,
        )
        weights = " → ".join(f"{step.weight}%" for step in steps)
        plan_record(
            plan,
            RolloutEventKind.CREATED,
            f"Plan created: {plan.candidate_label} on {task_type} at {weights}, against "
            f"{plan.control_label}.",
            actor=user,
        )
        if same_targets(targets, step_targets(plan, 0)):
            _step_live(plan, live)
        else:
            _prepare(plan)
        plan.save()
    return plan


def rollout_resume(plan: RolloutPlan, *, user) -> None:
    """Go on with the paused step: its evidence counts afresh from now if the rule holds it;
    else it is prepared in the draft again, from the rule as it is live now."""
    with transaction.atomic():
        plan = RolloutPlan.objects.select_for_update().select_related("team").get(pk=plan.pk)
        if plan.state != RolloutState.PAUSED:
            raise ValidationError("Only a paused plan can be resumed.")
        live = latest_version(plan.team)
        live_targets = rule_targets(live.snapshot, plan.task_type) if live else None
        if live is None or live_targets is None:
            raise ValidationError(f"The {plan.task_type} rule is not published and enabled.")
        plan.paused_reason = ""
        if same_targets(live_targets, step_targets(plan, plan.step)):
            # Usage is summed by the hour: the step's evidence starts at the next whole one, so
            # no call made before the resume counts.
            start = hour_of(timezone.now()) + timedelta(hours=1)
            plan.state = RolloutState.RUNNING
            plan.step_started_at, plan.step_version = start, live.number
            message = (
                f"Resumed at {step_name(plan, plan.step)}: its evidence counts afresh from "
                f"{start.astimezone(plan.team.zone):%Y-%m-%d %H:%M} ({plan.team.time_zone})."
            )
        else:
            _rebase(plan, live_targets)
            plan.state = RolloutState.WAITING
            plan.step_started_at = plan.step_version = None
            message = f"Resumed: {step_name(plan, plan.step)} is to be published next."
        plan_record(plan, RolloutEventKind.RESUMED, message, actor=user)
        if plan.state == RolloutState.WAITING:
            _prepare(plan)
        plan.save()


def _rebase(plan: RolloutPlan, live_targets: list[dict]) -> None:
    """Go on from the rule as it is live: the next step is the first that puts more on the
    candidate than it has now, and the other targets share the rest as they share it now."""
    if same_targets(live_targets, plan.from_targets):
        return
    candidate = (plan.candidate_provider, plan.candidate_model)
    weight = sum(t["weight"] for t in live_targets if (t["provider"], t["model"]) == candidate)
    later = [index for index, step in enumerate(plan.steps) if step["weight"] > weight]
    if not later:
        raise ValidationError(
            f"The live rule already puts {weight}% on {plan.candidate_label}, as much as the "
            "plan's last step: cancel the plan instead."
        )
    plan.step = later[0]
    plan.starting_targets = plan.from_targets = plain_targets(live_targets)


def rollout_cancel(plan: RolloutPlan, *, user) -> None:
    """Stop the plan; the rules stay as they are, published and draft."""
    with transaction.atomic():
        plan = RolloutPlan.objects.select_for_update().select_related("team").get(pk=plan.pk)
        if not plan.is_open:
            raise ValidationError("The plan has already ended.")
        plan.state = RolloutState.CANCELLED
        plan_record(
            plan,
            RolloutEventKind.CANCELLED,
            "Cancelled: the routing stays as it is, published and in the draft.",
            actor=user,
        )
        plan.save()


def any_plan_open() -> bool:
    """Whether the rollout job has work (the scheduler banner asks, through dashboard.schedule)."""
    return RolloutPlan.objects.filter(
        state__in=[RolloutState.WAITING, RolloutState.RUNNING]
    ).exists()


def open_plans(team):
    return RolloutPlan.objects.filter(
        team=team, state__in=[RolloutState.WAITING, RolloutState.RUNNING, RolloutState.PAUSED]
    )


def plans_next_rules(team) -> list[dict] | None:
    """The live routing with each waiting or running plan's next step in its rule; None when
    no plan has a step to come."""
    live = latest_version(team)
    if live is None:
        return None
    snapshot = live.snapshot
    for plan in open_plans(team).exclude(state=RolloutState.PAUSED):
        index = plan.step if plan.state == RolloutState.WAITING else plan.step + 1
        if index < len(plan.steps):
            snapshot = step_proposal(plan, step_targets(plan, index), snapshot).after
    return None if snapshot == live.snapshot else snapshot
