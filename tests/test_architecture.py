"""The import direction docs/architecture.md draws: billing → routing → dashboard's core, with
dashboard's pages and the project layer (settings, URLs, Celery, the schedule) on top."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# dashboard's pages may read and write through billing and routing; its core may not.
DASHBOARD_PAGES = {"views.py", "views_overview.py", "views_invitations.py", "forms.py"}
DASHBOARD_PAGES |= {"team_settings.py", "overview_charts.py", "overview_charts", "management"}


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _modules(app: str, *, skip: set[str] = frozenset()):
    for path in sorted((ROOT / app).rglob("*.py")):
        parts = path.relative_to(ROOT / app).parts
        if "migrations" not in parts and parts[0] not in skip:
            yield path


@pytest.mark.parametrize("path", list(_modules("routing")), ids=str)
def test_routing_never_imports_billing(path):
    assert "billing" not in _imported(path)


@pytest.mark.parametrize("path", list(_modules("dashboard", skip=DASHBOARD_PAGES)), ids=str)
def test_dashboards_core_imports_no_other_app(path):
    assert not _imported(path) & {"billing", "routing"}


@pytest.mark.parametrize("path", list(_modules("integrations")), ids=str)
def test_the_litellm_companion_imports_no_django_and_no_app(path):
    assert not _imported(path) & {"django", "billing", "routing", "dashboard"}


@pytest.mark.parametrize("app", ["dashboard", "routing", "billing", "integrations"])
def test_app_code_never_imports_the_tests(app):
    assert all("tests" not in _imported(path) for path in _modules(app))
