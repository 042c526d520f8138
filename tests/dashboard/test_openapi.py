"""/api/v1/openapi.json: a valid OpenAPI 3.1 document naming every /api/v1/ endpoint, and the
ingest and health endpoints' real answers match it (the others: next to their own tests)."""

import json

from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

from dashboard.tokens import token_create
from tests.factories import canonical_event
from tests.openapi_check import DOCUMENT, assert_matches_openapi

URL = "/api/v1/openapi.json"


def _routes(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield "/" + route


def test_it_is_a_valid_openapi_document(client, db):
    response = client.get(URL)

    assert response.status_code == 200
    validate(response.json())


def test_it_describes_every_api_v1_endpoint_and_nothing_else():
    served = {route for route in _routes(get_resolver().url_patterns) if "api/v1/" in route}

    described = {path for path in DOCUMENT["paths"] if path.startswith("/api/v1/")}
    assert described == served


def test_it_names_this_site_as_the_server(client, settings, db):
    settings.SITE_URL = "https://spend.example.com"

    assert client.get(URL).json()["servers"] == [{"url": "https://spend.example.com"}]


def test_a_usage_answer_with_a_rejection_matches(client, team):
    _, token = token_create(team=team, name="proxy", scopes=["usage:write"])
    batch = [canonical_event(id="ok"), canonical_event(id="bad", input_tokens=-1), "not an event"]

    response = client.post(
        "/api/v1/usage",
        data=json.dumps(batch),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert response.json()["accepted"] == 1
    assert_matches_openapi(response, "/api/v1/usage", "post")


def test_a_scores_answer_matches(client, team):
    _, token = token_create(team=team, name="proxy", scopes=["usage:write"])

    response = client.post(
        "/api/v1/scores",
        data=json.dumps([{"event_id": "nope", "score": 0.5}]),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert response.status_code == 200
    assert_matches_openapi(response, "/api/v1/scores", "post")


def test_an_unauthenticated_usage_post_matches(client, db):
    response = client.post("/api/v1/usage", data="[]", content_type="application/json")

    assert response.status_code == 401
    assert_matches_openapi(response, "/api/v1/usage", "post")


def test_the_health_answer_matches(client, db):
    response = client.get("/api/v1/health")

    assert_matches_openapi(response, "/api/v1/health")
