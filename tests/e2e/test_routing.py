"""The routing page and the rule editor: live weight checks, saving, publishing, and roles."""

import re

import httpx
import pytest
from playwright.sync_api import expect

from billing.catalog import catalog_load
from dashboard.models import Role
from dashboard.tokens import token_create
from routing.models import Model, RoutingRule
from routing.publish import draft_snapshot, routing_publish
from routing.rules import rule_save

WEIGHTS_90 = "Weights add up to 90; they must add up to 100."


@pytest.fixture
def models(transactional_db):
    """The seed catalog; returns the two models the tests route to."""
    catalog_load()
    return {
        "claude": Model.objects.get(provider__slug="anthropic", name="claude-sonnet-4-5"),
        "llama": Model.objects.get(provider__slug="chutes", name="unsloth/Llama-3.3-70B-Instruct"),
    }


def default_rule(team, user, model):
    """The default rule (*), sending all traffic to one model."""
    return rule_save(
        team=team,
        user=user,
        task_type="*",
        targets=[{"model_id": model.pk, "weight": 100}],
        fallbacks=[],
    )


def settle(page, field):
    """Leave the field and wait for the live check its change event sends.

    Saving while a check is in flight sends two requests at once, which the live server's
    in-memory SQLite refuses ("database table is locked") with a 500.
    """
    with page.expect_response(lambda response: response.url.endswith("/check/")):
        field.blur()


def test_an_ops_user_splits_traffic_publishes_and_the_proxy_reads_it(
    page, live_server, sign_in, teams, member_of_both, models
):
    maven, _ = teams
    ops = member_of_both(Role.OPS)
    rule = default_rule(maven, ops, models["claude"])
    _, token = token_create(team=maven, name="proxy", scopes=["routes:read"])
    sign_in(ops.username)

    page.goto("/t/maven/routing/")
    page.get_by_test_id("rule-row").get_by_role("link", name="Edit").click()
    expect(page).to_have_url(f"{live_server.url}/t/maven/routing/rules/{rule.pk}/edit/")
    page.evaluate("window.__marker = 1")
    page.get_by_role("button", name="Add target").click()
    rows = page.get_by_test_id("target-row")
    expect(rows).to_have_count(2)
    rows.nth(0).get_by_label("Weight in %").fill("20")
    rows.nth(1).get_by_label("Target model").select_option(str(models["llama"].pk))
    rows.nth(1).get_by_label("Weight in %").fill("70")

    check = page.get_by_test_id("rule-check")
    expect(check.locator(".errorlist")).to_have_text([WEIGHTS_90])
    assert page.evaluate("window.__marker") == 1, "the live check reloaded the whole page"

    rows.nth(1).get_by_label("Weight in %").fill("80")
    expect(check).not_to_contain_text("Weights add up to")
    expect(check.locator(".errorlist")).to_have_count(0)
    assert page.evaluate("window.__marker") == 1, "the live check reloaded the whole page"
    settle(page, rows.nth(1).get_by_label("Weight in %"))
    with page.expect_navigation():
        page.get_by_role("button", name="Save to the draft").click()

    expect(page).to_have_url(f"{live_server.url}/t/maven/routing/")
    expect(page.locator(".messages")).to_contain_text("Saved the * rule")
    expect(page.get_by_test_id("rule-row").locator(".weight-legend li")).to_have_text(
        ["anthropic/claude-sonnet-4-5 20%", "chutes/unsloth/Llama-3.3-70B-Instruct 80%"]
    )
    publish = page.locator("#publish")
    with page.expect_navigation():
        publish.get_by_role("link", name="Publish as version 1…").click()
    expect(page).to_have_url(f"{live_server.url}/t/maven/routing/publish/")
    expect(page.get_by_test_id("diff-row")).to_have_text(
        [
            re.compile(r"\*\s+rule added\s+anthropic/claude-sonnet-4-5\s+—\s+20%\s+added"),
            re.compile(r"chutes/unsloth/Llama-3.3-70B-Instruct\s+—\s+80%\s+added"),
        ]
    )
    # The cost loads by itself; publishing meanwhile would be a second request at once.
    expect(page.get_by_test_id("publish-cost")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Publish as version 1").click()
    expect(page.get_by_text("the comment is required")).to_be_visible()
    page.get_by_label("Comment").fill("pilot 20% Claude")
    expect(page.get_by_test_id("publish-cost")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Publish as version 1").click()

    expect(page.locator(".messages")).to_contain_text("Published version 1.")
    expect(page.get_by_test_id("published")).to_contain_text("version 1")
    expect(page.get_by_test_id("published")).to_contain_text("“pilot 20% Claude”")
    expect(page.get_by_test_id("unpublished-changes")).to_have_count(0)

    response = page.request.get(
        f"{live_server.url}/api/v1/routes", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200, response.text()
    document = response.json()
    assert document["version"] == 1
    assert document["comment"] == "pilot 20% Claude"
    assert document["rules"] == [
        {
            "task_type": "*",
            "enabled": True,
            "description": "",
            "targets": [
                {
                    "provider": "anthropic",
                    "model": "claude-sonnet-4-5",
                    "weight": 20,
                    "api_base": "https://api.anthropic.com",
                },
                {
                    "provider": "chutes",
                    "model": "unsloth/Llama-3.3-70B-Instruct",
                    "weight": 80,
                    "api_base": "https://llm.chutes.ai/v1",
                },
            ],
            "fallbacks": [],
        }
    ]


def test_saving_weights_that_do_not_add_up_keeps_the_editor_open(
    page, live_server, sign_in, teams, member_of_both, models
):
    maven, _ = teams
    ops = member_of_both(Role.OPS)
    rule = default_rule(maven, ops, models["claude"])
    sign_in(ops.username)
    page.goto(f"/t/maven/routing/rules/{rule.pk}/edit/")

    page.get_by_label("Weight in %").fill("90")
    expect(page.get_by_test_id("rule-check")).to_contain_text(WEIGHTS_90)  # the live check
    settle(page, page.get_by_label("Weight in %"))
    with page.expect_response(
        lambda r: r.request.method == "POST" and "/check/" not in r.url
    ) as saved:
        page.get_by_role("button", name="Save to the draft").click()

    assert saved.value.status == 400
    expect(page).to_have_url(f"{live_server.url}/t/maven/routing/rules/{rule.pk}/edit/")
    expect(page.locator(".form-error")).to_contain_text("Please correct what is marked below.")
    expect(page.get_by_test_id("rule-check")).to_contain_text(WEIGHTS_90)
    expect(page.get_by_text(WEIGHTS_90)).to_have_count(1)
    expect(page.get_by_label("Weight in %")).to_have_value("90")
    rule.refresh_from_db()
    assert rule.targets == [{"model_id": models["claude"].pk, "weight": 100}]


def test_a_viewer_sees_the_rules_without_edit_controls(
    page, sign_in, teams, member_of_both, models
):
    maven, _ = teams
    viewer = member_of_both(Role.VIEWER)
    default_rule(maven, viewer, models["claude"])
    sign_in(viewer.username)

    page.goto("/t/maven/routing/")

    expect(page.get_by_test_id("rule-row")).to_have_count(1)
    expect(page.get_by_test_id("rule-row")).to_contain_text("anthropic/claude-sonnet-4-5 100%")
    expect(page.get_by_role("link", name="Add a rule")).to_have_count(0)
    expect(page.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
    expect(page.locator("#publish")).to_have_count(0)
    expect(page.get_by_role("button", name="Publish as version 1")).to_have_count(0)


@pytest.mark.parametrize("path", ["rules/{pk}/edit/", "rules/new/"])
def test_a_viewer_gets_403_from_the_rule_editor(page, sign_in, teams, member_of_both, models, path):
    maven, _ = teams
    viewer = member_of_both(Role.VIEWER)
    rule = default_rule(maven, viewer, models["claude"])
    sign_in(viewer.username)

    response = page.goto("/t/maven/routing/" + path.format(pk=rule.pk))

    assert response is not None and response.status == 403
    expect(page.get_by_test_id("target-row")).to_have_count(0)


def test_the_routing_page_and_the_rule_editor_log_no_console_errors(
    page, page_errors, sign_in, teams, member_of_both, models
):
    failed = []
    page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
    page.on(
        "response",
        lambda response: (
            failed.append(f"{response.url}: {response.status}") if response.status >= 400 else None
        ),
    )
    maven, _ = teams
    ops = member_of_both(Role.OPS)
    rule = default_rule(maven, ops, models["claude"])
    sign_in(ops.username)

    for path in ["/t/maven/routing/", "/t/maven/routing/rules/new/"]:
        response = page.goto(path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"
    response = page.goto(f"/t/maven/routing/rules/{rule.pk}/edit/")
    assert response is not None and response.ok
    # The htmx parts of the editor: a row added, a model chosen, the live check.
    page.get_by_role("button", name="Add target").click()
    rows = page.get_by_test_id("target-row")
    expect(rows).to_have_count(2)
    with page.expect_response(lambda r: r.url.endswith(f"/rules/{rule.pk}/check/")):
        rows.nth(1).get_by_label("Target model").select_option(str(models["llama"].pk))
    expect(page.get_by_test_id("rule-check")).to_contain_text(
        "Maven has no active Chutes (Bittensor SN64) key"
    )

    assert page_errors == []
    assert failed == []


def test_the_fleet_panel_converges_live_after_a_publish(
    page, live_server, sign_in, teams, member_of_both, models
):
    maven, _ = teams
    viewer = member_of_both(Role.VIEWER)
    default_rule(maven, viewer, models["claude"])
    routing_publish(team=maven, user=None, comment="first")
    default_rule_v2 = RoutingRule.objects.get(team=maven)
    default_rule_v2.targets = [{"model_id": models["llama"].pk, "weight": 100}]
    default_rule_v2.save()
    routing_publish(team=maven, user=None, comment="second")
    _, token = token_create(team=maven, name="proxy", scopes=["routes:read"])
    for name, version in (("proxy-a", 2), ("proxy-b", 1)):
        beat = {"instance_id": name, "host": name, "routing_version": version}
        answer = httpx.post(
            f"{live_server.url}/api/v1/proxy/heartbeat",
            json=beat,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.json() == {"ok": True, "published_version": 2}
    sign_in(viewer.username)

    page.goto("/t/maven/routing/")
    fleet = page.get_by_test_id("fleet")
    expect(fleet.get_by_test_id("fleet-summary")).to_have_text("Converging: 1 of 2 proxies on v2")
    expect(fleet.get_by_test_id("fleet-behind")).to_contain_text("proxy-b on proxy-b is on v1")
    # The lagging proxy applies v2 and says so on its next heartbeat; the panel follows.
    httpx.post(
        f"{live_server.url}/api/v1/proxy/heartbeat",
        json={"instance_id": "proxy-b", "host": "proxy-b", "routing_version": 2},
        headers={"Authorization": f"Bearer {token}"},
    )
    expect(fleet.get_by_test_id("fleet-summary")).to_have_text("All 2 proxies run v2")
    expect(fleet).not_to_have_attribute("hx-trigger", "every 2s")


def test_after_a_rollback_the_draft_is_live_again_and_nothing_waits_to_be_published(
    page, sign_in, teams, member_of_both, models
):
    maven, _ = teams
    ops = member_of_both(Role.OPS)
    rule = default_rule(maven, ops, models["claude"])
    first = routing_publish(team=maven, user=ops, comment="all Claude")
    rule_save(team=maven, user=ops, task_type="*", targets=[{"model_id": models["llama"].pk,
              "weight": 100}], fallbacks=[], rule=rule)  # fmt: skip
    routing_publish(team=maven, user=ops, comment="all Llama")
    sign_in(ops.username)

    page.goto("/t/maven/routing/versions/")
    with page.expect_navigation():
        page.get_by_role("link", name="Roll back to v1…").click()
    expect(page.get_by_test_id("diff-row")).to_have_count(2)
    expect(page.get_by_label("Also reset the draft to these rules")).to_be_checked()
    with page.expect_navigation():
        page.get_by_role("button", name="Roll back to version 1").click()
    expect(page.locator(".messages")).to_contain_text("The draft is those rules too.")

    page.goto("/t/maven/routing/")
    expect(page.get_by_test_id("published")).to_contain_text("The proxy uses version 3")
    expect(page.get_by_test_id("rule-row").locator(".weight-legend li")).to_have_text(
        ["anthropic/claude-sonnet-4-5 100%"]
    )
    expect(page.get_by_test_id("unpublished-changes")).to_have_count(0)
    expect(page.get_by_test_id("nothing-to-publish")).to_contain_text("Nothing to publish")
    assert draft_snapshot(maven) == first.snapshot


def test_an_ops_user_resets_a_draft_change_after_seeing_it_against_live(
    page, sign_in, teams, member_of_both, models
):
    maven, _ = teams
    ops = member_of_both(Role.OPS)
    rule = default_rule(maven, ops, models["claude"])
    routing_publish(team=maven, user=ops, comment="all Claude")
    rule_save(team=maven, user=ops, task_type="*", targets=[{"model_id": models["llama"].pk,
              "weight": 100}], fallbacks=[], rule=rule)  # fmt: skip
    sign_in(ops.username)

    page.goto("/t/maven/routing/")
    changes = page.get_by_test_id("unpublished-changes")
    expect(changes.get_by_test_id("diff-row")).to_have_text(
        [
            re.compile(r"anthropic/claude-sonnet-4-5\s+100%\s+—\s+removed"),
            re.compile(r"chutes/unsloth/Llama-3.3-70B-Instruct\s+—\s+100%\s+added"),
        ]
    )
    expect(page.get_by_test_id("draft-change")).to_have_text("changed, not live")
    with page.expect_navigation():
        changes.get_by_role("link", name="Reset the draft to live…").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Reset the draft to version 1").click()

    expect(page.locator(".messages")).to_contain_text("The draft is version 1 again.")
    expect(page.get_by_test_id("unpublished-changes")).to_have_count(0)
    expect(page.get_by_test_id("rule-row").locator(".weight-legend li")).to_have_text(
        ["anthropic/claude-sonnet-4-5 100%"]
    )


def test_a_bad_weight_is_marked_on_its_row_and_the_total_follows_the_typing(
    page, page_errors, sign_in, teams, member_of_both, models
):
    maven, _ = teams
    ops = member_of_both(Role.OPS)
    rule = default_rule(maven, ops, models["claude"])
    sign_in(ops.username)
    page.goto(f"/t/maven/routing/rules/{rule.pk}/edit/")
    total = page.get_by_test_id("weight-total")
    expect(total).to_have_text("Total: 100%")

    page.get_by_role("button", name="Add target").click()
    rows = page.get_by_test_id("target-row")
    expect(rows).to_have_count(2)
    rows.nth(1).get_by_label("Target model").select_option(str(models["llama"].pk))
    rows.nth(1).get_by_label("Weight in %").fill("150")

    expect(total).to_have_text("Total: 250% of 100%")
    expect(rows.nth(1).locator(".row-errors")).to_have_text(
        ["", "Weights are whole numbers from 0 to 100."]
    )
    expect(rows.nth(1).get_by_label("Weight in %")).to_have_attribute("aria-invalid", "true")
    expect(rows.nth(0).get_by_label("Weight in %")).not_to_have_attribute("aria-invalid", "true")

    rows.nth(0).get_by_label("Weight in %").fill("20")
    rows.nth(1).get_by_label("Weight in %").fill("80")
    expect(total).to_have_text("Total: 100%")
    expect(rows.nth(1).get_by_label("Weight in %")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator(".row-errors li")).to_have_count(0)
    assert page_errors == []
