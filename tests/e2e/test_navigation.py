"""Signing in, the links each role sees, and switching teams with the team switcher."""

import pytest
from playwright.sync_api import expect

MAINNAV = ["Overview", "Routing", "Keys", "Usage", "Budgets & alerts", "Reports", "Audit"]
ACCOUNT = ["Members", "Proxy tokens", "Settings"]

# role -> (links in nav.mainnav, links in .account), in the order the page shows them.
ALLOWED = {
    "admin": (MAINNAV + ["Catalog"], ACCOUNT),
    "ops": (["Overview", "Routing", "Keys", "Usage", "Budgets & alerts", "Catalog"], ["Members"]),
    "finance": (
        ["Overview", "Routing", "Keys", "Usage", "Budgets & alerts", "Reports", "Catalog"],
        ["Members"],
    ),
    "viewer": (
        ["Overview", "Routing", "Keys", "Usage", "Budgets & alerts", "Reports", "Catalog"],
        ["Members"],
    ),
}


@pytest.mark.parametrize("role", ALLOWED)
def test_it_shows_each_role_its_links_and_switches_teams(page, sign_in, member_of_both, role):
    user = member_of_both(role)
    sign_in(user.username)
    expect(page).to_have_url(f"{page.context.base_url}/" if False else "/", ignore_case=False)
