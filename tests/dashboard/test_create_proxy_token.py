from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from dashboard.tokens import token_authenticate


def _run(*args):
    out = StringIO()
    call_command("create_proxy_token", *args, stdout=out)
    return out.getvalue()


def test_it_prints_the_token_alone_on_its_last_line(team):
    lines = _run("--team", "maven", "--name", "litellm-prod").splitlines()
    assert len(lines) >= 2
    assert token_authenticate(lines[-1]) is not None


def test_it_describes_the_token_before_printing_it(team):
    first = _run("--team", "maven", "--name", "litellm-prod").splitlines()[0]
    assert "litellm-prod" in first
    assert "Maven" in first


def test_it_gives_the_token_the_scopes_asked_for(team):
    output = _run("--team", "maven", "--name", "edge", "--scopes", "usage:write, routes:read")
    row = token_authenticate(output.splitlines()[-1])
    assert (row.team, row.scopes) == (team, ["routes:read", "usage:write"])


def test_it_defaults_to_usage_write(team):
    row = token_authenticate(_run("--team", "maven", "--name", "edge").splitlines()[-1])
    assert row.scopes == ["usage:write"]


def test_it_refuses_an_unknown_team(db):
    with pytest.raises(CommandError, match="No team has the slug 'nope'"):
        _run("--team", "nope", "--name", "edge")


def test_it_refuses_an_unknown_scope(team):
    with pytest.raises(CommandError, match="Unknown scope admin:all; choose from"):
        _run("--team", "maven", "--name", "edge", "--scopes", "usage:write,admin:all")


def test_it_refuses_an_empty_name(team):
    with pytest.raises(CommandError, match="Give the token a name"):
        _run("--team", "maven", "--name", " ")


def test_it_refuses_an_empty_scope_list(team):
    with pytest.raises(CommandError, match="Choose at least one scope"):
        _run("--team", "maven", "--name", "edge", "--scopes", ",")
