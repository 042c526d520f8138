"""Full-page screenshots of the main pages at a laptop viewport, for docs/screenshots/.

The overview's two are taken by test_overview.py, with a month of demo usage.
"""

import socket
from datetime import UTC, datetime, timedelta
from unittest import mock

import respx
import time_machine
from playwright.sync_api import expect

from billing.catalog import catalog_load
from billing.demo import DemoProfile, demo_tao_prices, demo_usage_seed
from dashboard.invitations import invitation_send
from dashboard.models import Membership, Role
from routing.keys import key_add, key_test
from routing.models import Model, Provider
from routing.publish import routing_publish
from routing.rules import rule_save
from tests.factories import MembershipFactory, TeamFactory, UserFactory

SCREENSHOT_NOW = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)


def test_it_saves_screenshots_of_the_main_pages(page, sign_in, teams, transactional_db, shoot):
    catalog_load()
    maven, rival = teams
    admin = UserFactory(username="ana", email="ana@maven.example")
    MembershipFactory(team=maven, user=admin, role=Role.ADMIN)
    MembershipFactory(team=rival, user=admin, role=Role.FINANCE)
    MembershipFactory(team=TeamFactory(slug="labs", name="Maven Labs"), user=admin, role=Role.OPS)
    for username, role in [("omar", Role.OPS), ("fatima", Role.FINANCE), ("victor", Role.VIEWER)]:
        user = UserFactory(username=username, email=f"{username}@maven.example")
        MembershipFactory(team=maven, user=user, role=role)
    # A fixed "since" date keeps the pictures the same from one run to the next.
    Membership.objects.update(created_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    page.goto("/accounts/login/")
    shoot(page, "login")
    sign_in(admin.username)
    # Pages say how long ago things happened: show them all at one fixed moment.
    with time_machine.travel(SCREENSHOT_NOW + timedelta(hours=2), tick=False):
        expect(page.locator("a.team-card")).to_have_count(3)
        shoot(page, "teams")
        page.goto("/catalog/")
        expect(page.get_by_test_id("catalog-table")).to_be_visible()
        shoot(page, "catalog")
        invitation_send(team=maven, email="Nadia@Maven.example", role=Role.OPS, invited_by=admin)
        page.goto("/t/maven/members/")
        expect(page.locator("main table").first.locator("tbody tr")).to_have_count(4)
        expect(page.get_by_test_id("invitations").locator("tbody tr")).to_have_count(1)
        shoot(page, "members")
        # Two days of demo usage, as seed_demo makes it, for the usage explorer.
        demo_tao_prices(SCREENSHOT_NOW - timedelta(days=3), SCREENSHOT_NOW)
        demo_usage_seed(maven, DemoProfile(120), days=2, now=SCREENSHOT_NOW)
        page.goto("/t/maven/usage/?range=custom&start=2026-11-01&end=2026-11-02")
        expect(page.locator("main tbody tr").first).to_be_visible()
        shoot(page, "usage")
        page.goto("/t/maven/tokens/")
        shoot(page, "tokens")
        # Two provider keys (one tested), and what the audit log made of it.
        public = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))]
        with (
            time_machine.travel(SCREENSHOT_NOW, tick=False),
            respx.mock,
            # The key test checks the provider's address; no real DNS in tests.
            mock.patch("socket.getaddrinfo", return_value=public),
        ):
            respx.get("https://llm.chutes.ai/v1/models").respond(200, json={"data": []})
            key = key_add(
                team=maven,
                provider=Provider.objects.get(slug="chutes"),
                label="prod",
                secret="cpk_demo0000000000000000000000000000ab12",
                user=admin,
            )
            key_test(key=key, user=admin)
            key_add(
                team=maven,
                provider=Provider.objects.get(slug="anthropic"),
                label="prod",
                secret="sk-ant-demo000000000000000000000000000cd34",
                user=admin,
            )
        page.goto("/t/maven/keys/")
        shoot(page, "keys")
        page.goto("/t/maven/audit/")
        shoot(page, "audit")
        # A published 80/20 pilot with a draft change on top, and what it would cost.
        with time_machine.travel(SCREENSHOT_NOW, tick=False):
            llama = Model.objects.get(name="unsloth/Llama-3.3-70B-Instruct")
            sonnet = Model.objects.get(name="claude-sonnet-4-5")
            deepseek = Model.objects.get(name="deepseek-ai/DeepSeek-V3")
            rule_save(
                team=maven,
                user=admin,
                task_type="*",
                targets=[{"model_id": sonnet.pk, "weight": 100}],
                fallbacks=[],
            )
            pilot = rule_save(
                team=maven,
                user=admin,
                task_type="summarization",
                targets=[
                    {"model_id": llama.pk, "weight": 80},
                    {"model_id": sonnet.pk, "weight": 20},
                ],
                fallbacks=[deepseek.pk],
            )
            routing_publish(team=maven, user=admin, comment="Pilot: 80% of summaries to Chutes")
            rule_save(
                team=maven,
                user=admin,
                task_type="summarization",
                rule=pilot,
                targets=[
                    {"model_id": llama.pk, "weight": 90},
                    {"model_id": sonnet.pk, "weight": 10},
                ],
                fallbacks=[deepseek.pk],
            )
        page.goto("/t/maven/routing/")
        # The try-it box suggests a random request id; a fixed one keeps the picture stable.
        page.fill("#try-request", "req-5f3a9c1e")
        shoot(page, "routing")
        with time_machine.travel(SCREENSHOT_NOW + timedelta(hours=1), tick=False):
            page.goto("/t/maven/routing/simulate/?config=draft&window=7")
            shoot(page, "simulate")
