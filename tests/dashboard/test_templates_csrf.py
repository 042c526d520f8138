"""Every form that posts carries Django's CSRF token.

The token on <body hx-headers> only travels with htmx requests; a plain form post without
{% csrf_token %} answers 403 in the browser, and Django's test client never notices.
"""

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
POST_FORM = re.compile(r"<form\b[^>]*method=\"post\"[^>]*>.*?</form>", re.S | re.I)


def _post_forms():
    for path in sorted(TEMPLATES.rglob("*.html")):
        for match in POST_FORM.finditer(path.read_text()):
            yield pytest.param(match.group(0), id=f"{path.relative_to(TEMPLATES)}@{match.start()}")


@pytest.mark.parametrize("form", list(_post_forms()))
def test_a_posting_form_carries_the_csrf_token(form):
    # Also with hx-post: without JavaScript the form posts plainly.
    assert "{% csrf_token %}" in form
