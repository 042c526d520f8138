"""Rollout plans: steps prepared and published, gates judged across days, pauses, rollbacks,
auto-advance, and never publishing over someone's unpublished edits."""

from datetime import UTC, datetime, timedelta

from django.core import mail

from billing.experiments.plans import (
    plans_next_rules,
    rollout_cancel,
    rollout_evaluate,
    rollout_resume,
)
from dashboard.models import AuditEvent
from routing.models import RolloutEventKind, RolloutState, RoutingVersion
from routing.publish import draft_snapshot, latest_version, routing_publish
from routing.rollouts import rule_targets, step_targets
from tests.billing.rollout_setup import (
    DEEPSEEK,
    MINI,
    SONNET,
    plan_start,
    rule_save_targets,
    usage_send,
)

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _check(plan):
    return rollout_evaluate(plan, now=datetime.now(UTC))


def _kinds(events):
    return [event.kind for event in events]


def _running_at_first_step(clock, team, user, *weights, **options):
    """The plan's first step published, and an hour of it gone by."""
    plan = plan_start(team, user, *weights, **options)
    routing_publish(team=team, user=user, comment="Pilot")
    _check(plan)
    clock.shift(timedelta(hours=1))
    plan.refresh_from_db()
    assert plan.state == RolloutState.RUNNING
    return plan


def test_the_other_targets_share_what_the_candidate_leaves_as_they_shared_it(live, ops_user):
    rule_save_targets(live, ops_user, "summarization", (SONNET, 60), (MINI, 40))
    routing_publish(team=live, user=ops_user, comment="Sonnet and mini")
    plan = plan_start(live, ops_user, 50)
    assert step_targets(plan, 0) == [
        {"provider": "anthropic", "model": "claude-sonnet-4-5", "weight": 30},
        {"provider": "openai", "model": "gpt-5-mini", "weight": 20},
        {"provider": "chutes", "model": "deepseek-ai/DeepSeek-V3", "weight": 50},
    ]


def test_a_new_plan_prepares_its_first_step_in_the_draft_and_publishes_nothing(live, ops_user):
    plan = plan_start(live, ops_user, 20, 50, 80)
    assert plan.state == RolloutState.WAITING
    assert latest_version(live).number == 1
    assert sorted(
        (t["model"], t["weight"]) for t in rule_targets(draft_snapshot(live), "summarization")
    ) == [("claude-sonnet-4-5", 80), ("deepseek-ai/DeepSeek-V3", 20)]
    assert _kinds(plan.events.order_by("pk")) == ["created", "prepared"]
    assert AuditEvent.objects.filter(team=live, action="rollout.prepared").exists()


def test_the_step_runs_from_the_version_that_published_it(live, ops_user, clock):
    plan = plan_start(live, ops_user, 20, 50)
    clock.shift(timedelta(hours=1))
    version = routing_publish(team=live, user=ops_user, comment="Pilot at 20%")
    (event,) = _check(plan)
    plan.refresh_from_db()
    assert event.kind == RolloutEventKind.STEP_LIVE
    assert (plan.state, plan.step_version) == (RolloutState.RUNNING, version.number)
    assert plan.step_started_at == version.published_at


def test_gates_wait_for_the_minimum_days_then_the_next_step_is_prepared_and_ops_emailed(
    live, ops_user, clock, django_capture_on_commit_callbacks
):
    plan = _running_at_first_step(clock, live, ops_user, 20, 50)
    usage_send(live, 300, SONNET, version=2, tag="a")
    usage_send(live, 300, DEEPSEEK, version=2, tag="a")
    assert _check(plan) == []  # one day short: the quality already holds, the days do not
    mail.outbox.clear()
    clock.shift(timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        events = _check(plan)
    plan.refresh_from_db()
    assert _kinds(events) == ["passed", "prepared"]
    assert (plan.state, plan.step) == (RolloutState.WAITING, 1)
    assert latest_version(live).number == 2  # a person publishes it
    draft = {t["model"]: t["weight"] for t in rule_targets(draft_snapshot(live), "summarization")}
    assert draft == {"claude-sonnet-4-5": 50, "deepseek-ai/DeepSeek-V3": 50}
    (email,) = mail.outbox
    assert email.bcc == [ops_user.email.lower()]
    assert "step 2 of 2 (50%) is prepared in the draft" in email.body.lower()
    assert "Quality: pass" in email.body and "Days live: pass" in email.body


def test_a_clearly_worse_candidate_pauses_the_plan_and_publishes_nothing(
    live, ops_user, clock, django_capture_on_commit_callbacks
):
    plan = _running_at_first_step(clock, live, ops_user, 20, 50)
    usage_send(live, 300, SONNET, version=2, quality=0.9)
    usage_send(live, 300, DEEPSEEK, version=2, quality=0.5)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        (event,) = _check(plan)
    plan.refresh_from_db()
    assert (event.kind, plan.state) == (RolloutEventKind.PAUSED, RolloutState.PAUSED)
    assert "quality" in plan.paused_reason
    assert latest_version(live).number == 2
    assert "Quality: fail" in mail.outbox[0].body


def test_auto_rollback_publishes_the_step_before(live, ops_user, clock):
    plan = _running_at_first_step(clock, live, ops_user, 20, 50, auto_rollback=True)
    usage_send(live, 300, SONNET, version=2, quality=0.9)
    usage_send(live, 300, DEEPSEEK, version=2, quality=0.5)
    assert _kinds(_check(plan)) == ["paused", "rolled_back"]
    version = latest_version(live)
    assert version.number == 3 and version.published_by is None
    assert f"Rollout plan {plan.pk}: rolled back" in version.comment
    assert rule_targets(version.snapshot, "summarization") == [
        {"provider": "anthropic", "model": "claude-sonnet-4-5", "weight": 100}
    ]
    assert AuditEvent.objects.filter(team=live, action="rollout.rolled_back").exists()


def test_a_higher_error_rate_than_allowed_fails_its_gate(live, ops_user, clock):
    plan = _running_at_first_step(clock, live, ops_user, 20, 50)
    usage_send(live, 300, SONNET, version=2)
    usage_send(live, 300, DEEPSEEK, version=2, errors=60)
    _check(plan)
    plan.refresh_from_db()
    assert plan.state == RolloutState.PAUSED and "error rate" in plan.paused_reason


def test_a_slow_candidate_fails_the_latency_gate_once_the_minimums_are_met(live, ops_user, clock):
    plan = _running_at_first_step(clock, live, ops_user, 20, 50)
    usage_send(live, 300, SONNET, version=2, latency_ms=1000)
    usage_send(live, 300, DEEPSEEK, version=2, latency_ms=9000)
    assert _check(plan) == []  # judged only after the minimum days
    clock.shift(timedelta(days=2))
    _check(plan)
    plan.refresh_from_db()
    assert plan.state == RolloutState.PAUSED and "p95 latency" in plan.paused_reason


def test_auto_advance_publishes_the_next_step_naming_the_evidence(live, ops_user, clock):
    plan = _running_at_first_step(clock, live, ops_user, 20, 50, auto_advance=True)
    usage_send(live, 300, SONNET, version=2)
    usage_send(live, 300, DEEPSEEK, version=2)
    clock.shift(timedelta(days=2))
    assert _kinds(_check(plan)) == ["passed", "published"]
    version = latest_version(live)
    plan.refresh_from_db()
    assert (plan.state, plan.step, plan.step_version) == (RolloutState.RUNNING, 1, version.number)
    assert version.published_by is None
    assert "every gate passed" in version.comment and "Quality: pass" in version.comment
    assert {t["weight"] for t in rule_targets(version.snapshot, "summarization")} == {50}
    assert AuditEvent.objects.filter(team=live, action="routing.published", actor=None).exists()


def test_auto_advance_never_publishes_over_unpublished_edits(live, ops_user, clock):
    plan = _running_at_first_step(clock, live, ops_user, 20, 50, auto_advance=True)
    rule_save_targets(live, ops_user, "*", (MINI, 100))  # someone's edit, not yet published
    usage_send(live, 300, SONNET, version=2)
    usage_send(live, 300, DEEPSEEK, version=2)
    clock.shift(timedelta(days=2))
    assert _kinds(_check(plan)) == ["passed", "blocked", "prepared"]
    assert latest_version(live).number == 2
    draft = draft_snapshot(live)
    assert rule_targets(draft, "*") == [
        {"provider": "openai", "model": "gpt-5-mini", "weight": 100}
    ]
    assert {t["weight"] for t in rule_targets(draft, "summarization")} == {50}


def test_a_step_is_not_prepared_over_edits_to_its_own_rule(live, ops_user):
    rule_save_targets(live, ops_user, "summarization", (SONNET, 70), (MINI, 30))  # unpublished
    plan = plan_start(live, ops_user, 20)
    assert _kinds(plan.events.order_by("pk")) == ["created", "blocked"]
    assert "unpublished edits" in plan.events.order_by("pk").last().message
    assert {t["model"] for t in rule_targets(draft_snapshot(live), "summarization")} == {
        "claude-sonnet-4-5",
        "gpt-5-mini",
    }


def test_a_step_counts_none_of_the_calls_of_the_step_before(live, ops_user, clock):
    plan = _running_at_first_step(clock, live, ops_user, 20, 50, gates={"min_days": 0})
    clock.shift(timedelta(minutes=40))  # the calls at 20% made in the hour step 2 starts
    usage_send(live, 300, SONNET, version=2)
    usage_send(live, 300, DEEPSEEK, version=2)
    assert _kinds(_check(plan)) == ["passed", "prepared"]
    routing_publish(team=live, user=ops_user, comment="Step 2")  # in the same hour
    _check(plan)
    plan.refresh_from_db()
    assert (plan.state, plan.step) == (RolloutState.RUNNING, 1)
    assert _check(plan) == []  # nothing yet at 50%: the calls at 20% do not count


def test_the_last_step_passing_completes_the_plan(live, ops_user, clock):
    plan = _running_at_first_step(clock, live, ops_user, 20)
    usage_send(live, 300, SONNET, version=2)
    usage_send(live, 300, DEEPSEEK, version=2)
    clock.shift(timedelta(days=2))
    assert _kinds(_check(plan)) == ["completed"]
    plan.refresh_from_db()
    assert plan.state == RolloutState.COMPLETED


def test_a_rule_changed_by_hand_pauses_the_plan_and_resuming_goes_on_from_it(live, ops_user, clock):
    plan = _running_at_first_step(clock, live, ops_user, 20, 50, 80)
    rule_save_targets(live, ops_user, "summarization", (SONNET, 40), (DEEPSEEK, 60))
    routing_publish(team=live, user=ops_user, comment="By hand")
    _check(plan)
    plan.refresh_from_db()
    assert plan.state == RolloutState.PAUSED and "outside the plan in v3" in plan.paused_reason
    rollout_resume(plan, user=ops_user)
    plan.refresh_from_db()
    assert (plan.state, plan.step) == (RolloutState.WAITING, 2)  # 80% is the first step above 60
    assert {t["weight"] for t in rule_targets(draft_snapshot(live), "summarization")} == {20, 80}


def test_resuming_a_paused_step_counts_its_evidence_afresh(live, ops_user, clock):
    plan = _running_at_first_step(clock, live, ops_user, 20, 50)
    usage_send(live, 300, SONNET, version=2, quality=0.9)
    usage_send(live, 300, DEEPSEEK, version=2, quality=0.5)
    _check(plan)
    clock.shift(timedelta(hours=3))
    rollout_resume(plan, user=ops_user)
    plan.refresh_from_db()
    assert plan.state == RolloutState.RUNNING
    assert plan.step_started_at == datetime(2026, 11, 20, 17, tzinfo=UTC)  # the next whole hour
    assert _check(plan) == []  # the bad calls came before: no evidence yet, nothing fails


def test_cancelling_leaves_the_routing_as_it_is(live, ops_user):
    plan = plan_start(live, ops_user, 20)
    draft = draft_snapshot(live)
    rollout_cancel(plan, user=ops_user)
    plan.refresh_from_db()
    assert plan.state == RolloutState.CANCELLED
    assert draft_snapshot(live) == draft and latest_version(live).number == 1
    assert AuditEvent.objects.filter(team=live, action="rollout.cancelled", actor=ops_user).exists()


def test_the_next_step_of_progress_is_the_plans_next_step(live, ops_user, clock):
    _running_at_first_step(clock, live, ops_user, 20, 50)
    rules = plans_next_rules(live)
    assert {t["weight"] for t in rule_targets(rules, "summarization")} == {50}
    assert RoutingVersion.objects.filter(team=live).count() == 2
