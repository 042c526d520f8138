"""The usage explorer's end user and API key alias (issue 21, point 5): filters that match them
exactly, both on a call's detail, and both as columns of the CSV."""

import csv
import io
import re

import pytest
from django.urls import reverse

from billing.ingest.store import usage_ingest
from billing.models import UsageEvent
from tests.conftest import NOW
from tests.factories import canonical_event

pytestmark = pytest.mark.usefixtures("frozen_now")


def _ingest(team, *events):
    assert usage_ingest(team, list(events), now=NOW).rejected == []


def _shown(client, team, **params) -> list[str]:
    """The proxy's ids of the calls the explorer lists, by their detail links' order."""
    response = client.get(reverse("usage", kwargs={"team": team.slug}), params)
    assert response.status_code == 200
    pks = [int(pk) for pk in re.findall(r'<tr data-event="(\d+)"', response.content.decode())]
    ids = dict(UsageEvent.objects.filter(pk__in=pks).values_list("pk", "event_id"))
    return sorted(ids[pk] for pk in pks)


def _csv(client, team, **params) -> list[dict]:
    response = client.get(reverse("usage_csv", kwargs={"team": team.slug}), params)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def _detail(client, team, event_id) -> str:
    pk = UsageEvent.objects.get(event_id=event_id).pk
    url = reverse("usage_event", kwargs={"team": team.slug, "event_pk": pk})
    return client.get(url).content.decode()


@pytest.fixture
def calls(team):
    _ingest(
        team,
        canonical_event(id="ana-web", end_user="ana", api_key_alias="web"),
        canonical_event(id="ana-batch", end_user="ana", api_key_alias="batch"),
        canonical_event(id="anabel", end_user="anabel", api_key_alias="web"),
        canonical_event(id="nobody"),
    )


def test_the_end_user_filter_matches_exactly(client, viewer_user, team, calls):
    client.force_login(viewer_user)
    assert _shown(client, team, end_user="ana") == ["ana-batch", "ana-web"]


def test_the_key_alias_filter_matches_exactly(client, viewer_user, team, calls):
    client.force_login(viewer_user)
    assert _shown(client, team, api_key_alias="web") == ["ana-web", "anabel"]


def test_both_filters_narrow_together(client, viewer_user, team, calls):
    client.force_login(viewer_user)
    assert _shown(client, team, end_user="ana", api_key_alias="web") == ["ana-web"]


def test_the_filter_inputs_keep_what_was_asked(client, viewer_user, team, calls):
    client.force_login(viewer_user)
    page = client.get(reverse("usage", kwargs={"team": team.slug}), {"end_user": '"><b>x'})
    assert 'name="end_user" value="&quot;&gt;&lt;b&gt;x"' in page.content.decode()


def test_a_value_longer_than_any_call_carries_is_refused(client, viewer_user, team, calls):
    client.force_login(viewer_user)
    response = client.get(reverse("usage", kwargs={"team": team.slug}), {"end_user": "x" * 201})
    assert response.status_code == 400
    assert "End user: At most 200 characters" in response.content.decode()


def test_the_detail_shows_the_end_user_and_the_key_alias(client, viewer_user, team, calls):
    client.force_login(viewer_user)
    page = _detail(client, team, "ana-web")
    assert re.search(r'data-testid="event-end-user">ana <a', page)
    assert re.search(r'data-testid="event-api-key-alias">web <a', page)
    assert "?range=30d&amp;end_user=ana" in page


def test_the_detail_says_when_none_was_sent(client, viewer_user, team, calls):
    client.force_login(viewer_user)
    page = _detail(client, team, "nobody")
    assert 'data-testid="event-end-user"><span class="muted">not sent</span>' in page


def test_the_detail_escapes_a_hostile_end_user(client, viewer_user, team):
    _ingest(team, canonical_event(id="evil", end_user="<img src=x onerror=alert(1)>"))
    client.force_login(viewer_user)
    page = _detail(client, team, "evil")
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_csv_has_both_columns(client, viewer_user, team, calls):
    client.force_login(viewer_user)
    rows = {row["event_id"]: (row["end_user"], row["api_key_alias"]) for row in _csv(client, team)}
    assert rows == {
        "ana-web": ("ana", "web"),
        "ana-batch": ("ana", "batch"),
        "anabel": ("anabel", "web"),
        "nobody": ("", ""),
    }


def test_the_csv_follows_the_filters(client, viewer_user, team, calls):
    client.force_login(viewer_user)
    assert [row["event_id"] for row in _csv(client, team, api_key_alias="batch")] == ["ana-batch"]


def test_the_csv_makes_both_safe_for_spreadsheets(client, viewer_user, team):
    _ingest(team, canonical_event(end_user="=HYPERLINK(1)", api_key_alias="@SUM(A1)"))
    client.force_login(viewer_user)
    [row] = _csv(client, team)
    assert (row["end_user"], row["api_key_alias"]) == ("'=HYPERLINK(1)", "'@SUM(A1)")
