"""What changed, and when: the marks drawn on every time chart, so a jump in a line can be read
against the publish, price change, TAO spike or month close that came with it.

Each marker names the change in words and links to where it is described. Everything a marker
says comes from the data (comments, model names) and is escaped where it is shown.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.urls import reverse

from billing.costing import PriceBook
from billing.models import ModelPrice, MonthClose, TeamModelPrice
from billing.overview.tao import TaoPoint
from routing.models import RoutingVersion

KINDS = {
    "publish": "Routing published",
    "rollback": "Routing rolled back",
    "price": "Catalog price changed",
    "team_price": "Team price changed",
    "tao_spike": "TAO price spike",
    "month_close": "Month closed",
}


@dataclass(frozen=True)
class ChangeMarker:
    at: datetime
    kind: str
    title: str
    detail: str
    url: str

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]


def change_markers(
    team,
    *,
    start: datetime,
    end: datetime,
    models_used: set[tuple[str, str]],
    tao_points: list[TaoPoint],
) -> list[ChangeMarker]:
    """The team's changes in [start, end), oldest first: its routing publishes and rollbacks,
    price changes of the models it used (catalog and its own), TAO spikes and month closes."""
    markers = [
        *_publishes(team, start, end),
        *_price_changes(team, start, end, models_used),
        *_tao_spikes(tao_points, start, end),
        *_month_closes(team, start, end),
    ]
    return sorted(markers, key=lambda marker: (marker.at, marker.kind, marker.title))


def _publishes(team, start, end):
    versions = RoutingVersion.objects.filter(
        team=team, published_at__gte=start, published_at__lt=end
    ).select_related("published_by", "rollback_of")
    diff = reverse("routing_version_diff", kwargs={"team": team.slug})
    for version in versions:
        by = version.published_by.username if version.published_by else "a rollout plan or job"
        if version.rollback_of is not None:
            kind, title = (
                "rollback",
                f"v{version.number}: rollback to v{version.rollback_of.number}",
            )
        else:
            kind, title = "publish", f"v{version.number} published"
        url = (
            f"{diff}?old={version.number - 1}&new={version.number}"
            if version.number > 1
            else reverse("routing_versions", kwargs={"team": team.slug})
        )
        yield ChangeMarker(version.published_at, kind, title, f"{version.comment} (by {by})", url)


def _day_start(day) -> datetime:
    # Prices take effect on a UTC day.
    return datetime.combine(day, time(), tzinfo=UTC)


def _price_changes(team, start, end, models_used):
    book = PriceBook.current()
    model_ids = {
        resolved.model.pk
        for provider, model in models_used
        if (resolved := book.resolve(provider, model)).model is not None
    }
    first_day = (start - timedelta(days=1)).date()
    # Every list price of those models up to the end: a row is a change when one came before.
    catalog = ModelPrice.objects.filter(
        model_id__in=model_ids, effective_from__lte=end.date()
    ).select_related("model__provider")
    priced_before = set()
    for price in catalog.order_by("model_id", "effective_from"):
        at = _day_start(price.effective_from)
        if start <= at < end and price.model_id in priced_before:
            yield ChangeMarker(
                at,
                "price",
                f"{price.model}: new list price",
                _rates(price),
                reverse("catalog_model_prices", kwargs={"model_id": price.model_id}),
            )
        priced_before.add(price.model_id)
    own = TeamModelPrice.objects.filter(
        team=team, effective_from__gte=first_day, effective_from__lte=end.date()
    ).select_related("model__provider")
    for team_price in own:
        at = _day_start(team_price.effective_from)
        if start <= at < end:
            yield ChangeMarker(
                at,
                "team_price",
                f"{team_price.model}: team price",
                _rates(team_price),
                reverse("team_prices", kwargs={"team": team.slug}),
            )


def _rates(price) -> str:
    return (
        f"${price.input_per_mtok} in, ${price.output_per_mtok} out per million tokens "
        f"from {price.effective_from}"
    )


def _tao_spikes(points: list[TaoPoint], start, end):
    for point in points:
        if point.spike_pct is not None and start <= point.at < end:
            yield ChangeMarker(
                point.at,
                "tao_spike",
                f"TAO {point.spike_pct:+.1f}%",
                f"TAO/USD at ${point.usd} after a move of {point.spike_pct:+.1f}%",
                "",
            )


def _month_closes(team, start, end):
    closes = MonthClose.objects.filter(team=team, closed_at__gte=start, closed_at__lt=end)
    for close in closes.select_related("closed_by"):
        by = close.closed_by.username if close.closed_by else "—"
        yield ChangeMarker(
            close.closed_at,
            "month_close",
            f"{close.month:%B %Y} closed",
            f"by {by}" + (" (reopened since)" if close.reopened_at else ""),
            reverse("report", kwargs={"team": team.slug, "month": f"{close.month:%Y-%m}"}),
        )
