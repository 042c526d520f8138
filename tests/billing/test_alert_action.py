from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from billing.ingest.store import usage_ingest
from billing.models import Alert, AlertKind
from routing.models import Model, RoutingRule, RoutingVersion
from routing.rules import rule_save
from tests.factories import AlertRuleFactory, canonical_event

NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)


pytestmark = pytest.mark.usefixtures("frozen_now")


def _model(name):
    return Model.objects.get(name=name)


@pytest.fixture
def draft(team, ops_user, catalog):
    sonnet, llama = _model("claude-sonnet-4-5"), _model("unsloth/Llama-3.3-70B-Instruct")
    rule_save(
        team=team,
        user=ops_user,
        task_type="*",
        targets=[{"model_id": sonnet.pk, "weight": 100}],
        fallbacks=[],
    )
    rule_save(
        team=team,
        user=ops_user,
        task_type="summarization",
        targets=[{"model_id": llama.pk, "weight": 80}, {"model_id": sonnet.pk, "weight": 20}],
        fallbacks=[],
    )
    events = [
        canonical_event(id=f"e{n}", timestamp=(NOW - timedelta(hours=n)).isoformat())
        for n in range(5)
    ]
    usage_ingest(team, events, now=NOW)


def _alert(team, kind=AlertKind.ERROR_RATE, **details):
    rule = AlertRuleFactory(team=team, kind=kind, name="Errors")
    return Alert.objects.create(
        rule=rule,
        team=team,
        dedupe_key=f"{kind}:x",
        subject="openai error rate 12.5%",
        details={"provider": "anthropic"} | details,
    )


def _url(team, alert):
    return reverse("alert_routing_change", kwargs={"team": team.slug, "alert_id": alert.pk})


def test_it_shows_the_proposed_change_and_its_projection(client, viewer_user, team, draft):
    client.force_login(viewer_user)
    page = client.get(_url(team, _alert(team))).content.decode()
    assert "move traffic away from anthropic" in page
    assert "~ summarization" in page
    assert "Projected monthly cost" in page
    assert "Put this change in the draft" not in page


def test_ops_put_the_change_in_the_draft_without_publishing(client, ops_user, team, draft):
    client.force_login(ops_user)
    response = client.post(_url(team, _alert(team)))
    assert response.status_code == 302
    assert response["Location"] == reverse("routing", kwargs={"team": team.slug})
    llama = _model("unsloth/Llama-3.3-70B-Instruct")
    rule = RoutingRule.objects.get(team=team, task_type="summarization")
    assert rule.targets == [{"model_id": llama.pk, "weight": 100}]
    assert not RoutingVersion.objects.filter(team=team).exists()


def test_a_viewer_may_not_change_the_draft(client, viewer_user, team, draft):
    client.force_login(viewer_user)
    assert client.post(_url(team, _alert(team))).status_code == 403


def test_another_team_s_alert_is_not_found(client, ops_user, team, other_team, draft):
    client.force_login(ops_user)
    alert = _alert(other_team)
    assert client.get(_url(team, alert)).status_code == 404


def test_it_says_when_the_target_has_nowhere_to_go(client, ops_user, team, draft):
    client.force_login(ops_user)
    alert = _alert(team, model="claude-sonnet-4-5")
    page = client.get(_url(team, alert)).content.decode()
    # "*" routes only to Sonnet with no fallback; summarization can still move.
    assert "Left as they are (no other target or fallback): *." in page


def test_it_has_nothing_to_prepare_for_a_budget_alert(client, ops_user, team, draft):
    client.force_login(ops_user)
    page = client.get(_url(team, _alert(team, kind=AlertKind.BUDGET_FORECAST))).content.decode()
    assert "not about a routing target" in page


def test_a_weight_zero_target_beside_the_affected_one_takes_its_traffic(
    client, ops_user, team, catalog
):
    sonnet, llama = _model("claude-sonnet-4-5"), _model("unsloth/Llama-3.3-70B-Instruct")
    rule_save(
        team=team,
        user=ops_user,
        task_type="*",
        targets=[{"model_id": sonnet.pk, "weight": 100}, {"model_id": llama.pk, "weight": 0}],
        fallbacks=[],
    )
    client.force_login(ops_user)
    alert = _alert(team)
    assert client.get(_url(team, alert)).status_code == 200
    client.post(_url(team, alert))
    rule = RoutingRule.objects.get(team=team, task_type="*")
    assert [(t["model_id"], t["weight"]) for t in rule.targets] == [(llama.pk, 100)]


def test_acknowledging_goes_back_only_to_a_path_on_this_site(client, ops_user, team):
    client.force_login(ops_user)
    alert = _alert(team)
    url = reverse("alert_acknowledge", kwargs={"team": team.slug, "alert_id": alert.pk})
    response = client.post(url, {"next": "alerts"})
    assert response.status_code == 302
    assert response["Location"] == reverse("alerts", kwargs={"team": team.slug})
