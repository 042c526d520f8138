"""Signing in, the links each role sees, and switching teams with the team switcher."""

import pytest
from playwright.sync_api import expect

TEAM_LINKS = ["Overview", "Routing", "Keys", "Usage", "Budgets & alerts"]

# role -> (links in nav.mainnav, links in .account), in the order the page shows them.
ALLOWED = {
    "admin": (
        [*TEAM_LINKS, "Reports", "Treasury", "Audit", "Catalog"],
        ["Members", "Proxy tokens", "Team prices", "Settings", "Currency", "Notifications"],
    ),
    "ops": (
        [*TEAM_LINKS, "Reports", "Treasury", "Catalog"],
        ["Members", "Team prices", "Currency", "Notifications"],
    ),
    "finance": (
        [*TEAM_LINKS, "Reports", "Treasury", "Catalog"],
        ["Members", "Team prices", "Currency", "Notifications"],
    ),
    "viewer": (
        [*TEAM_LINKS, "Reports", "Treasury", "Catalog"],
        ["Members", "Team prices", "Currency", "Notifications"],
    ),
}
EVERY_LINK = set(ALLOWED["admin"][0] + ALLOWED["admin"][1])


@pytest.mark.parametrize("role", ALLOWED)
def test_it_shows_each_role_its_links_and_switches_teams(
    page, live_server, sign_in, member_of_both, role
):
    sign_in(member_of_both(role).username)
    expect(page).to_have_url(f"{live_server.url}/")

    page.locator("a.team-card", has_text="Maven").click()
    expect(page).to_have_url(f"{live_server.url}/t/maven/")
    mainnav_links, account_links = ALLOWED[role]
    header = page.locator("header.topbar")
    expect(header.locator("nav.mainnav a")).to_have_text(mainnav_links)
    expect(header.locator(".account a")).to_have_text(account_links)
    for label in EVERY_LINK - set(mainnav_links + account_links):
        expect(header.get_by_role("link", name=label, exact=True)).to_have_count(0)

    switcher = page.get_by_test_id("team-switcher")
    expect(switcher.locator("summary")).to_contain_text("Maven")
    switcher.locator("summary").click()
    switcher.get_by_role("link", name="Rival").click()
    expect(page).to_have_url(f"{live_server.url}/t/rival/")
    expect(page.get_by_test_id("team-switcher").locator("summary")).to_contain_text("Rival")
    expect(page.get_by_role("heading", level=1)).to_have_text("Rival")
