"""Rollout plans in a browser: an ops user starts a plan, publishes its first step through the
Routing publish page, and after the step's evidence passes its gates publishes the second.

The clock runs in real time: each step's evidence counts from the moment its version was
published, so the usage this test ingests is timed between that moment and now.
"""

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from dashboard.models import Role
from routing.models import RoutingVersion
from tests.billing.rollout_setup import (
    DEEPSEEK,
    SONNET,
    routing_publish_all_on_sonnet,
    usage_send,
)


@pytest.fixture
def ops(teams, member_of_both, catalog):
    """An ops member of Maven, whose v1 sends everything to Sonnet, summarization in a rule of
    its own."""
    maven, _ = teams
    user = member_of_both(Role.OPS)
    routing_publish_all_on_sonnet(maven, user)
    return user


def send_scored_usage(team, version_number, count=300):
    """`count` summarization calls on each arm under the version, scored 0.9, none failed,
    spread between the version's publishing and now."""
    start = RoutingVersion.objects.get(team=team, number=version_number).published_at
    between = (start, datetime.now(UTC))
    for ref in (SONNET, DEEPSEEK):
        usage_send(team, count, ref, version=version_number, between=between)


def publish_the_draft(page, live_server, number, comment):
    """From the step-ready notice's link, through the Routing publish page."""
    with page.expect_navigation():
        page.get_by_test_id("step-ready").get_by_role("link", name="publish it").click()
    expect(page).to_have_url(f"{live_server.url}/t/maven/routing/publish/")
    expect(page.get_by_test_id("diff-row")).to_contain_text(["deepseek-ai/DeepSeek-V3"])
    page.get_by_label("Comment").fill(comment)
    # The cost loads by itself; publishing meanwhile would be a second request at once.
    expect(page.get_by_test_id("publish-cost")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name=f"Publish as version {number}").click()
    expect(page).to_have_url(f"{live_server.url}/t/maven/routing/")
    expect(page.locator(".messages")).to_contain_text(f"Published version {number}.")


def check_now(page):
    with page.expect_navigation():
        page.get_by_test_id("check-now").click()
    expect(page.locator(".messages")).to_contain_text("Checked: ")


def test_an_ops_user_creates_a_plan_sees_a_step_become_ready_and_publishes_it(
    page, page_errors, live_server, sign_in, teams, ops
):
    maven, _ = teams
    sign_in(ops.username)

    page.goto("/t/maven/routing/rollouts/")
    expect(page.get_by_test_id("no-plans")).to_contain_text("No rollout plans yet")
    with page.expect_navigation():
        page.get_by_test_id("new-plan").click()
    expect(page).to_have_url(f"{live_server.url}/t/maven/routing/rollouts/new/")

    page.get_by_label("Rule").select_option("summarization")
    page.get_by_label("Candidate target").select_option(DEEPSEEK.label)
    steps = page.get_by_test_id("steps")
    for row, weight in enumerate(["20", "50", "", "", ""]):
        expect(steps.locator(f"[name=steps-{row}-weight]")).to_be_visible()
        steps.locator(f"[name=steps-{row}-weight]").fill(weight)
        steps.locator(f"[name=steps-{row}-min_days]").fill("0")
        steps.locator(f"[name=steps-{row}-min_scored]").fill("50")
    with page.expect_navigation():
        page.get_by_role("button", name="Start the plan").click()

    # The first step waits in the draft for a person to publish it.
    expect(page).to_have_url(re.compile(r"/t/maven/routing/rollouts/#plan-\d+$"))
    expect(page.locator(".messages")).to_contain_text(
        "Plan started: its first step is in the draft"
    )
    plan = page.get_by_test_id("plan")
    expect(plan).to_have_count(1)
    expect(plan.get_by_role("heading", level=2)).to_contain_text(
        "chutes/deepseek-ai/DeepSeek-V3 on summarization"
    )
    expect(plan.get_by_test_id("plan-state")).to_have_text("Step prepared, waiting to be published")
    expect(plan.get_by_test_id("plan-steps").locator("li")).to_have_text(
        [re.compile(r"^20%"), re.compile(r"^50%")]
    )
    expect(plan.get_by_test_id("step-ready")).to_contain_text(
        "Step 1 of 2 (20%) is ready to publish."
    )
    publish_the_draft(page, live_server, 2, "Rollout: DeepSeek at 20% of summarization")

    # Checked after the publish, the step is live and gathers evidence, none of it yet.
    page.goto("/t/maven/routing/rollouts/")
    check_now(page)
    expect(plan.get_by_test_id("plan-state")).to_have_text("Gathering evidence")
    expect(plan.get_by_test_id("step-ready")).to_have_count(0)
    expect(page.locator(".messages")).to_contain_text("Step 1 of 2 (20%) is live in v2")
    gates = plan.get_by_test_id("gates")
    expect(
        plan.get_by_role("heading", name=re.compile(r"^Gates of step 1 of 2 \(20%\)"))
    ).to_be_visible()
    expect(gates.locator("tbody tr td:first-child")).to_have_text(
        ["Days live", "Scored calls", "Quality", "Error rate", "p95 latency"]
    )
    expect(gates.get_by_role("row", name="Scored calls wait 0 of 50 on chutes/")).to_be_visible()

    # Enough good, scored calls on both arms under v2: the gates pass and step 2 is prepared.
    send_scored_usage(maven, 2)
    check_now(page)
    expect(page.locator(".messages")).to_contain_text("Every gate of step 1 of 2 (20%) passed.")
    expect(plan.get_by_test_id("plan-state")).to_have_text("Step prepared, waiting to be published")
    expect(plan.get_by_test_id("step-ready")).to_contain_text(
        re.compile(r"step 2 of 2 \(50%\) is ready to publish", re.IGNORECASE)
    )
    publish_the_draft(page, live_server, 3, "Rollout: DeepSeek at 50% of summarization")

    page.goto("/t/maven/routing/rollouts/")
    check_now(page)
    expect(plan.get_by_test_id("plan-state")).to_have_text("Gathering evidence")
    expect(page.locator(".messages")).to_contain_text("Step 2 of 2 (50%) is live in v3")
    expect(plan.get_by_test_id("plan-steps").locator("li.current")).to_have_text(
        re.compile(r"^50%")
    )
    expect(plan.get_by_test_id("plan-steps").locator("li.done")).to_have_text([re.compile(r"^20%")])
    # Step 2's evidence is its own: none of the calls made at 20% count toward it.
    gates = plan.get_by_test_id("gates")
    expect(gates.get_by_role("row", name=re.compile(r"^Scored calls wait 0 of 50"))).to_be_visible()
    # Newest first: what happened, at which step, under which live version.
    history = plan.get_by_test_id("plan-history").get_by_test_id("plan-event")
    expect(history.locator("td:nth-child(2)")).to_have_text(
        [
            "Step live",
            "Step prepared in the draft",
            "Gates passed",
            "Step live",
            "Step prepared in the draft",
            re.compile(r"^Plan created\s*by ops-user$"),
        ]
    )
    expect(history.locator("td:nth-child(3)")).to_have_text(["2", "2", "1", "1", "1", "1"])
    expect(history.locator("td:nth-child(4)")).to_have_text(["v3", "v2", "v2", "v2", "v1", "v1"])
    expect(history.locator("td:nth-child(5)")).to_have_text(
        [
            re.compile(r"^Step 2 of 2 \(50%\) is live in v3"),
            re.compile(r"^Step 2 of 2 \(50%\) is prepared in the draft"),
            re.compile(r"^Every gate of step 1 of 2 \(20%\) passed\.\s*Days live: pass"),
            re.compile(r"^Step 1 of 2 \(20%\) is live in v2"),
            re.compile(r"^Step 1 of 2 \(20%\) is prepared in the draft"),
            "Plan created: chutes/deepseek-ai/DeepSeek-V3 on summarization at 20% → 50%, "
            "against anthropic/claude-sonnet-4-5.",
        ]
    )
    assert page_errors == []
