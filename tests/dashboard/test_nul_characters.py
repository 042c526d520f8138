"""A NUL character anywhere a member can type answers 400: PostgreSQL refuses it in text."""

import pytest
from django.urls import reverse

NUL_REFUSED = "The request holds a NUL character"


@pytest.fixture
def signed_in(client, viewer_user):
    client.force_login(viewer_user)
    return client


def test_a_nul_in_the_query_string_answers_400(signed_in, team):
    response = signed_in.get(reverse("usage", kwargs={"team": team.slug}), {"model": "a\x00b"})
    assert response.status_code == 400
    assert NUL_REFUSED in response.content.decode()


def test_a_nul_in_a_query_key_answers_400(signed_in, team):
    response = signed_in.get(reverse("overview", kwargs={"team": team.slug}) + "?a%00=1")
    assert response.status_code == 400


def test_a_nul_in_a_posted_form_answers_400(client, admin_user, team):
    client.force_login(admin_user)
    url = reverse("team_settings", kwargs={"team": team.slug})
    response = client.post(url, {"name": "Ma\x00ven", "time_zone": "UTC"})
    assert response.status_code == 400
    team.refresh_from_db()
    assert team.name == "Maven"


def test_the_api_reads_its_own_body(client, team):
    # The usage API is not a form: its JSON is checked item by item, not here.
    response = client.post(
        reverse("api_usage"), "not json \x00", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 401


def test_pages_without_nul_are_served(signed_in, team):
    page = signed_in.get(reverse("overview", kwargs={"team": team.slug}), {"by": "model"})
    assert page.status_code == 200
