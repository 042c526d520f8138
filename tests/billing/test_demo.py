from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from billing.demo import DemoProfile, demo_tao_prices, demo_usage_seed
from billing.models import TaoPrice, UsageEvent, UsageRollup

NOW = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


@pytest.fixture
def demo_week(team, catalog):
    demo_tao_prices(NOW - timedelta(days=8), NOW)
    demo_usage_seed(team, DemoProfile(300), days=7, now=NOW)
    return UsageEvent.objects.filter(team=team)


def test_demo_usage_is_marked_as_demo(demo_week):
    assert all(e.metadata.get("demo") for e in demo_week.only("metadata"))
    assert not demo_week.exclude(event_id__startswith="demo-").exists()


def test_demo_weekdays_hold_100_to_500_tasks_and_weekends_fewer(team, demo_week):
    per_day = Counter(e.occurred_at.astimezone(team.zone).date() for e in demo_week)
    weekdays = [n for day, n in per_day.items() if day.weekday() < 5 and day != NOW.date()]
    weekends = [n for day, n in per_day.items() if day.weekday() >= 5]
    assert all(100 <= n <= 500 for n in weekdays)
    assert max(weekends) < min(weekdays)


def test_demo_sends_most_requests_to_chutes(demo_week):
    share = demo_week.filter(provider_name="chutes").count() / demo_week.count()
    assert 0.5 <= share <= 0.75


def test_demo_averages_about_5k_input_and_2k_output_tokens(demo_week):
    successes = [e for e in demo_week if e.status == "success"]
    mean_in = sum(e.input_tokens for e in successes) / len(successes)
    mean_out = sum(e.output_tokens for e in successes) / len(successes)
    assert 4_000 <= mean_in <= 6_000
    assert 1_500 <= mean_out <= 2_500


def test_demo_has_errors_quality_scores_and_anthropic_cache_hits(demo_week):
    assert demo_week.filter(status="error").exists()
    assert demo_week.filter(quality_score__isnull=False).exists()
    assert demo_week.filter(provider_name="anthropic", cached_input_tokens__gt=0).exists()


def test_demo_chutes_usage_is_converted_to_tao(demo_week):
    chutes = demo_week.filter(provider_name="chutes", cost_usd__isnull=False)
    assert chutes.exists()
    assert not chutes.filter(tao_amount__isnull=True).exists()


def test_demo_tao_prices_have_a_spike_of_more_than_10_percent_in_an_hour(catalog):
    demo_tao_prices(NOW - timedelta(days=14), NOW)
    prices = list(TaoPrice.objects.order_by("at").values_list("usd", flat=True))
    jumps = [later / earlier for earlier, later in zip(prices, prices[4:], strict=False)]
    assert max(jumps) > 1.1


def test_seeding_again_adds_nothing_and_keeps_the_rollups(team, demo_week):
    rollups = list(UsageRollup.objects.order_by("id").values())
    assert demo_usage_seed(team, DemoProfile(300), days=7, now=NOW) == 0
    assert list(UsageRollup.objects.order_by("id").values()) == rollups


def test_seeding_later_tops_up_the_days_since(team, demo_week):
    before = demo_week.count()
    added = demo_usage_seed(team, DemoProfile(300), days=7, now=NOW + timedelta(days=1))
    assert added > 0
    assert demo_week.count() == before + added
