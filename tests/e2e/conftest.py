"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

Playwright's own browser download is never used. Without /usr/bin/chromium these tests are
skipped, except on CI (CI=true), where a missing browser is an error.

DJANGO_ALLOW_ASYNC_UNSAFE: while Playwright's sync API is started, an asyncio loop counts as
running in this thread and Django refuses ORM calls, so the variable is set for exactly as long
as Playwright runs. Setting it for the whole process instead (at import) leaks into the
subprocesses other tests start, e.g. `manage.py check --deploy` fails with async.E001.

Screenshots: tests that take the `shoot` fixture are marked `screenshots`; they save into
docs/screenshots/ only under SCREENSHOTS=1 (`make screenshots`), else into the test's tmp_path,
so a test run leaves the working tree as it was.

Data: live_server runs on transactional_db (committed rows, flushed after each test, also on
PostgreSQL), so every test builds its own rows in function-scoped fixtures or in its body.
"""

import os
from pathlib import Path

import pytest

from dashboard.models import Role
from tests.factories import PASSWORD, MembershipFactory, TeamFactory, UserFactory

E2E_DIR = Path(__file__).resolve().parent
DOCS_SCREENSHOTS = E2E_DIR.parents[1] / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 768}
TIMEOUT_MS = 10_000


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Mark every test under tests/e2e as e2e, and those that shoot as screenshots, before -m
    selects or deselects them."""
    for item in items:
        if E2E_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.e2e)
            if "shoot" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.screenshots)


@pytest.fixture(scope="package")
def browser():
    """One Chromium for all e2e tests, stopped after the last one so later tests run as usual."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = f"{CHROMIUM} is missing: install Debian's chromium package to run e2e tests"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as env:
        env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()


@pytest.fixture
def page_errors():
    """Console errors and uncaught exceptions of the test's page, as readable strings."""
    return []


# Every page of every test reports what its Content-Security-Policy refused.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__reportCspViolation(
    `${event.effectiveDirective} refused ${event.blockedURI || "inline"} on ${location.href}` +
    ` (${event.sourceFile}:${event.lineNumber} ${event.sample})`
  );
}, true);
"""


@pytest.fixture
def csp_violations():
    """What the Content-Security-Policy refused on any page of the test, as readable strings."""
    return []


@pytest.fixture
def page(browser, live_server, page_errors, csp_violations):
    """A fresh context (no cookies) and page per test, at a laptop viewport.

    A test whose pages break the Content-Security-Policy errors at teardown: CSP can break
    any page, so every browser test watches for it.
    """
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(base_url=live_server.url, viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    context.expose_function("__reportCspViolation", lambda report: csp_violations.append(report))
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.on(
        "console",
        lambda message: (
            page_errors.append(f"console error on {page.url}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: page_errors.append(f"uncaught on {page.url}: {error}"))
    yield page
    if not page.is_closed():
        page.evaluate("0")  # a round trip, so reports sent before it have arrived
    context.close()
    assert not csp_violations, "The Content-Security-Policy refused:\n" + "\n".join(csp_violations)


@pytest.fixture
def shoot(tmp_path):
    """shoot(page, name): a full-page screenshot, name.png, for docs/screenshots/."""
    folder = DOCS_SCREENSHOTS if os.environ.get("SCREENSHOTS") == "1" else tmp_path

    def shoot(page, name):
        page.wait_for_load_state("networkidle")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        assert path.stat().st_size > 0

    return shoot


@pytest.fixture
def sign_in(page):
    """Sign in through the login form; returns the page, on wherever the app redirected."""

    def sign_in(username, password=PASSWORD):
        page.goto("/accounts/login/")
        page.locator("#id_username").fill(username)
        page.locator("#id_password").fill(password)
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
        return page

    return sign_in


@pytest.fixture
def teams(transactional_db):
    """Maven and Rival, created fresh for each test."""
    return (
        TeamFactory(slug="maven", name="Maven", time_zone="America/New_York"),
        TeamFactory(slug="rival", name="Rival"),
    )


@pytest.fixture
def member_of_both(teams):
    """A user with the given role in Maven who is also a viewer of Rival."""
    maven, rival = teams

    def make(role):
        user = UserFactory(username=f"{role}-user")
        MembershipFactory(team=maven, user=user, role=role)
        MembershipFactory(team=rival, user=user, role=Role.VIEWER)
        return user

    return make
