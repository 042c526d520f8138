"""The TAO price scenarios as the budgets and treasury pages show them: the table, and the
custom move read from the query string (a bad one is said, and the standard moves still show)."""

from django.shortcuts import render
from django.utils import timezone

from billing.treasury.scenarios import MoveError, parse_move, scenario_table
from dashboard.fragments import wants_fragment

PARTIAL = "billing/_partials/tao_scenarios.html"


def scenarios_context(request, team, *, url: str, lines=None) -> dict:
    text = request.GET.get("tao_move", "")
    try:
        custom, error = parse_move(text), ""
    except MoveError as problem:
        custom, error = None, str(problem)
    return {
        "scenarios": scenario_table(team, now=timezone.now(), custom=custom, lines=lines),
        "scenarios_url": url,
        "tao_move_text": text,
        "scenario_error": error,
    }


def scenarios_fragment(request, context: dict):
    """The table alone when htmx asks for it (400 when the custom move was refused), else None:
    the page renders it in place."""
    if not wants_fragment(request) or "tao_move" not in request.GET:
        return None
    status = 400 if context["scenario_error"] else 200
    return render(request, PARTIAL, context, status=status)
