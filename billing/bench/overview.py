"""Timing the overview page: the full view from rollups against the same figures from raw events."""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from billing.overview.bundle import build_overview
from billing.overview.cube import RAW, ROLLUPS, range_of_days
from billing.overview.histograms import load_histograms
from billing.rollups import NO_VERSION
from dashboard.overview_charts.registry import build_charts

BENCH_USER = "bench-dashboard"


@dataclass(frozen=True)
class Timing:
    """Milliseconds of repeated runs."""

    runs: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.runs)

    @property
    def p95(self) -> float:
        ordered = sorted(self.runs)
        # Nearest rank: with 30 runs, the 29th fastest.
        return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def timed(action: Callable[[], object], runs: int, progress=None) -> Timing:
    """Runs action once to warm caches, then `runs` times, timing each."""
    action()
    spent = []
    for done in range(runs):
        started = time.perf_counter()
        action()
        spent.append((time.perf_counter() - started) * 1000)
        if progress:
            progress(done + 1, runs)
    return Timing(spent)


def page_client(team) -> tuple[Client, str]:
    """A client signed in as a superuser (who sees every team) and the team's overview URL."""
    user, _ = get_user_model().objects.get_or_create(
        username=BENCH_USER, defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    return client, reverse("overview", kwargs={"team": team.slug})


def overview_page(client: Client, url: str, query: str) -> Callable[[], None]:
    def fetch():
        response = client.get(f"{url}?{query}")
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}?{query} answered {response.status_code}")

    return fetch


def overview_figures(team, *, days: int, now: datetime, source: str) -> Callable[[], None]:
    """Every KPI and chart of the page, from rollups or raw events, without the HTML around."""

    def compute():
        filters = range_of_days(team, days=days, now=now)
        build_charts(build_overview(team, filters, now=now, source=source), "provider")

    return compute


def same_figures(team, *, days: int, now: datetime) -> bool:
    """Whether rollups and raw events give the same cube (per routing version too) and
    histograms, also those of the calls sent without a version, so the comparison is fair."""
    filters = range_of_days(team, days=days, now=now)
    from_rollups = build_overview(team, filters, now=now, source=ROLLUPS)
    from_raw = build_overview(team, filters, now=now, source=RAW)
    unversioned = replace(filters, route_version=NO_VERSION)
    return (
        from_rollups.cube == from_raw.cube
        and from_rollups.histograms == from_raw.histograms
        and load_histograms(team, unversioned, "provider")
        == load_histograms(team, unversioned, "provider", source=RAW)
    )
