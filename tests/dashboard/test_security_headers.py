"""The Content-Security-Policy every page sends, and what caches may keep.

tests/e2e/test_csp.py checks in a browser that the policy refuses nothing the pages need.
"""

import pytest
from django.urls import reverse

from dashboard.tokens import token_create
from routing.publish import routing_publish
from routing.rules import rule_save
from tests.factories import ModelPriceFactory

POLICY = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'", "'unsafe-inline'"},
    "img-src": {"'self'", "data:", "blob:"},
    "connect-src": {"'self'"},
    "font-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "form-action": {"'self'"},
    "frame-ancestors": {"'none'"},
}


def _policy(response):
    directives = (part.split() for part in response["Content-Security-Policy"].split(";"))
    return {name: set(sources) for name, *sources in directives}


def _cache_control(response):
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part}


def _overview(team):
    return reverse("overview", kwargs={"team": team.slug})


def test_it_enforces_the_policy_on_a_signed_in_page(client, viewer_user, team):
    client.force_login(viewer_user)
    response = client.get(_overview(team))
    assert _policy(response) == POLICY
    assert "Content-Security-Policy-Report-Only" not in response


def test_it_enforces_the_policy_on_the_login_page(client, db):
    assert _policy(client.get(reverse("login"))) == POLICY


def test_it_keeps_a_signed_in_page_out_of_every_cache(client, viewer_user, team):
    client.force_login(viewer_user)
    assert {"private", "no-store"} <= _cache_control(client.get(_overview(team)))


def test_it_keeps_an_htmx_fragment_out_of_every_cache(client, viewer_user, team):
    client.force_login(viewer_user)
    response = client.get(_overview(team), {"range": "7d"}, HTTP_HX_REQUEST="true")
    assert {"private", "no-store"} <= _cache_control(response)


def test_it_keeps_a_csv_download_out_of_every_cache(client, finance_user, team):
    client.force_login(finance_user)
    url = reverse("overview_csv", kwargs={"team": team.slug, "chart": "daily-cost"})
    response = client.get(url)
    assert response["Content-Type"].startswith("text/csv")
    assert {"private", "no-store"} <= _cache_control(response)


def test_it_keeps_an_api_answer_out_of_shared_caches(client, team):
    _, token = token_create(team=team, name="proxy", scopes=["usage:write"])
    response = client.post(
        reverse("api_usage"),
        "[]",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200
    assert {"private", "no-store"} <= _cache_control(response)


@pytest.fixture
def published(team, admin_user):
    model = ModelPriceFactory().model
    rule_save(
        team=team,
        user=admin_user,
        task_type="*",
        targets=[{"model_id": model.pk, "weight": 100}],
        fallbacks=[],
    )
    routing_publish(team=team, user=admin_user, comment="first")
    _, token = token_create(team=team, name="proxy", scopes=["routes:read"])
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_the_routes_api_is_private_and_revalidated_with_its_etag(client, published):
    first = client.get(reverse("api_routes"), **published)
    again = client.get(reverse("api_routes"), HTTP_IF_NONE_MATCH=first["ETag"], **published)
    assert _cache_control(first) == {"private", "no-cache"}
    assert (again.status_code, _cache_control(again)) == (304, {"private", "no-cache"})
