"""The fleet panel on the Routing page: what each proxy runs, and the convergence after a
publish."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from routing.models import ProxyInstance
from routing.publish import routing_publish
from routing.rules import rule_save

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
ROLES = ["admin", "ops", "finance", "viewer"]


@pytest.fixture
def version(team, admin_user, llama, clock):
    rule = rule_save(
        team=team,
        user=admin_user,
        task_type="*",
        targets=[{"model_id": llama.pk, "weight": 100}],
        fallbacks=[],
    )
    routing_publish(team=team, user=admin_user, comment="first")
    clock.shift(timedelta(minutes=1))
    # An unchanged draft is not published again.
    rule_save(team=team, user=admin_user, task_type="*", targets=rule.targets, fallbacks=[],
              description="second", rule=rule)  # fmt: skip
    return routing_publish(team=team, user=admin_user, comment="second")


def proxy(team, instance_id, *, seen=timedelta(seconds=5), **fields):
    return ProxyInstance.objects.create(
        team=team,
        instance_id=instance_id,
        host=f"host-{instance_id}",
        first_seen_at=NOW - timedelta(hours=1),
        last_seen_at=NOW - seen,
        **fields,
    )


def fragment(client, user, team):
    client.force_login(user)
    return client.get(reverse("routing_fleet", kwargs={"team": team.slug}), HTTP_HX_REQUEST="true")


def test_it_says_when_every_recent_proxy_runs_the_published_version(
    client, team, admin_user, version
):
    for name in ("a", "b", "c"):
        proxy(team, name, routing_version=2)
    page = fragment(client, admin_user, team).content.decode()
    assert "All 3 proxies run v2" in page
    assert "hx-trigger" not in page


def test_it_polls_while_the_fleet_converges_and_names_the_proxy_behind(
    client, team, admin_user, version, clock
):
    proxy(team, "a", routing_version=2)
    proxy(team, "b", routing_version=2)
    proxy(team, "c", routing_version=1)
    clock.shift(timedelta(minutes=4))
    page = fragment(client, admin_user, team).content.decode()
    assert "Converging: 2 of 3 proxies on v2" in page
    assert 'hx-trigger="every 2s"' in page
    assert 'hx-swap="outerHTML"' in page
    assert "c on host-c is on v1, behind since" in page
    assert "(4\xa0minutes)" in page


def test_it_shows_why_a_proxy_could_not_apply_the_version(client, team, admin_user, version):
    proxy(team, "a", routing_version=1, routing_error="unknown provider prefix for chutes")
    page = fragment(client, admin_user, team).content.decode()
    assert "could not apply v2: unknown provider prefix for chutes" in page
    assert "Converging: 0 of 1 proxy on v2" in page


def test_a_proxy_not_seen_for_10_minutes_does_not_hold_up_the_convergence(
    client, team, admin_user, version
):
    proxy(team, "a", routing_version=2)
    proxy(team, "gone", routing_version=1, seen=timedelta(minutes=11))
    page = fragment(client, admin_user, team).content.decode()
    assert "The proxy runs v2" in page
    assert "not seen for 10 min" in page
    assert "hx-trigger" not in page


def test_a_proxy_not_seen_for_a_day_is_not_listed(client, team, admin_user, version):
    proxy(team, "old", routing_version=1, seen=timedelta(hours=25))
    page = fragment(client, admin_user, team).content.decode()
    assert 'data-testid="fleet-empty"' in page


def test_the_empty_panel_says_how_to_connect_a_proxy(client, team, viewer_user, version):
    page = fragment(client, viewer_user, team).content.decode()
    assert "Connect a LiteLLM proxy" in page
    assert "usage:write routes:read keys:read" in page


def test_the_routing_page_shows_the_fleet_near_the_published_version(
    client, team, admin_user, version
):
    proxy(team, "a", routing_version=2, spool_depth=1234, shipped=98765, dead_lettered=3)
    client.force_login(admin_user)
    page = client.get(reverse("routing", kwargs={"team": team.slug})).content.decode()
    assert page.index('data-testid="published"') < page.index('data-testid="fleet"')
    assert "✓ v2" in page
    assert "1,234" in page and "98,765" in page


def test_the_panel_does_not_show_other_teams_proxies(client, team, other_team, admin_user, version):
    proxy(other_team, "theirs", routing_version=7)
    page = fragment(client, admin_user, team).content.decode()
    assert "theirs" not in page


@pytest.mark.parametrize("role", ROLES)
def test_every_member_reads_the_panel(client, team, users_by_role, role, version):
    assert fragment(client, users_by_role[role], team).status_code == 200


def test_an_outsider_gets_404(client, team, outsider, version):
    assert fragment(client, outsider, team).status_code == 404


def test_the_panel_without_htmx_is_the_routing_page(client, team, viewer_user, version):
    client.force_login(viewer_user)
    answer = client.get(reverse("routing_fleet", kwargs={"team": team.slug}))
    assert answer.status_code == 302
    assert answer["Location"] == "/t/maven/routing/#fleet"


def test_the_panel_s_queries_do_not_grow_with_the_fleet(client, team, admin_user, version):
    proxy(team, "a", routing_version=1)
    fragment(client, admin_user, team)
    url = reverse("routing_fleet", kwargs={"team": team.slug})
    with CaptureQueriesContext(connection) as one:
        client.get(url, HTTP_HX_REQUEST="true")
    for name in ("b", "c", "d"):
        proxy(team, name, routing_version=2)
    with CaptureQueriesContext(connection) as four:
        client.get(url, HTTP_HX_REQUEST="true")
    assert len(four) == len(one)
