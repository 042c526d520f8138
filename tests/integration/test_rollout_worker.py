"""Rollout plans advanced and rolled back by the real Celery worker: the evaluate-rollouts task
sent the way beat sends it, the plan's next version published (or its step rolled back) by the
worker process, on the evidence ingested here.

The worker is another process, so these tests run on real time (min_days 0 lets a step pass at
once) and on the transactional test database the worker is handed (see conftest.py).
"""

from dataclasses import astuple
from datetime import UTC, datetime

from billing.experiments.plans import rollout_evaluate
from billing.rollups import hour_of
from dashboard.celery import app
from dashboard.models import JobRun
from routing.models import RolloutEvent, RolloutPlan, RolloutState, RoutingVersion
from routing.publish import latest_version, routing_publish
from routing.rollouts import rule_targets
from tests.billing.rollout_setup import (
    DEEPSEEK,
    SONNET,
    plan_start,
    routing_publish_all_on_sonnet,
    usage_send,
)

CALLS = 300
WAIT_SECONDS = 60
GATES = {"min_days": 0, "min_scored": 50, "max_error_increase_pts": 2, "max_p95_ratio": 1.5}


def _running_plan(team, user, **options) -> RolloutPlan:
    """v1 all on Sonnet; a plan at 20% then 50% on DeepSeek; v2 (its first step) published by
    `user` and the plan checked once here, so it runs."""
    routing_publish_all_on_sonnet(team, user)
    plan = plan_start(team, user, 20, 50, gates=GATES, **options)
    routing_publish(team=team, user=user, comment="Pilot at 20%")
    rollout_evaluate(plan, now=datetime.now(UTC))
    plan.refresh_from_db()
    assert (plan.state, plan.step, plan.step_version) == (RolloutState.RUNNING, 0, 2)
    return plan


def _ingest(team, ref, *, version: RoutingVersion, quality: float) -> None:
    """CALLS successful calls in `version`, from the hour its step's evidence counts from (the
    hour it was published) up to now."""
    between = (hour_of(version.published_at), datetime.now(UTC))
    usage_send(team, CALLS, ref, version=version.number, quality=quality, between=between)


def _send_evaluate_rollouts(queue: str) -> None:
    entry = app.conf.beat_schedule["evaluate-rollouts"]
    with app.connection_for_write() as connection:
        app.send_task(entry["task"], connection=connection, queue=queue, **entry["options"])


def _published_by_plan(plan, *, after: int) -> RoutingVersion | None:
    return RoutingVersion.objects.filter(
        team=plan.team, number__gt=after, comment__startswith=f"Rollout plan {plan.pk}:"
    ).first()


def _summarization(version: RoutingVersion) -> dict[tuple[str, str], int]:
    targets = rule_targets(version.snapshot, "summarization")
    return {(t["provider"], t["model"]): t["weight"] for t in targets}


def _finished_run(worker) -> JobRun:
    def finished():
        return JobRun.objects.filter(name="evaluate_rollouts").exclude(
            outcome=JobRun.Outcome.RUNNING
        )

    worker.wait_until(finished().exists, seconds=WAIT_SECONDS, what="finished evaluate_rollouts")
    (run,) = finished()
    return run


def _kinds(plan) -> list[str]:
    return list(
        RolloutEvent.objects.filter(plan=plan).order_by("pk").values_list("kind", flat=True)
    )


def test_the_worker_publishes_the_next_step_when_every_gate_passed(
    celery_worker, private_queue, team, ops_user, catalog
):
    plan = _running_plan(team, ops_user, auto_advance=True, auto_rollback=False)
    pilot = latest_version(team)
    _ingest(team, SONNET, version=pilot, quality=0.9)
    _ingest(team, DEEPSEEK, version=pilot, quality=0.9)
    worker = celery_worker("--queues", private_queue)

    _send_evaluate_rollouts(private_queue)

    def advanced():
        version = _published_by_plan(plan, after=pilot.number)
        return version is not None and _summarization(version).get(astuple(DEEPSEEK)) == 50

    worker.wait_until(advanced, seconds=WAIT_SECONDS, what="version of step 2 at 50%")
    run = _finished_run(worker)
    assert run.outcome == JobRun.Outcome.OK, run.detail
    assert run.detail == "1 plans checked, 2 transitions"
    version = latest_version(team)
    assert version.number == pilot.number + 1
    assert version.published_by is None
    assert "step 2 of 2 (50%)" in version.comment and "every gate passed" in version.comment
    assert _summarization(version) == {astuple(SONNET): 50, astuple(DEEPSEEK): 50}
    plan.refresh_from_db()
    assert (plan.state, plan.step, plan.step_version) == (
        RolloutState.RUNNING,
        1,
        version.number,
    )
    assert plan.step_started_at == version.published_at
    assert _kinds(plan)[-2:] == ["passed", "published"]


def test_the_worker_pauses_the_plan_and_rolls_back_a_clearly_worse_candidate(
    celery_worker, private_queue, team, ops_user, catalog
):
    plan = _running_plan(team, ops_user, auto_advance=False, auto_rollback=True)
    pilot = latest_version(team)
    _ingest(team, SONNET, version=pilot, quality=0.9)
    _ingest(team, DEEPSEEK, version=pilot, quality=0.5)
    worker = celery_worker("--queues", private_queue)

    _send_evaluate_rollouts(private_queue)

    def rolled_back():
        version = _published_by_plan(plan, after=pilot.number)
        return version is not None and "rolled back" in version.comment

    worker.wait_until(rolled_back, seconds=WAIT_SECONDS, what="version rolling the step back")
    run = _finished_run(worker)
    assert run.outcome == JobRun.Outcome.OK, run.detail
    version = latest_version(team)
    assert version.number == pilot.number + 1
    assert version.published_by is None
    assert _summarization(version) == {astuple(SONNET): 100}
    plan.refresh_from_db()
    assert (plan.state, plan.step) == (RolloutState.PAUSED, 0)
    assert "quality" in plan.paused_reason
    assert _kinds(plan)[-2:] == ["paused", "rolled_back"]
