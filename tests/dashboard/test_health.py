from unittest import mock

from django.urls import reverse


def test_it_reports_database_and_broker_reachable(client, db):
    with mock.patch("dashboard.views.broker_reachable", return_value=True):
        response = client.get(reverse("api_health"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True, "broker": True}


def test_it_answers_503_when_the_broker_is_down(client, db):
    with mock.patch("dashboard.views.broker_reachable", return_value=False):
        response = client.get(reverse("api_health"))
    assert response.status_code == 503
    assert response.json()["broker"] is False


def test_it_reaches_the_configured_broker(client, db):
    """On the embedded transport locally, on Redis in CI: the real broker must answer."""
    assert client.get(reverse("api_health")).json()["broker"] is True


def test_it_needs_no_sign_in(client, db):
    assert client.get(reverse("api_health")).status_code in (200, 503)
