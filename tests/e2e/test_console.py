"""The main pages load without JavaScript errors, failed requests or error statuses."""

from tests.factories import MembershipFactory

MAIN_PAGES = [
    "/",
    "/t/maven/",
    "/t/maven/routing/",
    "/t/maven/keys/",
    "/t/maven/usage/",
    "/t/maven/budgets/",
    "/t/maven/reports/",
    "/t/maven/audit/",
    "/t/maven/members/",
    "/t/maven/tokens/",
    "/t/maven/settings/",
    "/catalog/",
]


def test_it_logs_no_console_errors_on_the_main_pages(
    page, page_errors, sign_in, teams, member_of_both
):
    failed = []
    page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
    page.on(
        "response",
        lambda response: (
            failed.append(f"{response.url}: {response.status}") if response.status >= 400 else None
        ),
    )
    admin = member_of_both("admin")
    MembershipFactory(team=teams[0])  # someone else on the Members page
    sign_in(admin.username)  # the login page is checked too

    for path in MAIN_PAGES:
        response = page.goto(path)  # waits for "load": deferred scripts such as htmx have run
        assert response is not None and response.ok, f"{path}: {response and response.status}"

    assert page_errors == []
    assert failed == []
