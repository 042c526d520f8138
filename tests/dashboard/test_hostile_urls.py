"""Every URL the app serves, walked with hostile path and query values: none answers a 500.

The walk reads the URL patterns at test time, so a page added later is walked too.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django import forms
from django.urls import URLPattern, URLResolver, get_resolver

from billing.catalog import catalog_load
from billing.ingest.store import usage_ingest
from billing.models import Alert, AlertKind, TaoLot, TaoTransfer
from dashboard.models import Role
from dashboard.tokens import token_create
from routing.models import Model
from routing.publish import routing_publish
from routing.rules import rule_save
from tests.factories import (
    AlertRuleFactory,
    BudgetFactory,
    MembershipFactory,
    ProviderKeyFactory,
    canonical_event,
)

NOW = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)

HOSTILE_VALUES = [
    "9999-12-31",
    "0001-01-01",
    "9999-12",
    "0000-00",
    "2026-13",
    "-1",
    "0",
    "99999999999999999999999999",
    "1e400",
    "NaN",
    "\u00e9\u2603\u202e \U0001d54f",
    "\x00",
    "x" * 3000,
    "../../etc/passwd",
    "<script>alert(1)</script>",
]
HOSTILE_IDS = ["0", str(2**31), str(2**63), "9" * 30]
HOSTILE_MONTHS = ["9999-12", "0000-00", "0001-01", "2026-13", "2026-00"]
HOSTILE_SLUGS = ["nope", "x" * 300]
# Ranges and months read from the query string whatever form they belong to.
EXTRA_QUERY_KEYS = ["range", "start", "end", "month", "page", "cursor", "teams", "tab", "next"]
# Spend per end user and per key reads its own, and the usage explorer's form adds two.
EXTRA_QUERY_KEYS += ["first", "last", "q", "limit", "attribute", "end_user", "api_key_alias"]


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if str(pattern.pattern) == "admin/":
                continue  # Django's own admin: staff only, and not ours to walk.
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


URLS = sorted({(route, p.name) for route, p in _walk(get_resolver().url_patterns)})


def _query_keys():
    """Every field name of every form in our apps, plus the few read straight from the URL."""
    import billing.alerts.forms
    import billing.forms
    import billing.forms_budgets
    import billing.reports.forms
    import billing.treasury.forms
    import dashboard.forms
    import routing.forms

    names = set(EXTRA_QUERY_KEYS)
    for module in [
        billing.forms,
        billing.alerts.forms,
        billing.forms_budgets,
        billing.reports.forms,
        billing.treasury.forms,
        dashboard.forms,
        routing.forms,
    ]:
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, forms.BaseForm):
                names.update(getattr(value, "base_fields", {}))
    return sorted(names)


@pytest.fixture
def world(db, team, admin_user, client):
    """A team with one of everything, and its admin (also site staff) signed in."""
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    MembershipFactory(team=team, role=Role.OPS)
    with time_machine.travel(NOW, tick=False):
        catalog_load()
        sonnet = Model.objects.get(name="claude-sonnet-4-5")
        llama = Model.objects.get(name="unsloth/Llama-3.3-70B-Instruct")
        rule = rule_save(
            team=team,
            user=admin_user,
            task_type="*",
            targets=[{"model_id": sonnet.pk, "weight": 100}, {"model_id": llama.pk, "weight": 0}],
            fallbacks=[],
        )
        routing_publish(team=team, user=admin_user, comment="first")
        usage_ingest(
            team,
            [
                canonical_event(id=f"e{n}", timestamp=(NOW - timedelta(hours=n)).isoformat())
                for n in range(3)
            ],
            now=NOW,
        )
        alert_rule = AlertRuleFactory(team=team, kind=AlertKind.ERROR_RATE, name="Errors")
        alert = Alert.objects.create(
            rule=alert_rule,
            team=team,
            dedupe_key="error_rate:x",
            subject="anthropic error rate 12.5%",
            details={"provider": "anthropic"},
        )
        budget = BudgetFactory(team=team, amount_usd=100)
        lot = TaoLot.objects.create(
            team=team, bought_at=NOW - timedelta(days=3), tao=5, usd_paid=2000
        )
        transfer = TaoTransfer.objects.create(team=team, sent_at=NOW - timedelta(days=2), tao=2)
        key = ProviderKeyFactory(team=team)
        token, secret = token_create(
            team=team, name="all", scopes=["usage:write", "routes:read", "keys:read"]
        )
    client.force_login(admin_user)
    # A view that raises must show up as the 500 a user would get, not as a test error.
    client.raise_request_exception = False
    ids = {
        "rule_id": rule.pk,
        "alert_id": alert.pk,
        "budget_id": budget.pk,
        "key_id": key.pk,
        "token_id": token.pk,
        "number": 1,
        "membership_id": admin_user.memberships.first().pk,
        "model_id": sonnet.pk,
        "lot_id": lot.pk,
        "transfer_id": transfer.pk,
    }
    return {"team": team.slug, "ids": ids, "secret": secret, "user": admin_user}


def _path_variants(route, world):
    """The route with each parameter in turn made hostile, the others kept valid."""
    converters = {name: kind for kind, name in re.findall(r"<(\w+):(\w+)>", route)}
    names = re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", route)
    names = [a or b for a, b in names]

    def valid(name):
        if name == "team":
            return world["team"]
        if name == "month":
            return "2026-10"
        if name == "chart":
            return "daily-cost"
        if name == "attribute":
            return "end_user"
        return str(world["ids"].get(name, 1))

    def hostile(name):
        kind = converters.get(name)
        if name == "team":
            return HOSTILE_SLUGS
        if name == "month":
            return HOSTILE_MONTHS
        if kind == "int" or name.endswith("_id"):
            return HOSTILE_IDS
        return [*HOSTILE_SLUGS, "é☃"]

    def fill(values):
        path = route
        for name in names:
            path = re.sub(rf"<(\w+:)?{name}>|\(\?P<{name}>[^)]*\)", values[name], path)
        return "/" + path.replace("^", "").replace("$", "").replace("\\", "")

    base = {name: valid(name) for name in names}
    yield fill(base)
    for name in names:
        for value in hostile(name):
            yield fill(base | {name: value})


def _request(client, world, method, path, data):
    response = getattr(client, method)(path, data, HTTP_AUTHORIZATION=f"Bearer {world['secret']}")
    client.force_login(world["user"])  # in case the walk just signed out
    return response.status_code


@pytest.mark.parametrize(("route", "name"), URLS, ids=[name or route for route, name in URLS])
def test_no_url_answers_a_500_to_hostile_values(client, world, route, name):
    paths = list(_path_variants(route, world))
    keys = _query_keys()
    tries = [(method, path, {}) for path in paths for method in ("get", "post")]
    for value in HOSTILE_VALUES:
        for data in [dict.fromkeys(keys, value), {"range": "custom", "start": value, "end": value}]:
            tries += [("get", paths[0], data), ("post", paths[0], data)]
    with time_machine.travel(NOW, tick=False):
        failures = [
            (method, path[:80], str(data)[:80])
            for method, path, data in tries
            if _request(client, world, method, path, data) >= 500
        ]
    assert not failures, failures[:10]
