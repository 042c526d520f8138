import re

from django.core import mail
from playwright.sync_api import expect

from dashboard.models import Membership, Role

LINK = re.compile(r"/invitations/[A-Za-z0-9_-]+/")


def test_an_admin_invites_someone_who_creates_an_account_and_joins(
    page, page_errors, sign_in, teams, member_of_both
):
    maven, _ = teams
    sign_in(member_of_both(Role.ADMIN).username)
    page.goto("/t/maven/members/")
    page.get_by_label("Email address").fill("newcomer@example.com")
    page.locator("#id_role").select_option("finance")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_contain_text("Invitation sent to newcomer@example.com.")
    expect(page.get_by_test_id("invitations")).to_contain_text("newcomer@example.com")

    page.get_by_role("button", name="Sign out").click()
    page.goto(LINK.search(mail.outbox[-1].body).group(0))
    expect(page.locator("h1")).to_have_text("Join Maven")
    page.locator("#id_username").fill("newcomer")
    page.locator("#id_password1").fill("a long and unusual passphrase 42")
    page.locator("#id_password2").fill("a long and unusual passphrase 42")
    page.get_by_role("button", name="Create the account and join").click()
    expect(page.get_by_role("status")).to_contain_text("Welcome to Maven: you joined as Finance.")
    assert Membership.objects.get(team=maven, user__username="newcomer").role == Role.FINANCE
    assert page_errors == []
