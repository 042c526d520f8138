"""No page template carries code the Content-Security-Policy refuses: inline scripts,
event-handler attributes, javascript: links, or code htmx would evaluate (hx-on, js: values,
trigger filters). Behaviour goes in static/js/ behind data attributes.

E-mails (templates/*/email/) never reach a browser and are not checked.
"""

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
REFUSED = {
    "inline script": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I),
    "event-handler attribute": re.compile(r"\son[a-z]+\s*=", re.I),
    "javascript: link": re.compile(r"javascript:", re.I),
    "hx-on": re.compile(r"\s(data-)?hx-on[:-]", re.I),
    "evaluated hx-vals": re.compile(r"\s(data-)?hx-vals\s*=\s*['\"]\s*js:", re.I),
    "hx-vars": re.compile(r"\s(data-)?hx-vars\s*=", re.I),
    "hx-trigger filter": re.compile(r"\s(data-)?hx-trigger\s*=\s*(['\"])[^'\"]*\[", re.I),
}


def _page_templates():
    for path in sorted(TEMPLATES.rglob("*.html")):
        if "email" not in path.relative_to(TEMPLATES).parts:
            yield pytest.param(path, id=str(path.relative_to(TEMPLATES)))


@pytest.mark.parametrize("path", list(_page_templates()))
def test_a_page_template_has_no_code_the_policy_refuses(path):
    text = path.read_text()
    found = {
        name: match.group(0) for name, pattern in REFUSED.items() if (match := pattern.search(text))
    }
    assert found == {}
