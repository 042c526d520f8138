from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing.alerts.rules import recommended_rules
from billing.experiments.evidence import experiment_evidence, experiments_of
from billing.experiments.plans import plan_gates
from billing.models import AlertRule, Budget, UsageEvent
from billing.overview.changes import change_markers
from dashboard.models import Membership, Role, Team
from routing.models import ProviderKey, RolloutPlan, RolloutState, RoutingVersion
from routing.rules import check_rule


def _run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_team_creates_it_with_a_time_zone(db):
    _run("create_team", "--slug", "maven", "--name", "Maven", "--tz", "Asia/Tokyo")
    assert Team.objects.get(slug="maven").time_zone == "Asia/Tokyo"


def test_create_team_defaults_to_utc(db):
    _run("create_team", "--slug", "maven", "--name", "Maven")
    assert Team.objects.get(slug="maven").time_zone == "UTC"


def test_create_team_refuses_an_unknown_time_zone(db):
    with pytest.raises(CommandError, match="not a time zone"):
        _run("create_team", "--slug", "maven", "--name", "Maven", "--tz", "Moon/Base")
    assert not Team.objects.exists()


def test_create_team_refuses_a_taken_slug(team):
    with pytest.raises(CommandError, match="already exists"):
        _run("create_team", "--slug", team.slug, "--name", "Again")


def test_create_team_refuses_a_slug_with_spaces(db):
    with pytest.raises(CommandError, match="slug"):
        _run("create_team", "--slug", "my team", "--name", "Mine")


def test_add_member_creates_the_user_and_says_how_to_set_a_password(team):
    output = _run(
        "add_member",
        "--team",
        "maven",
        "--username",
        "fiona",
        "--role",
        "finance",
        "--email",
        "fiona@example.com",
    )
    user = get_user_model().objects.get(username="fiona")
    assert user.email == "fiona@example.com"
    assert Membership.objects.get(team=team, user=user).role == Role.FINANCE
    assert "changepassword fiona" in output


def test_add_member_changes_the_role_of_an_existing_member(team, viewer_user):
    _run("add_member", "--team", "maven", "--username", viewer_user.username, "--role", "ops")
    assert Membership.objects.get(team=team, user=viewer_user).role == Role.OPS


def test_add_member_refuses_an_unknown_team(db):
    with pytest.raises(CommandError, match="No team has the slug 'nope'"):
        _run("add_member", "--team", "nope", "--username", "fiona", "--role", "viewer")


def test_add_member_refuses_an_unknown_role(team):
    with pytest.raises(CommandError, match="invalid choice"):
        _run("add_member", "--team", "maven", "--username", "fiona", "--role", "owner")


def test_add_member_will_not_demote_the_last_admin(team, admin_user):
    with pytest.raises(CommandError, match="last admin"):
        _run("add_member", "--team", "maven", "--username", admin_user.username, "--role", "viewer")


def test_seed_demo_creates_one_login_per_role(db):
    output = _run("seed_demo", "--days", "2")
    roles = set(Membership.objects.filter(team__slug="maven").values_list("role", flat=True))
    assert roles == set(Role.values)
    for username in ("admin", "ops", "finance", "viewer"):
        assert f"  {username} " in output


def test_seed_demo_lets_the_printed_logins_sign_in(db, client):
    _run("seed_demo", "--days", "2")
    response = client.post("/accounts/login/", {"username": "finance", "password": "spend-demo"})
    assert response.status_code == 302


def test_seed_demo_twice_reuses_what_exists(db):
    _run("seed_demo", "--days", "2")
    counts = (Team.objects.count(), Membership.objects.count(), get_user_model().objects.count())
    output = _run("seed_demo", "--days", "2")
    assert (
        Team.objects.count(),
        Membership.objects.count(),
        get_user_model().objects.count(),
    ) == counts
    assert "0 providers, 0 models and 0 prices added" in output


def test_seed_demo_publishes_routing_twice_for_every_demo_team(db):
    _run("seed_demo", "--days", "2")
    _run("seed_demo", "--days", "2")
    assert sorted(RoutingVersion.objects.values_list("team__slug", "number")) == [
        ("atlas", 1),
        ("atlas", 2),
        ("maven", 1),
        ("maven", 2),
        ("pantheon", 1),
        ("pantheon", 2),
    ]


def test_seed_demo_calls_say_the_version_live_when_they_were_made(db):
    _run("seed_demo", "--days", "30")
    maven = Team.objects.get(slug="maven")
    second = maven.routing_versions.get(number=2)
    events = UsageEvent.objects.filter(team=maven)
    assert not events.filter(occurred_at__gte=second.published_at).exclude(route_version=2).exists()
    assert events.filter(occurred_at__lt=second.published_at, route_version=1).exists()


def test_seed_demo_marks_a_publish_and_a_price_change_within_its_days(db):
    _run("seed_demo", "--days", "30")
    maven = Team.objects.get(slug="maven")
    now = timezone.now()
    markers = change_markers(
        maven,
        start=now - timedelta(days=30),
        end=now,
        models_used={("anthropic", "claude-sonnet-4-5")},
        tao_points=[],
    )
    assert {"publish", "team_price"} <= {marker.kind for marker in markers}


def test_seed_demo_gives_each_demo_team_a_budget_and_a_target_share(db):
    _run("seed_demo", "--days", "2")
    _run("seed_demo", "--days", "2")
    assert sorted(Budget.objects.values_list("team__slug", flat=True)) == [
        "atlas",
        "maven",
        "pantheon",
    ]
    maven = Team.objects.get(slug="maven")
    assert (maven.target_share_min, maven.target_share_max) == (55, 70)


def test_seed_demo_adds_the_recommended_alert_rules_once(db):
    _run("seed_demo", "--days", "2")
    _run("seed_demo", "--days", "2")
    maven = Team.objects.get(slug="maven")
    kinds = set(AlertRule.objects.filter(team=maven).values_list("kind", flat=True))
    assert {"budget_threshold", "budget_forecast", "tao_price_spike"} <= kinds
    assert AlertRule.objects.filter(team=maven).count() == len(recommended_rules())


def test_seed_demo_gives_each_demo_team_fake_keys_so_no_rule_warns_of_none(db):
    _run("seed_demo", "--days", "2")
    _run("seed_demo", "--days", "2")
    maven = Team.objects.get(slug="maven")
    labels = set(ProviderKey.objects.filter(team=maven).values_list("label", flat=True))
    assert labels == {"demo key (fake, never sent)"}
    for rule in maven.routing_rules.all():
        check = check_rule(
            team=maven, task_type=rule.task_type, targets=rule.targets, fallbacks=rule.fallbacks
        )
        assert check.warnings == [], rule.task_type


def test_seed_demo_runs_its_splits_as_experiments_with_real_evidence(db):
    _run("seed_demo", "--days", "2")
    maven = Team.objects.get(slug="maven")
    experiments = {e.task_type: e for e in experiments_of(maven)}
    assert experiments.keys() >= {"summarization", "complex_analysis", "code_completion"}
    evidence = experiment_evidence(maven, experiments["summarization"])
    assert all(arm.requests for arm in evidence.arms)
    assert evidence.scored > 0
    assert evidence.unversioned_requests == 0


def test_seed_demo_runs_a_rollout_plan_with_its_gates_on_the_demo_evidence(db):
    _run("seed_demo", "--days", "2")
    plan = RolloutPlan.objects.get(team__slug="maven")
    assert (plan.state, plan.task_type, plan.step) == (RolloutState.RUNNING, "code_completion", 0)
    report = plan_gates(plan, now=timezone.now())
    scored = next(check for check in report.checks if check.name == "Scored calls")
    assert not scored.detail.startswith("0 of")
    _run("seed_demo", "--days", "2")
    assert RolloutPlan.objects.filter(team__slug="maven").count() == 1
