"""The routing endpoints' real answers match /api/v1/openapi.json."""

import json

from dashboard.tokens import token_create
from tests.factories import ProviderKeyFactory
from tests.openapi_check import assert_matches_openapi


def _get(client, url, token):
    return client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_the_published_routes_match(client, published, routes_token):
    response = _get(client, "/api/v1/routes", routes_token)

    assert response.status_code == 200
    assert_matches_openapi(response, "/api/v1/routes")


def test_nothing_published_matches(client, team, routes_token):
    response = _get(client, "/api/v1/routes", routes_token)

    assert response.status_code == 404
    assert_matches_openapi(response, "/api/v1/routes")


def test_the_keys_match(client, team):
    ProviderKeyFactory(team=team)
    _, token = token_create(team=team, name="keys", scopes=["keys:read"])

    response = _get(client, "/api/v1/keys", token)

    assert response.status_code == 200
    assert_matches_openapi(response, "/api/v1/keys")


def test_a_heartbeat_and_its_refusal_match(client, team, published, routes_token):
    def beat(body):
        return client.post(
            "/api/v1/proxy/heartbeat",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {routes_token}",
        )

    accepted = beat({"instance_id": "p-1", "litellm_version": "1.80.0", "spool_depth": 3})
    refused = beat({"instance_id": "", "spool_depth": -1})

    assert (accepted.status_code, refused.status_code) == (200, 400)
    assert_matches_openapi(accepted, "/api/v1/proxy/heartbeat", "post")
    assert_matches_openapi(refused, "/api/v1/proxy/heartbeat", "post")
