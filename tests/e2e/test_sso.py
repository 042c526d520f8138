"""Single sign-on in the browser: the button, the provider's round trip, the team a group
claim grants, and a refusal said on the sign-in page."""

import pytest
from playwright.sync_api import expect

from tests.oidc_provider import provider_in_use


@pytest.fixture
def provider(settings, teams):
    roles = [("llm-finance", "maven", "finance")]
    mapped = {"OIDC_PROVIDER_NAME": "Acme SSO", "OIDC_GROUP_ROLES": roles}
    with provider_in_use(settings, **mapped) as provider:
        yield provider


def test_a_new_person_signs_in_with_sso_and_lands_in_their_groups_team(page, provider):
    provider.sign_in_as("ana@acme.test", groups=["llm-finance"])

    page.goto("/")
    page.get_by_role("link", name="Sign in with Acme SSO").click()

    expect(page).to_have_url("/")  # their teams
    page.get_by_role("link", name="Maven").first.click()
    expect(page.locator("body")).to_contain_text("Maven")
    expect(page.locator("header")).to_contain_text("ana@acme.test")


def test_a_refused_sign_in_is_said_on_the_sign_in_page(page, provider, settings):
    settings.OIDC_ALLOWED_EMAIL_DOMAINS = ["acme.test"]
    provider.sign_in_as("mallory@evil.test")

    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Acme SSO").click()

    expect(page.locator(".messages")).to_contain_text(
        "Addresses at evil.test may not sign in here."
    )
    expect(page.get_by_role("link", name="Sign in with Acme SSO")).to_be_visible()
