"""Experiments: splits found in published versions, each arm's evidence, the pages and CSV."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from billing.experiments.evidence import ArmRef, experiment_evidence, experiments_of
from billing.ingest.store import usage_ingest
from routing.confidence import Verdict
from routing.models import Model, RoutingVersion
from tests.factories import canonical_event

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
SONNET = {"provider": "anthropic", "model": "claude-sonnet-4-5"}
DEEPSEEK = {"provider": "chutes", "model": "deepseek-ai/DeepSeek-V3"}
MINI = {"provider": "openai", "model": "gpt-5-mini"}


def _rule(task_type, *targets, weights=None):
    weights = weights or [100 // len(targets)] * len(targets)
    return {
        "task_type": task_type,
        "enabled": True,
        "description": "",
        "targets": [t | {"weight": w} for t, w in zip(targets, weights, strict=True)],
        "fallbacks": [],
    }


def _version(team, number, rules, at):
    return RoutingVersion.objects.create(team=team, number=number, snapshot=rules, published_at=at)


def _send(team, count, target, *, version, task="summarization", quality=None, errors=0, at=None):
    at = at or NOW - timedelta(hours=2)
    events = [
        canonical_event(
            id=f"{target['model']}-{version}-{task}-{n}-{quality}",
            timestamp=(at + timedelta(seconds=n)).isoformat(),
            provider=target["provider"],
            model=target["model"],
            task_type=task,
            route_version=version,
            status="error" if n < errors else "success",
            quality_score=quality,
        )
        for n in range(count)
    ]
    result = usage_ingest(team, events, now=NOW)
    assert result.accepted == count, result.rejected[:1]


@pytest.fixture
def split(team, catalog, clock):
    """v1 splits summarization 80/20 between Sonnet and DeepSeek; v2 moves it to 50/50."""
    rules = [_rule("*", SONNET), _rule("summarization", SONNET, DEEPSEEK, weights=[80, 20])]
    _version(team, 1, rules, NOW - timedelta(days=3))
    rules = [_rule("*", SONNET), _rule("summarization", SONNET, DEEPSEEK, weights=[50, 50])]
    _version(team, 2, rules, NOW - timedelta(days=1))
    return team


def test_a_split_kept_over_versions_is_one_experiment_with_the_latest_weights(split):
    (experiment,) = experiments_of(split)
    assert experiment.task_type == "summarization"
    assert experiment.version_numbers == [1, 2]
    assert experiment.is_live
    assert experiment.weights == {ArmRef(**SONNET): 50, ArmRef(**DEEPSEEK): 50}


def test_a_split_ends_when_a_version_drops_it(split):
    _version(split, 3, [_rule("*", SONNET)], NOW)
    (experiment,) = experiments_of(split)
    assert experiment.ended_at == NOW
    assert experiment.version_numbers == [1, 2]


def test_a_rule_with_one_target_is_no_experiment(team, catalog, clock):
    _version(team, 1, [_rule("*", SONNET), _rule("extraction", MINI)], NOW)
    assert experiments_of(team) == []


def test_each_arm_counts_its_requests_errors_and_quality(split):
    _send(split, 40, SONNET, version=1, quality=0.9, errors=4)
    _send(split, 30, DEEPSEEK, version=2, quality=0.8)
    evidence = experiment_evidence(split, experiments_of(split)[0])
    arms = {arm.ref: arm for arm in evidence.arms}
    sonnet, deepseek = arms[ArmRef(**SONNET)], arms[ArmRef(**DEEPSEEK)]
    assert (sonnet.requests, sonnet.errors, sonnet.quality.count) == (40, 4, 40)
    assert sonnet.error_rate == pytest.approx(0.1)
    assert deepseek.quality_mean == pytest.approx(0.8)
    assert deepseek.cost_per_call < sonnet.cost_per_call
    assert deepseek.p95.low_ms < 1800 <= deepseek.p95.high_ms


def test_calls_without_a_route_version_or_to_other_models_are_in_no_arm(split):
    _send(split, 5, SONNET, version=None)
    _send(split, 3, MINI, version=2)  # a fallback
    _send(split, 7, SONNET, version=2, task="extraction")  # routed by the default rule
    evidence = experiment_evidence(split, experiments_of(split)[0])
    assert sum(arm.requests for arm in evidence.arms) == 0
    assert (evidence.unversioned_requests, evidence.other_requests) == (5, 3)


def test_the_default_rule_leaves_out_task_types_other_rules_route(team, catalog, clock):
    _version(team, 1, [_rule("*", SONNET, DEEPSEEK), _rule("extraction", MINI)], NOW - timedelta(1))
    _send(team, 6, DEEPSEEK, version=1, task="chat")
    _send(team, 4, DEEPSEEK, version=1, task="extraction")
    evidence = experiment_evidence(team, experiments_of(team)[0])
    assert sum(arm.requests for arm in evidence.arms) == 6


def test_the_control_is_the_most_expensive_target_unless_chosen(split):
    experiment = experiments_of(split)[0]
    assert experiment_evidence(split, experiment).control.ref == ArmRef(**SONNET)
    chosen = experiment_evidence(split, experiment, control=ArmRef(**DEEPSEEK))
    assert chosen.control.ref == ArmRef(**DEEPSEEK)
    assert [c.arm.ref for c in chosen.comparisons] == [ArmRef(**SONNET)]


def test_a_clearly_worse_candidate_is_called_worse(split):
    _send(split, 300, SONNET, version=2, quality=0.9)
    _send(split, 300, DEEPSEEK, version=2, quality=0.5)
    (comparison,) = experiment_evidence(split, experiments_of(split)[0]).comparisons
    assert comparison.verdict is Verdict.WORSE


def test_too_few_scored_calls_say_how_many_more_are_needed(split):
    _send(split, 40, SONNET, version=2, quality=0.9)
    _send(split, 10, DEEPSEEK, version=2, quality=0.9)
    (comparison,) = experiment_evidence(split, experiments_of(split)[0]).comparisons
    assert comparison.verdict is Verdict.NOT_ENOUGH_DATA
    assert comparison.scored_needed == 20
    assert comparison.days_needed == pytest.approx(20 / (50 / 3))  # 50 scored over 3 days


def test_a_window_keeps_only_its_hours(split):
    _send(split, 30, SONNET, version=1, at=NOW - timedelta(days=2))
    _send(split, 20, SONNET, version=2, at=NOW - timedelta(hours=3))
    evidence = experiment_evidence(split, experiments_of(split)[0], start=NOW - timedelta(days=1))
    assert sum(arm.requests for arm in evidence.arms) == 20


def test_the_experiments_page_lists_the_split_for_a_viewer(client, split, viewer_user):
    client.force_login(viewer_user)
    response = client.get(f"/t/{split.slug}/routing/experiments/")
    assert response.status_code == 200
    assert b'data-testid="experiment-row"' in response.content
    assert b"chutes/deepseek-ai/DeepSeek-V3" in response.content


def test_the_experiments_page_says_how_to_start_one(client, team, catalog, viewer_user):
    client.force_login(viewer_user)
    response = client.get(f"/t/{team.slug}/routing/experiments/")
    assert b'data-testid="no-experiments"' in response.content


def test_an_outsider_gets_404(client, split, outsider):
    client.force_login(outsider)
    assert client.get(f"/t/{split.slug}/routing/experiments/").status_code == 404
    assert (
        client.get(f"/t/{split.slug}/routing/experiments/v1/?task=summarization").status_code == 404
    )


def test_an_unknown_experiment_is_404(client, split, viewer_user):
    client.force_login(viewer_user)
    assert (
        client.get(f"/t/{split.slug}/routing/experiments/v2/?task=summarization").status_code == 404
    )


def test_the_detail_page_shows_each_arm_and_the_verdict(client, split, viewer_user):
    _send(split, 300, SONNET, version=2, quality=0.9)
    _send(split, 300, DEEPSEEK, version=2, quality=0.5)
    client.force_login(viewer_user)
    response = client.get(f"/t/{split.slug}/routing/experiments/v1/?task=summarization")
    assert response.content.count(b'data-testid="arm-row"') == 2
    assert b">worse</span>" in response.content


def test_a_window_ending_before_it_starts_is_refused_and_kept(client, split, viewer_user):
    client.force_login(viewer_user)
    response = client.get(
        f"/t/{split.slug}/routing/experiments/v1/",
        {"task": "summarization", "start": "2026-11-19", "end": "2026-11-18"},
    )
    assert response.status_code == 400
    assert b"start comes after its end" in response.content
    assert b'value="2026-11-19"' in response.content


def test_the_csv_holds_a_row_an_arm_control_first(client, split, viewer_user):
    _send(split, 300, SONNET, version=2, quality=0.9)
    _send(split, 300, DEEPSEEK, version=2, quality=0.5)
    client.force_login(viewer_user)
    response = client.get(f"/t/{split.slug}/routing/experiments/v1.csv?task=summarization")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["arm"], r["role"]) for r in rows] == [
        ("anthropic/claude-sonnet-4-5", "control"),
        ("chutes/deepseek-ai/DeepSeek-V3", "candidate"),
    ]
    assert rows[1]["verdict"] == "worse"
    assert rows[0]["calls_without_route_version"] == "0"
    assert float(rows[1]["quality_difference"]) == pytest.approx(-0.4)


def test_a_task_type_that_looks_like_a_formula_is_text_in_the_csv(
    client, team, catalog, clock, viewer_user
):
    _version(team, 1, [_rule("*", SONNET), _rule("=HYPERLINK(1)", SONNET, DEEPSEEK)], NOW)
    client.force_login(viewer_user)
    response = client.get(f"/t/{team.slug}/routing/experiments/v1.csv", {"task": "=HYPERLINK(1)"})
    body = b"".join(response.streaming_content).decode()
    assert "'=HYPERLINK(1)" in body


def test_the_page_shows_the_share_on_the_target_provider(client, split, viewer_user):
    split.target_share_min, split.target_share_max = 60, 70
    split.save()
    _send(split, 30, SONNET, version=2)
    _send(split, 10, DEEPSEEK, version=2)
    client.force_login(viewer_user)
    response = client.get(f"/t/{split.slug}/routing/experiments/")
    assert b"25.0%" in response.content
    assert b"outside the band" in response.content


def test_the_page_shows_what_the_published_routing_saves_against_the_baseline(
    client, split, viewer_user
):
    split.baseline_model = Model.objects.get(provider__slug="anthropic", name="claude-sonnet-4-5")
    split.save()
    _send(split, 40, SONNET, version=2)
    client.force_login(viewer_user)
    response = client.get(f"/t/{split.slug}/routing/experiments/")
    current = response.content.split(b'data-testid="current-cost"')[1].split(b"</dd>")[0]
    assert b"saves $" in current


def test_an_admin_is_offered_to_set_the_target_band(client, split, admin_user):
    client.force_login(admin_user)
    response = client.get(f"/t/{split.slug}/routing/experiments/")
    assert f'(<a href="/t/{split.slug}/settings/">set one</a>)'.encode() in response.content
