import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from billing.alerts.evaluation import alerts_evaluate
from billing.ingest.store import usage_ingest
from billing.models import Alert, AlertKind
from routing.models import Model, RoutingRule, RoutingVersion
from routing.publish import routing_publish
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
    assert "<code>summarization</code>" in page
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


# --- Scoped to the alert's evidence, built from live -------------------------------------

SONNET_KEY, MINI_KEY = "anthropic/claude-sonnet-4-5", "openai/gpt-5-mini"


def _targets(team, task_type):
    rule = RoutingRule.objects.get(team=team, task_type=task_type)
    names = dict(Model.objects.values_list("pk", "name"))
    return [(names[t["model_id"]], t["weight"]) for t in rule.targets]


def _save(team, user, task_type, targets, fallbacks=()):
    rule_save(
        team=team,
        user=user,
        task_type=task_type,
        targets=[{"model_id": _model(name).pk, "weight": weight} for name, weight in targets],
        fallbacks=[_model(name).pk for name in fallbacks],
        rule=RoutingRule.objects.filter(team=team, task_type=task_type).first(),
    )


@pytest.fixture
def deepseek_failing(team, ops_user, catalog):
    """Live: DeepSeek-V3 at Chutes in two rules, Llama at Chutes in one; 122 of the window's
    125 calls were DeepSeek-V3 in code_completion, and the error alert they raised."""
    deepseek, llama = "deepseek-ai/DeepSeek-V3", "unsloth/Llama-3.3-70B-Instruct"
    _save(team, ops_user, "*", [("claude-sonnet-4-5", 100)])
    _save(team, ops_user, "summarization", [(llama, 100)])
    _save(
        team,
        ops_user,
        "code_completion",
        [(deepseek, 50), ("claude-sonnet-4-5", 25), ("gpt-5-mini", 25)],
        fallbacks=[llama],
    )
    _save(team, ops_user, "extraction", [(deepseek, 100)], fallbacks=["claude-sonnet-4-5"])
    routing_publish(team=team, user=ops_user, comment="Chutes for code")
    failed = {"status": "error", "error_type": "Timeout (504)", "output_tokens": 0}
    calls = [
        canonical_event(
            id=f"c{n}",
            timestamp=(NOW - timedelta(minutes=30)).isoformat(),
            provider="chutes",
            model=deepseek if n < 122 else llama,
            task_type="code_completion" if n < 122 else "summarization",
            **(failed if n % 2 == 0 else {}),
        )
        for n in range(125)
    ]
    usage_ingest(team, calls, now=NOW)
    AlertRuleFactory(team=team, kind=AlertKind.ERROR_RATE, name="Errors")
    alerts_evaluate(now=NOW)
    return Alert.objects.get(team=team, rule__kind=AlertKind.ERROR_RATE)


def test_the_alert_keeps_which_models_and_task_types_the_failing_calls_were(deepseek_failing):
    details = deepseek_failing.details
    assert details["failed_calls"] == {
        "deepseek-ai/DeepSeek-V3": {"code_completion": 61},
        "unsloth/Llama-3.3-70B-Instruct": {"summarization": 2},
    }
    assert details["calls"]["deepseek-ai/DeepSeek-V3"] == {"code_completion": 122}


def test_it_changes_only_the_failing_model_in_the_failing_task_type_s_rule(
    client, ops_user, team, deepseek_failing
):
    client.force_login(ops_user)
    page = client.get(_url(team, deepseek_failing)).content.decode()
    assert "Scoped to <strong>chutes/deepseek-ai/DeepSeek-V3</strong> in code_completion" in page
    assert "61 of the 63 failed calls" in page
    assert client.post(_url(team, deepseek_failing)).status_code == 302
    # The cheaper remaining target takes the weight; extraction and summarization stay.
    assert _targets(team, "code_completion") == [("claude-sonnet-4-5", 25), ("gpt-5-mini", 75)]
    assert _targets(team, "extraction") == [("deepseek-ai/DeepSeek-V3", 100)]
    assert _targets(team, "summarization") == [("unsloth/Llama-3.3-70B-Instruct", 100)]


def test_it_shows_the_monthly_cost_change_against_live(client, ops_user, team, deepseek_failing):
    client.force_login(ops_user)
    page = client.get(_url(team, deepseek_failing)).content.decode()
    assert 'data-testid="cost-change">Monthly cost: $' in page
    assert " live → $" in page
    assert "Live with this change (chosen)" in page


def test_the_user_chooses_where_the_weight_goes(client, ops_user, team, deepseek_failing):
    client.force_login(ops_user)
    preview = client.get(_url(team, deepseek_failing), {"to-code_completion": SONNET_KEY})
    sonnet_row = _diff_row(preview.content.decode(), "claude-sonnet-4-5")
    assert re.search(r'<td class="num">75%</td>', sonnet_row)
    client.post(_url(team, deepseek_failing), {"to-code_completion": SONNET_KEY})
    assert _targets(team, "code_completion") == [("claude-sonnet-4-5", 75), ("gpt-5-mini", 25)]


def test_any_priced_model_may_take_the_weight(client, ops_user, team, deepseek_failing):
    client.force_login(ops_user)
    client.post(_url(team, deepseek_failing), {"to-code_completion": "openai/gpt-5.2"})
    assert _targets(team, "code_completion") == [
        ("claude-sonnet-4-5", 25),
        ("gpt-5-mini", 25),
        ("gpt-5.2", 50),
    ]


def test_an_unknown_destination_is_refused_and_kept(client, ops_user, team, deepseek_failing):
    client.force_login(ops_user)
    response = client.post(_url(team, deepseek_failing), {"to-code_completion": "x/<b>nope"})
    assert response.status_code == 400
    assert "x/&lt;b&gt;nope is not one of the available choices" in response.content.decode()
    assert _targets(team, "code_completion")[0] == ("deepseek-ai/DeepSeek-V3", 50)


def test_it_builds_from_live_and_keeps_the_draft_s_other_edits(
    client, ops_user, team, deepseek_failing
):
    _save(team, ops_user, "summarization", [("gpt-5-mini", 100)])
    client.force_login(ops_user)
    page = client.get(_url(team, deepseek_failing)).content.decode()
    assert "The draft differs from live in other rules" in page
    assert client.post(_url(team, deepseek_failing)).status_code == 302
    assert _targets(team, "code_completion") == [("claude-sonnet-4-5", 25), ("gpt-5-mini", 75)]
    assert _targets(team, "summarization") == [("gpt-5-mini", 100)]


def test_it_refuses_when_the_draft_edited_the_same_rule(client, ops_user, team, deepseek_failing):
    _save(team, ops_user, "code_completion", [("deepseek-ai/DeepSeek-V3", 100)])
    client.force_login(ops_user)
    page = client.get(_url(team, deepseek_failing)).content.decode()
    assert "The draft has unpublished edits to code_completion" in page
    assert "Put this change in the draft" not in page
    assert client.post(_url(team, deepseek_failing)).status_code == 409
    assert _targets(team, "code_completion") == [("deepseek-ai/DeepSeek-V3", 100)]


def test_an_outsider_gets_404(client, outsider, team, deepseek_failing):
    client.force_login(outsider)
    assert client.get(_url(team, deepseek_failing)).status_code == 404


def test_a_finance_member_sees_but_may_not_apply_the_choice(
    client, finance_user, team, deepseek_failing
):
    client.force_login(finance_user)
    page = client.get(_url(team, deepseek_failing), {"to-code_completion": MINI_KEY})
    assert page.status_code == 200 and "Put this change in the draft" not in page.content.decode()
    assert client.post(_url(team, deepseek_failing)).status_code == 403


def test_the_default_skips_a_target_with_an_open_alert_of_its_own(
    client, ops_user, team, deepseek_failing
):
    rule = AlertRuleFactory(team=team, kind=AlertKind.LATENCY_P95, name="Slow")
    Alert.objects.create(
        rule=rule,
        team=team,
        dedupe_key="latency_p95:openai",
        subject="openai slow",
        details={"provider": "openai", "model": ""},
    )
    client.force_login(ops_user)
    client.post(_url(team, deepseek_failing))
    assert _targets(team, "code_completion") == [("claude-sonnet-4-5", 75), ("gpt-5-mini", 25)]


def _diff_row(page, target):
    """The diff table's row of a target."""
    start = page.rindex("<tr", 0, page.index(target, page.index('data-testid="diff-table"')))
    return page[start : page.index("</tr>", start)]
