"""The sign-in form's failures, as a person sees them."""

from playwright.sync_api import expect

from tests.factories import UserFactory


def test_it_keeps_the_username_after_a_wrong_password(page, live_server, sign_in, transactional_db):
    UserFactory(username="maria")

    sign_in("maria", "not her password")

    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    expect(page.locator(".form-error")).to_contain_text(
        "That username and password do not match an account"
    )
    expect(page.locator("#id_username")).to_have_value("maria")
    expect(page.locator("#id_password")).to_have_value("")


def test_it_locks_a_username_out_after_five_failures(page, sign_in, transactional_db):
    UserFactory(username="maria")

    for _ in range(5):
        sign_in("maria", "guess")
        expect(page.locator(".form-error")).to_contain_text("do not match an account")
    sign_in("maria")  # even the right password is refused now

    expect(page.locator(".form-error")).to_contain_text("Too many failed sign-in attempts")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
