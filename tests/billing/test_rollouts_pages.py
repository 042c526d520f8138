"""The rollout plans pages: the plans with their gates, history and chart; starting, checking,
resuming and cancelling a plan; and plan transitions on the Versions page."""

import json
from datetime import UTC, date, datetime, timedelta

from django.urls import reverse

from billing.experiments.rollout_chart import rollout_figure
from billing.experiments.tasks import evaluate_rollouts
from dashboard.models import JobRun
from routing.models import RolloutPlan, RolloutState
from routing.publish import draft_snapshot, routing_publish
from tests.billing.rollout_setup import (
    DEEPSEEK,
    SONNET,
    plan_start,
    rule_save_targets,
    usage_send,
)

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _url(name, team, **kwargs):
    return reverse(name, kwargs={"team": team.slug, **kwargs})


def _form(**overrides) -> dict:
    data = {
        "task_type": "summarization",
        "candidate": "chutes/deepseek-ai/DeepSeek-V3",
        "control": "",
        "steps-TOTAL_FORMS": "5",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "5",
        "steps-MAX_NUM_FORMS": "5",
    }
    for index, weight in enumerate(["20", "50", "", "", ""]):
        data |= {
            f"steps-{index}-weight": weight,
            f"steps-{index}-min_days": "3",
            f"steps-{index}-min_scored": "200",
            f"steps-{index}-max_error_increase_pts": "2",
            f"steps-{index}-max_p95_ratio": "1.5",
        }
    return data | overrides


def test_the_page_says_how_to_start_when_there_is_no_plan(client, live, viewer_user):
    client.force_login(viewer_user)
    page = client.get(_url("rollouts", live)).content.decode()
    assert 'data-testid="no-plans"' in page
    assert 'data-testid="new-plan"' not in page  # a viewer cannot start one


def test_the_new_plan_form_offers_20_50_80(client, live, ops_user):
    client.force_login(ops_user)
    page = client.get(_url("rollout_new", live)).content.decode()
    for index, weight in enumerate([20, 50, 80]):
        assert f'name="steps-{index}-weight" value="{weight}"' in page


def test_an_ops_user_starts_a_plan_and_its_first_step_waits_in_the_draft(client, live, ops_user):
    client.force_login(ops_user)
    response = client.post(_url("rollout_new", live), _form())
    plan = RolloutPlan.objects.get(team=live)
    assert response.status_code == 302 and response.url.endswith(f"#plan-{plan.pk}")
    assert (plan.state, [s["weight"] for s in plan.steps]) == (RolloutState.WAITING, [20, 50])
    assert (plan.control_provider, plan.control_model) == (SONNET.provider, SONNET.model)
    page = client.get(_url("rollouts", live)).content.decode()
    assert 'data-testid="step-ready"' in page and "Step 1 of 2 (20%) is ready to publish" in page


def test_steps_that_do_not_rise_are_refused_and_the_form_keeps_what_was_typed(
    client, live, ops_user
):
    client.force_login(ops_user)
    response = client.post(_url("rollout_new", live), _form(**{"steps-1-weight": "10"}))
    page = response.content.decode()
    assert response.status_code == 400
    assert "Each step must give the candidate more than the one before." in page
    assert 'name="steps-1-weight" value="10"' in page
    assert not RolloutPlan.objects.exists()


def test_a_first_step_at_or_below_the_live_share_is_refused(client, live, ops_user):
    rule_save_targets(live, ops_user, "summarization", (SONNET, 70), (DEEPSEEK, 30))
    routing_publish(team=live, user=ops_user, comment="30% pilot")
    client.force_login(ops_user)
    response = client.post(_url("rollout_new", live), _form())
    assert response.status_code == 400
    assert "already puts 30% on the candidate" in response.content.decode()


def test_a_rule_with_nothing_to_compare_the_candidate_with_is_refused(client, live, ops_user):
    client.force_login(ops_user)
    response = client.post(
        _url("rollout_new", live), _form(candidate="anthropic/claude-sonnet-4-5")
    )
    assert response.status_code == 400
    assert "no other target to compare the candidate with" in response.content.decode()


def test_a_viewer_cannot_start_a_plan_and_an_outsider_does_not_see_the_team(
    client, live, viewer_user, outsider
):
    client.force_login(viewer_user)
    assert client.post(_url("rollout_new", live), _form()).status_code == 403
    client.force_login(outsider)
    assert client.get(_url("rollouts", live)).status_code == 404


def test_check_now_finds_the_published_step_live(client, live, ops_user):
    plan = plan_start(live, ops_user, 20, 50)
    routing_publish(team=live, user=ops_user, comment="Pilot")
    client.force_login(ops_user)
    client.post(_url("rollout_check", live, plan_id=plan.pk))
    plan.refresh_from_db()
    assert plan.state == RolloutState.RUNNING
    page = client.get(_url("rollouts", live)).content.decode()
    assert 'data-testid="gates"' in page and "Days live" in page


def test_a_paused_plan_resumes_from_the_page(client, live, ops_user, clock):
    plan = plan_start(live, ops_user, 20, 50)
    routing_publish(team=live, user=ops_user, comment="Pilot")
    client.force_login(ops_user)
    client.post(_url("rollout_check", live, plan_id=plan.pk))
    clock.shift(timedelta(hours=1))
    usage_send(live, 300, SONNET, version=2, quality=0.9)
    usage_send(live, 300, DEEPSEEK, version=2, quality=0.4)
    client.post(_url("rollout_check", live, plan_id=plan.pk))
    page = client.get(_url("rollouts", live)).content.decode()
    assert 'data-testid="paused-reason"' in page and "failed its gates: quality" in page
    client.post(_url("rollout_resume", live, plan_id=plan.pk))
    plan.refresh_from_db()
    assert plan.state == RolloutState.RUNNING


def test_cancelling_asks_first_then_leaves_the_routing_alone(client, live, ops_user):
    plan = plan_start(live, ops_user, 20)
    draft = draft_snapshot(live)
    client.force_login(ops_user)
    confirm = client.get(_url("rollout_cancel", live, plan_id=plan.pk))
    assert "The routing stays as it is" in confirm.content.decode()
    plan.refresh_from_db()
    assert plan.state == RolloutState.WAITING
    client.post(_url("rollout_cancel", live, plan_id=plan.pk))
    plan.refresh_from_db()
    assert plan.state == RolloutState.CANCELLED and draft_snapshot(live) == draft


def test_the_versions_page_shows_each_transition_and_what_the_plan_published(
    client, live, ops_user, clock
):
    plan = plan_start(live, ops_user, 20, 50, auto_rollback=True)
    routing_publish(team=live, user=ops_user, comment="Pilot")
    client.force_login(ops_user)
    client.post(_url("rollout_check", live, plan_id=plan.pk))
    clock.shift(timedelta(hours=1))
    usage_send(live, 300, SONNET, version=2, quality=0.9)
    usage_send(live, 300, DEEPSEEK, version=2, quality=0.4)
    client.post(_url("rollout_check", live, plan_id=plan.pk))
    page = client.get(_url("routing_versions", live)).content.decode()
    assert page.count('data-testid="version-rollout-events"') == 3  # v1 prepared, v2 live, v3
    assert "by a rollout plan" in page and "rolled back by the plan" in page


def test_progress_shows_the_plans_next_step(client, live, ops_user):
    plan_start(live, ops_user, 20, 50)
    client.force_login(ops_user)
    page = client.get(_url("experiments", live)).content.decode()
    assert "Next step: the plans&#x27; next steps, a month" in page


def test_chart_labels_from_the_data_are_shown_as_text(live, ops_user):
    plan = plan_start(live, ops_user, 20)
    figure = rollout_figure(plan, [(date(2026, 11, 20), "chutes/<img src=x>", 10, 50.0, 4, 0.8)])
    names = {trace["name"] for trace in figure["data"]}
    assert names == {"chutes/&lt;img src=x&gt; share", "chutes/&lt;img src=x&gt; quality"}
    assert "<img" not in json.dumps(figure)


def test_the_beat_job_checks_open_plans_and_records_its_run(live, ops_user):
    plan = plan_start(live, ops_user, 20)
    routing_publish(team=live, user=ops_user, comment="Pilot")
    assert evaluate_rollouts() == "1 plans checked, 1 transitions"
    plan.refresh_from_db()
    assert plan.state == RolloutState.RUNNING
    assert JobRun.objects.filter(name="evaluate_rollouts", outcome=JobRun.Outcome.OK).exists()
