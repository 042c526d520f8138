from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.simulate import simulate
from routing.models import Model
from tests.factories import TaoPriceFactory

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _rules(provider, model, task="*"):
    target = {"provider": provider, "model": model, "weight": 100}
    return [{"task_type": task, "enabled": True, "targets": [target], "fallbacks": []}]


LLAMA = _rules("chutes", "unsloth/Llama-3.3-70B-Instruct")
SONNET = _rules("anthropic", "claude-sonnet-4-5")


@pytest.fixture
def traffic(team, catalog, summaries_yesterday):
    team.baseline_model = Model.objects.get(name="claude-sonnet-4-5")
    team.save()
    TaoPriceFactory(at=NOW - timedelta(hours=1), usd=Decimal(400))


def test_it_projects_the_monthly_cost_of_a_config_on_real_traffic(team, traffic):
    result = simulate(team, candidate=LLAMA, published=SONNET, days=30, now=NOW)
    # 100k input at $0.10/M + 50k output at $0.40/M in 30 days.
    assert result.candidate.monthly_usd == Decimal("0.03")
    assert result.published.monthly_usd == Decimal("1.05")
    assert result.baseline.monthly_usd == Decimal("1.05")


def test_it_converts_the_chutes_share_to_tao(team, traffic):
    result = simulate(team, candidate=LLAMA, published=None, days=30, now=NOW)
    assert result.candidate.monthly_tao == Decimal("0.0001")


def test_it_splits_requests_between_providers_by_weight(team, traffic):
    split = [
        {
            "task_type": "*",
            "enabled": True,
            "fallbacks": [],
            "targets": [
                {"provider": "chutes", "model": "unsloth/Llama-3.3-70B-Instruct", "weight": 80},
                {"provider": "anthropic", "model": "claude-sonnet-4-5", "weight": 20},
            ],
        }
    ]
    result = simulate(team, candidate=split, published=None, days=30, now=NOW)
    assert result.candidate.provider_share == {"anthropic": 0.2, "chutes": 0.8}


def test_it_scales_the_real_task_mix_to_the_seed_volumes(team, traffic):
    result = simulate(team, candidate=LLAMA, published=SONNET, days=30, now=NOW)
    hundred = result.scale[0]
    assert hundred["tasks_per_day"] == 100
    assert (hundred["candidate"], hundred["published"]) == (Decimal("0.90"), Decimal("31.50"))


def test_it_names_task_types_no_rule_routes(team, traffic):
    result = simulate(
        team,
        candidate=_rules("chutes", "unsloth/Llama-3.3-70B-Instruct", "x"),
        published=None,
        days=30,
        now=NOW,
    )
    assert result.candidate.unpriced == ["summarization: no rule routes it"]


def test_it_reads_a_fixed_number_of_queries_whatever_the_window(
    team, traffic, django_assert_max_num_queries
):
    simulate(team, candidate=LLAMA, published=SONNET, days=90, now=NOW)
    with django_assert_max_num_queries(4):
        simulate(team, candidate=LLAMA, published=SONNET, days=90, now=NOW)
