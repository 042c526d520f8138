"""The fleet: each proxy's heartbeat, and whether the proxies run what was published."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_datetime

from routing.models import ProxyInstance, RoutingVersion
from routing.publish import latest_version

# The fleet panel lists the proxies seen this long ago; the convergence counts the recent ones.
LISTED = timedelta(hours=24)
RECENT = timedelta(minutes=10)

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
MAX_BIG = 2**63 - 1
MAX_VERSION = 2**31 - 1
# field -> (longest length, required)
TEXT_FIELDS = {
    "instance_id": (100, True),
    "host": (255, False),
    "litellm_version": (50, False),
    "plugin_version": (50, False),
    "routing_error": (2000, False),
}
COUNTERS = ["spool_depth", "spool_bytes", "shipped", "dead_lettered", "dropped"]


class HeartbeatInvalid(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors


def _text(value, longest: int, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    value = value.strip()
    if required and not value:
        raise ValueError("is required")
    if len(value) > longest:
        raise ValueError(f"must be at most {longest} characters")
    return value


def _whole(value, largest: int, *, nullable: bool = False):
    if value is None and nullable:
        return None
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number")
    if value < 0 or value > largest:
        raise ValueError(f"must be from 0 to {largest}")
    return value


def _moment(value) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64 or "\x00" in value:
        raise ValueError("must be an ISO 8601 time with its offset")
    try:
        moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError("must be an ISO 8601 time with its offset")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        moment = None
    if moment is None or not EARLIEST <= moment < LATEST:
        raise ValueError("must be a time from the year 2000 to 2999")
    return moment


def heartbeat_values(body) -> dict:
    """The report's fields, checked; HeartbeatInvalid naming every bad field. Unknown fields
    are ignored, so a newer plugin can send more."""
    if not isinstance(body, dict):
        raise HeartbeatInvalid({"body": "must be a JSON object"})
    values, errors = {}, {}
    checks = {name: (lambda v, a=args: _text(v, *a)) for name, args in TEXT_FIELDS.items()}
    checks |= {name: (lambda v: _whole(v, MAX_BIG)) for name in COUNTERS}
    checks["routing_version"] = lambda v: _whole(v, MAX_VERSION, nullable=True)
    checks["last_sync_at"] = _moment
    for name, check in checks.items():
        try:
            values[name] = check(body.get(name))
        except ValueError as error:
            errors[name] = str(error)
    if errors:
        raise HeartbeatInvalid(errors)
    return values


def _growing_since(row: ProxyInstance | None, depth: int, now: datetime) -> datetime | None:
    if row is None or depth == 0 or depth < row.spool_depth:
        return None
    if depth > row.spool_depth:
        return row.spool_growing_since or now
    return row.spool_growing_since


def heartbeat_record(*, team, values: dict, now: datetime) -> ProxyInstance:
    """Upsert the team's row for the reporting proxy, seen now."""
    with transaction.atomic():
        rows = ProxyInstance.objects.select_for_update()
        row = rows.filter(team=team, instance_id=values["instance_id"]).first()
        if row is None:
            try:
                with transaction.atomic():
                    row = ProxyInstance.objects.create(
                        team=team, instance_id=values["instance_id"], first_seen_at=now
                    )
                fresh = True
            except IntegrityError:
                # Its twin heartbeat created it first.
                row = rows.get(team=team, instance_id=values["instance_id"])
                fresh = False
        else:
            fresh = False
        row.spool_growing_since = _growing_since(None if fresh else row, values["spool_depth"], now)
        for name, value in values.items():
            setattr(row, name, value)
        row.last_seen_at = now
        row.save()
    return row


@dataclass
class ProxyLine:
    proxy: ProxyInstance
    recent: bool  # seen in the last 10 minutes
    current: bool  # runs the published version
    behind_since: datetime | None = None  # when it should have run it, if it does not


def _proxies(count: int) -> str:
    return f"{count} prox{'y' if count == 1 else 'ies'}"


@dataclass
class FleetStatus:
    published: RoutingVersion | None
    lines: list[ProxyLine] = field(default_factory=list)

    @property
    def recent(self) -> list[ProxyLine]:
        return [line for line in self.lines if line.recent]

    @property
    def behind(self) -> list[ProxyLine]:
        return [line for line in self.recent if not line.current]

    @property
    def converging(self) -> bool:
        """Some proxy seen lately does not run the published version yet."""
        return self.published is not None and bool(self.behind)

    @property
    def summary(self) -> str:
        if self.published is None:
            return "Nothing is published yet: the proxies have no routes from this dashboard."
        recent, number = len(self.recent), self.published.number
        if not recent:
            return "No proxy has reported in the last 10 minutes."
        if self.converging:
            on = recent - len(self.behind)
            return f"Converging: {on} of {_proxies(recent)} on v{number}"
        if recent == 1:
            return f"The proxy runs v{number}"
        return f"All {_proxies(recent)} run v{number}"


def fleet_proxies(team, now: datetime):
    """The team's proxies seen in the last 24 hours, the latest seen first."""
    rows = ProxyInstance.objects.filter(team=team, last_seen_at__gte=now - LISTED)
    return rows.order_by("-last_seen_at", "instance_id")


def behind_since(proxy: ProxyInstance, published: RoutingVersion | None) -> datetime | None:
    """Since when the proxy should run the published version and does not (from the publish,
    or from its first report if it started later); None when it runs it or nothing is
    published."""
    if published is None or proxy.routing_version == published.number:
        return None
    return max(published.published_at, proxy.first_seen_at)


def fleet_status(team, now: datetime) -> FleetStatus:
    """Each proxy seen in the last 24 hours against the published version: two queries."""
    published = latest_version(team)
    lines = []
    for proxy in fleet_proxies(team, now):
        current = published is not None and proxy.routing_version == published.number
        since = behind_since(proxy, published)
        lines.append(ProxyLine(proxy, now - proxy.last_seen_at <= RECENT, current, since))
    return FleetStatus(published=published, lines=lines)
