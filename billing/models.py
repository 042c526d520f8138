from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from billing.histogram import LATENCY_FIELDS, TTFT_FIELDS
from routing.models import Model

PRICE_DIGITS = {"max_digits": 14, "decimal_places": 6}


class ModelPriceQuerySet(models.QuerySet):
    def in_force_on(self, day):
        return self.filter(effective_from__lte=day).order_by("model_id", "-effective_from")


class PerMillionTokenRates(models.Model):
    """USD per million input, output, cached-input and cache-write tokens.

    Empty cached-input or cache-write rates mean the provider charges those tokens as input.
    """

    input_per_mtok = models.DecimalField(**PRICE_DIGITS)
    output_per_mtok = models.DecimalField(**PRICE_DIGITS)
    cached_input_per_mtok = models.DecimalField(**PRICE_DIGITS, null=True, blank=True)
    cache_write_per_mtok = models.DecimalField(**PRICE_DIGITS, null=True, blank=True)

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=models.Q(input_per_mtok__gte=0, output_per_mtok__gte=0),
                name="%(class)s_not_negative",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(cached_input_per_mtok__isnull=True)
                    | models.Q(cached_input_per_mtok__gte=0)
                )
                & (
                    models.Q(cache_write_per_mtok__isnull=True)
                    | models.Q(cache_write_per_mtok__gte=0)
                ),
                name="%(class)s_cache_not_negative",
            ),
        ]


class ModelPrice(PerMillionTokenRates):
    """USD per million tokens for a model from a date on; rows are never edited, only superseded."""

    model = models.ForeignKey(Model, on_delete=models.PROTECT, related_name="prices")
    effective_from = models.DateField()
    source = models.CharField(max_length=300)
    # Why a price was recorded for days already begun (required then, see billing.catalog).
    reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = ModelPriceQuerySet.as_manager()

    class Meta:
        ordering = ["model", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "effective_from"], name="modelprice_unique_model_day"
            ),
            *PerMillionTokenRates.Meta.constraints,
        ]

    def __str__(self):
        return f"{self.model} from {self.effective_from}"

    is_team_price = False


class TeamModelPrice(PerMillionTokenRates):
    """A team's negotiated price for a model from a date on: prices only that team's usage.

    Like ModelPrice, rows are never edited: a correction is a new row (from the same day or
    later); the newest row for a day wins.
    """

    team = models.ForeignKey("dashboard.Team", on_delete=models.CASCADE, related_name="+")
    model = models.ForeignKey(Model, on_delete=models.PROTECT, related_name="team_prices")
    effective_from = models.DateField()
    reason = models.CharField(max_length=500)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team", "model", "-effective_from", "-id"]
        constraints = PerMillionTokenRates.Meta.constraints
        indexes = [
            models.Index(fields=["team", "model", "effective_from"], name="teammodelprice_lookup")
        ]

    def __str__(self):
        return f"{self.model} for team {self.team_id} from {self.effective_from}"

    is_team_price = True


USD_DIGITS = {"max_digits": 24, "decimal_places": 12}
TAO_DIGITS = {"max_digits": 24, "decimal_places": 12}
TAO_PRICE_DIGITS = {"max_digits": 18, "decimal_places": 8}


class TaoPriceQuerySet(models.QuerySet):
    def latest_at(self, now: datetime) -> "TaoPrice | None":
        """The price in force at `now`: the latest observed at or before it."""
        return self.filter(at__lte=now).order_by("-at", "-id").first()


class TaoPrice(models.Model):
    """TAO/USD at a moment, with where it came from."""

    at = models.DateTimeField()
    usd = models.DecimalField(**TAO_PRICE_DIGITS)
    source = models.CharField(max_length=100)
    # The median of fewer than two fresh sources (billing.tao_feed): usable, but said so.
    degraded = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TaoPriceQuerySet.as_manager()

    class Meta:
        ordering = ["-at"]
        constraints = [
            models.UniqueConstraint(fields=["at", "source"], name="taoprice_unique_at_source"),
            models.CheckConstraint(condition=models.Q(usd__gt=0), name="taoprice_positive"),
        ]
        indexes = [models.Index(fields=["at"], name="taoprice_at")]

    def __str__(self):
        return f"TAO ${self.usd} at {self.at:%Y-%m-%d %H:%M} ({self.source})"


class TaoQuote(models.Model):
    """One source's answer at one poll of the TAO/USD feed (billing.tao_feed): a price, or why
    there was none. Every quote is kept; the price stored from a poll is the median of the
    fresh ones, and a quote too far from that median is kept with `used` off and a note."""

    polled_at = models.DateTimeField()
    source = models.CharField(max_length=100)
    at = models.DateTimeField(null=True, blank=True)  # when the source saw the price
    usd = models.DecimalField(**TAO_PRICE_DIGITS, null=True, blank=True)
    used = models.BooleanField(default=False)
    note = models.CharField(max_length=300, blank=True)  # why it is not used, or the failure
    price = models.ForeignKey(
        TaoPrice, null=True, blank=True, on_delete=models.SET_NULL, related_name="quotes"
    )

    class Meta:
        ordering = ["-polled_at", "source"]
        constraints = [
            models.UniqueConstraint(
                fields=["polled_at", "source"], name="taoquote_unique_poll_source"
            ),
            models.CheckConstraint(
                condition=models.Q(usd__isnull=True) | models.Q(usd__gt=0),
                name="taoquote_positive",
            ),
        ]
        indexes = [models.Index(fields=["source", "-polled_at"], name="taoquote_source_polled")]

    def __str__(self):
        seen = f"${self.usd}" if self.usd is not None else f"failed ({self.note})"
        return f"{self.source} at {self.polled_at:%Y-%m-%d %H:%M}: {seen}"


class FxRate(models.Model):
    """A currency's daily reference rate, as units of it per euro (the ECB's own quotation);
    EUR itself is 1. USD to X on a day is per_eur[X] / per_eur[USD] (billing.fx)."""

    day = models.DateField()
    currency = models.CharField(max_length=3)
    per_eur = models.DecimalField(max_digits=20, decimal_places=10)
    source = models.CharField(max_length=100, default="ECB")
    fetched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["day", "currency"], name="fxrate_unique_day_currency"),
            models.CheckConstraint(condition=models.Q(per_eur__gt=0), name="fxrate_positive"),
        ]

    def __str__(self):
        return f"1 EUR = {self.per_eur} {self.currency} on {self.day} ({self.source})"


class Status(models.TextChoices):
    SUCCESS = "success", "Success"
    ERROR = "error", "Error"


class CostSource(models.TextChoices):
    REPORTED = "reported", "Reported by the proxy"
    CATALOG = "catalog", "Catalog list price"
    TEAM = "team", "Team price"
    UNPRICED = "unpriced", "Unpriced"


class UsageEvent(models.Model):
    """One proxied LLM call, as the proxy logged it, priced here.

    On PostgreSQL the table is range-partitioned by month of occurred_at (billing/partitions.py;
    its primary key there is (id, occurred_at)), so that the live month's indexes stay small and
    retention drops a month whole. Dedupe is UsageEventKey's job: a unique (team, event_id) here
    would have to include occurred_at. Foreign keys carry no index of their own: team is the
    head of (team, occurred_at), and catalog and price rows are never deleted while calls use them.
    Nor a database constraint (here, in UsageEventKey and the rollups): PostgreSQL checked each
    of them row by row at commit, which cost more than the insert itself; ingest takes the ids
    from the catalog it just read, and Django's on_delete still guards every delete.
    """

    team = models.ForeignKey(
        "dashboard.Team",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    event_id = models.CharField(max_length=255)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    # Names as resolved against the catalog (or as reported when the catalog lacks them);
    # the foreign keys are set when the catalog knows the provider and model.
    provider_name = models.CharField(max_length=100)
    model_name = models.CharField(max_length=200)
    provider = models.ForeignKey(
        "routing.Provider",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    model = models.ForeignKey(
        "routing.Model",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    task_type = models.CharField(max_length=100, blank=True)
    # Who the call was for, and which of the proxy's keys made it, when the proxy says
    # (LiteLLM's end_user and user_api_key_alias): "" when it does not.
    end_user = models.CharField(max_length=200, blank=True)
    api_key_alias = models.CharField(max_length=200, blank=True)
    route_version = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUCCESS)
    error_type = models.CharField(max_length=200, blank=True)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    reported_cost_usd = models.DecimalField(**USD_DIGITS, null=True, blank=True)
    catalog_cost_usd = models.DecimalField(**USD_DIGITS, null=True, blank=True)
    # What finance counts: the reported cost where present, else the catalog cost (at the
    # team's own price when it has one for the model, see team_price).
    cost_usd = models.DecimalField(**USD_DIGITS, null=True, blank=True)
    cost_source = models.CharField(max_length=16, choices=CostSource.choices)
    # The price row the computed cost used: the team's own price when one was in force,
    # else the catalog's list price (at most one of the two is set).
    price = models.ForeignKey(
        ModelPrice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    team_price = models.ForeignKey(
        TeamModelPrice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    cost_disagreement = models.BooleanField(default=False)
    tao_amount = models.DecimalField(**TAO_DIGITS, null=True, blank=True)
    tao_price_usd = models.DecimalField(**TAO_PRICE_DIGITS, null=True, blank=True)
    # A TAO-billed call whose TAO amount could not be computed (no fresh TAO price, or no cost).
    tao_missing = models.BooleanField(default=False)
    quality_score = models.DecimalField(max_digits=6, decimal_places=5, null=True, blank=True)
    quality_evaluator = models.CharField(max_length=100, blank=True)
    quality_comment = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["team", "occurred_at"], name="usageevent_team_time"),
        ]

    def __str__(self):
        return f"{self.event_id} ({self.provider_name}/{self.model_name})"


class UsageEventKey(models.Model):
    """An event id a team has sent: what makes a re-sent event a duplicate.

    Written in the same transaction as the event, and kept when retention drops the month's raw
    events, so dedupe stays exact forever (a re-sent event of a dropped month is a duplicate).
    """

    team = models.ForeignKey(
        "dashboard.Team",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    event_id = models.CharField(max_length=255)
    # The pair is the key: one index to write per event, and no sequence.
    pk = models.CompositePrimaryKey("team", "event_id")

    def __str__(self):
        return self.event_id


class RawUsageRemoval(models.Model):
    """A month (UTC) whose raw usage events retention removed; rollups and closes keep its totals.

    Rollups of such a month are never recomputed from raw events again (there are none left).
    """

    month = models.DateField(unique=True, help_text="First day of the UTC month.")
    removed_at = models.DateTimeField(default=timezone.now)
    events = models.BigIntegerField(help_text="How many raw events were removed.")

    class Meta:
        ordering = ["month"]

    def __str__(self):
        return f"raw usage of {self.month:%Y-%m} removed {self.removed_at:%Y-%m-%d}"


# What a rollup row is per, after its team and its hour or day.
ROLLUP_KEY_NAMES = [
    "provider_name",
    "model_name",
    "task_type",
    "route_version",
    "status",
    "end_user",
    "api_key_alias",
]


class UsageRollup(models.Model):
    """Usage per team, hour, provider, model, task type, status, end user and key alias: what
    charts and reports read.

    Always equal to the aggregate of the raw events it covers (tests hold it to that).
    """

    team = models.ForeignKey(
        "dashboard.Team",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # the head of the unique key
        db_constraint=False,
    )
    hour = models.DateTimeField()
    provider_name = models.CharField(max_length=100)
    model_name = models.CharField(max_length=200)
    task_type = models.CharField(max_length=100, blank=True)
    # The routing version the proxy applied, 0 for events sent without one.
    route_version = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices)
    end_user = models.CharField(max_length=200, blank=True)
    api_key_alias = models.CharField(max_length=200, blank=True)
    requests = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(**USD_DIGITS, default=0)
    reported_cost_usd = models.DecimalField(**USD_DIGITS, default=0)
    catalog_cost_usd = models.DecimalField(**USD_DIGITS, default=0)
    unpriced_requests = models.BigIntegerField(default=0)
    unpriced_tokens = models.BigIntegerField(default=0)
    disagreement_requests = models.BigIntegerField(default=0)
    tao_amount = models.DecimalField(**TAO_DIGITS, default=0)
    tao_missing_requests = models.BigIntegerField(default=0)
    latency_sum_ms = models.BigIntegerField(default=0)
    latency_count = models.BigIntegerField(default=0)
    quality_sum = models.DecimalField(max_digits=20, decimal_places=5, default=0)
    quality_count = models.BigIntegerField(default=0)
    # Scores have 5 decimals, so their squares 10: what experiments' variances are made of.
    quality_sumsq = models.DecimalField(max_digits=30, decimal_places=10, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "hour", *ROLLUP_KEY_NAMES],
                name="usagerollup_unique_key",
            ),
        ]

    def __str__(self):
        return f"{self.team_id} {self.hour:%Y-%m-%d %H}h {self.provider_name}/{self.model_name}"

    @property
    def latency_counts(self) -> list[int]:
        return [getattr(self, name) for name in LATENCY_FIELDS]

    @property
    def ttft_counts(self) -> list[int]:
        return [getattr(self, name) for name in TTFT_FIELDS]


for _name in LATENCY_FIELDS + TTFT_FIELDS:
    UsageRollup.add_to_class(_name, models.IntegerField(default=0))


class UsageDailyRollup(models.Model):
    """The hourly rollups summed per team day (in the team's time zone): what the overview reads.

    Always equal to the sum of the hourly rows whose hour starts on that day; kept up to date
    with them in the same transaction, and rebuilt from them when the team's time zone changes.
    """

    team = models.ForeignKey(
        "dashboard.Team",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # the head of the unique key
        db_constraint=False,
    )
    day = models.DateField()
    provider_name = models.CharField(max_length=100)
    model_name = models.CharField(max_length=200)
    task_type = models.CharField(max_length=100, blank=True)
    route_version = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices)
    end_user = models.CharField(max_length=200, blank=True)
    api_key_alias = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "day", *ROLLUP_KEY_NAMES],
                name="usagedailyrollup_unique_key",
            ),
        ]

    def __str__(self):
        return f"{self.team_id} {self.day} {self.provider_name}/{self.model_name}"


# The same sums as the hourly rows, column for column.
_NOT_SUMMED = {"id", "team", "hour", *ROLLUP_KEY_NAMES}
for _field in UsageRollup._meta.concrete_fields:
    if _field.name not in _NOT_SUMMED:
        UsageDailyRollup.add_to_class(_field.name, _field.clone())


def default_thresholds() -> list[int]:
    return [50, 80, 100]


class BudgetQuerySet(models.QuerySet):
    def whole_team_in_force(self, months: dict[int, object]) -> dict[int, "Budget"]:
        """Each team's whole-team budget for its month ({team id: first day}): the month's own
        row beats the recurring one. One query for any number of teams."""
        found: dict[int, Budget] = {}
        whole_team = {"provider": None, "task_type": "", "api_key_alias": ""}
        rows = self.filter(team_id__in=list(months), **whole_team).filter(
            models.Q(month__in=set(months.values())) | models.Q(month=None)
        )
        for budget in rows:
            if budget.month not in (months[budget.team_id], None):
                continue
            held = found.get(budget.team_id)
            if held is None or held.month is None:
                found[budget.team_id] = budget
        return found


class Budget(models.Model):
    """A team's monthly spending limit in USD (and optionally TAO), for one month or every month.

    Narrowed to a provider, a task type or an API key alias when one is set; a row for a given
    month wins
    over the recurring one (month empty).
    """

    team = models.ForeignKey("dashboard.Team", on_delete=models.CASCADE, related_name="budgets")
    month = models.DateField(
        null=True, blank=True, help_text="First day of the month; empty for every month."
    )
    provider = models.ForeignKey(
        "routing.Provider", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    task_type = models.CharField(max_length=100, blank=True)
    # Or only the calls made with one of the proxy's keys, by its alias (UsageEvent.api_key_alias).
    api_key_alias = models.CharField(max_length=200, blank=True)
    amount_usd = models.DecimalField(max_digits=18, decimal_places=2)
    amount_tao = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    # A budget set in another currency than USD: the amount as set, in `currency`. Spend is
    # then converted at each day's rate (billing.fx), and amount_usd holds the amount at the
    # rate of the day it was saved, for places that show one USD figure.
    currency = models.CharField(max_length=3, default="USD")
    amount_in_currency = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    thresholds = models.JSONField(default=default_thresholds)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = BudgetQuerySet.as_manager()

    class Meta:
        ordering = ["team", "month", "provider", "task_type"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_usd__gt=0), name="budget_usd_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_tao__isnull=True) | models.Q(amount_tao__gt=0),
                name="budget_tao_positive",
            ),
        ]

    def __str__(self):
        month = f"{self.month:%Y-%m}" if self.month else "every month"
        scope = self.provider or self.task_type or self.api_key_alias or "all usage"
        return f"{self.team} {month} {scope}: ${self.amount_usd}"


class AlertKind(models.TextChoices):
    TAO_PRICE_SPIKE = "tao_price_spike", "TAO price spike"
    TAO_PRICE_STALE = "tao_price_stale", "TAO price stale"
    BUDGET_THRESHOLD = "budget_threshold", "Budget threshold"
    BUDGET_FORECAST = "budget_forecast", "Budget forecast"
    ERROR_RATE = "error_rate", "Error rate"
    LATENCY_P95 = "latency_p95", "Latency p95"
    QUALITY_DROP = "quality_drop", "Quality drop"
    PROXY_STALE = "proxy_stale", "Proxy stale"
    SPEND_ANOMALY = "spend_anomaly", "Spend anomaly"
    TAO_PRICE_DEGRADED = "tao_price_degraded", "TAO price degraded"
    TAO_RUNWAY = "tao_runway", "TAO runway"
    TAO_BALANCE = "tao_balance", "TAO balance"


class AlertRule(models.Model):
    """What to watch and whom to tell. `params` holds the kind's settings (alerts.params)."""

    team = models.ForeignKey(
        "dashboard.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_rules",
    )
    kind = models.CharField(max_length=32, choices=AlertKind.choices)
    name = models.CharField(max_length=120)
    enabled = models.BooleanField(default=True)
    params = models.JSONField(default=dict, blank=True)
    recipient_roles = models.JSONField(default=list, blank=True)
    extra_emails = models.JSONField(default=list, blank=True)
    webhook_url = models.URLField(blank=True)
    cooldown_minutes = models.PositiveIntegerField(default=60)
    notify_on_resolve = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team", "kind", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(team__isnull=False)
                | models.Q(
                    kind__in=[
                        AlertKind.TAO_PRICE_SPIKE,
                        AlertKind.TAO_PRICE_STALE,
                        AlertKind.TAO_PRICE_DEGRADED,
                    ]
                ),
                name="alertrule_team_unless_tao_kind",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"


class AlertState(models.TextChoices):
    FIRING = "firing", "Firing"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class Alert(models.Model):
    """One occurrence of a rule's condition, identified by its dedupe key while it is open."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    team = models.ForeignKey(
        "dashboard.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    dedupe_key = models.CharField(max_length=300)
    state = models.CharField(max_length=16, choices=AlertState.choices, default=AlertState.FIRING)
    subject = models.CharField(max_length=300)
    summary = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    link = models.CharField(max_length=300, blank=True)  # a path under SITE_URL
    fired_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-fired_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "dedupe_key"],
                condition=models.Q(resolved_at__isnull=True),
                name="alert_one_open_per_key",
            ),
        ]
        indexes = [models.Index(fields=["team", "-fired_at"], name="alert_team_fired")]

    def __str__(self):
        return self.subject


class AlertAcknowledgement(models.Model):
    """A team saying it is on a global alert: that team's reminders stop, other teams' go on.

    A team alert is acknowledged on its own row (Alert.state); a global alert's row turns
    acknowledged only when site staff acknowledge it for every team.
    """

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="acknowledgements")
    team = models.ForeignKey("dashboard.Team", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["alert", "team"], name="alertack_one_per_team"),
        ]

    def __str__(self):
        return f"{self.alert} acknowledged by team {self.team_id}"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class DeliveryPart(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    EMAIL = "email", "Email"
    NOTHING = "nothing", "Nothing to send to"


class AlertNotification(models.Model):
    """An email (and webhook post) to send for an alert: an outbox row, claimed before sending."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    # Whose members it goes to; none for a global rule's own list (superusers, extra addresses).
    team = models.ForeignKey(
        "dashboard.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    event = models.CharField(max_length=16)  # "fired", "resolved"
    subject = models.CharField(max_length=300)
    text_body = models.TextField()
    html_body = models.TextField(blank=True)
    recipients = models.JSONField(default=list, blank=True)
    webhook_url = models.URLField(blank=True)
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=40, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # What every member sees of a failure: which part failed and when. last_error holds the
    # technical detail (the remote answer, the exception), for staff only.
    failed_part = models.CharField(max_length=16, choices=DeliveryPart.choices, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Rows of one event (a global alert's teams, overlapping rules at one moment) share it:
    # a person on several of them gets one email (AlertEmailReceipt).
    merge_key = models.CharField(max_length=200, blank=True, db_index=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="alertnotification_due"),
        ]

    def __str__(self):
        return f"{self.event}: {self.subject}"

    def failure_label(self) -> str:
        """What any member may see of the last failure: which part, never the remote answer."""
        if self.status == NotificationStatus.SENT or not (self.failed_part or self.last_error):
            return ""
        if self.failed_part == DeliveryPart.NOTHING:
            return "Not sent: no recipients and no webhook"
        if self.failed_part:
            return f"{DeliveryPart(self.failed_part).label} delivery failed"
        return "Delivery failed"


class AlertEmailReceipt(models.Model):
    """One person told of one event (a merge_key): written in the transaction that sends the
    email, so a second row of the event, or a second worker, leaves that person out."""

    merge_key = models.CharField(max_length=200)
    recipient = models.CharField(max_length=254)
    notification = models.ForeignKey(
        AlertNotification, on_delete=models.CASCADE, related_name="receipts"
    )
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merge_key", "recipient"], name="alertemailreceipt_once_per_person"
            )
        ]

    def __str__(self):
        return f"{self.recipient}: {self.merge_key}"


class AlertDelivery(models.TextChoices):
    EMAIL = "email", "Email at once"
    DIGEST = "digest", "In the daily digest"
    NONE = "none", "Not at all"


class AlertPreference(models.Model):
    """How one person hears of alerts, per group of kinds (billing.alerts.preferences); a group
    not chosen, or no row at all, means email at once."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_preference"
    )
    deliveries = models.JSONField(default=dict, blank=True)
    # The daily digest covers notifications queued after this; moved forward as it is sent.
    digest_sent_until = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Alert preferences of {self.user}"


class MonthClose(models.Model):
    """A team month closed by finance: the report as it stood, frozen. Reopening (an admin)
    keeps the row and marks it reopened; closing again adds a new one."""

    team = models.ForeignKey("dashboard.Team", on_delete=models.CASCADE, related_name="closes")
    month = models.DateField(help_text="First day of the team's calendar month.")
    snapshot = models.JSONField()
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(default=timezone.now)
    reopened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reopened_at = models.DateTimeField(null=True, blank=True)
    reopen_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-month", "-closed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "month"],
                condition=models.Q(reopened_at__isnull=True),
                name="monthclose_one_standing_close",
            ),
        ]

    def __str__(self):
        return f"{self.team} {self.month:%Y-%m} closed {self.closed_at:%Y-%m-%d}"


class ProviderInvoice(models.Model):
    """What a provider invoiced a team for a month, in the provider's billing currency."""

    team = models.ForeignKey("dashboard.Team", on_delete=models.CASCADE, related_name="invoices")
    month = models.DateField(help_text="First day of the team's calendar month.")
    provider = models.ForeignKey("routing.Provider", on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(max_digits=24, decimal_places=8)
    currency = models.CharField(max_length=3, default="USD")
    reference = models.CharField(max_length=200, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    entered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["month", "provider"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "month", "provider"], name="providerinvoice_one_per_month"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="providerinvoice_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(currency__in=["USD", "TAO"]), name="providerinvoice_currency"
            ),
        ]

    def __str__(self):
        return f"{self.team} {self.month:%Y-%m} {self.provider}: {self.amount} {self.currency}"


# --- TAO treasury ------------------------------------------------------------------------


class TaoLot(models.Model):
    """TAO a team bought: how much, what it paid in USD, when and where. Consumption is drawn
    from lots first in, first out (billing.treasury.fifo)."""

    team = models.ForeignKey("dashboard.Team", on_delete=models.CASCADE, related_name="tao_lots")
    bought_at = models.DateTimeField()
    tao = models.DecimalField(**TAO_DIGITS)
    usd_paid = models.DecimalField(max_digits=18, decimal_places=2)
    venue = models.CharField(max_length=200, blank=True)  # exchange, OTC desk, wallet
    reference = models.CharField(max_length=200, blank=True)  # order id, tx hash
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["bought_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(tao__gt=0), name="taolot_tao_positive"),
            models.CheckConstraint(condition=models.Q(usd_paid__gt=0), name="taolot_usd_positive"),
        ]

    def __str__(self):
        return f"{self.team}: {self.tao} TAO for ${self.usd_paid} on {self.bought_at:%Y-%m-%d}"


class TaoTransfer(models.Model):
    """TAO a team sent to its Chutes account, with the account's balance after it when known."""

    team = models.ForeignKey(
        "dashboard.Team", on_delete=models.CASCADE, related_name="tao_transfers"
    )
    sent_at = models.DateTimeField()
    tao = models.DecimalField(**TAO_DIGITS)
    balance_after = models.DecimalField(**TAO_DIGITS, null=True, blank=True)
    reference = models.CharField(max_length=200, blank=True)  # tx hash, wallet
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sent_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(tao__gt=0), name="taotransfer_tao_positive"),
            models.CheckConstraint(
                condition=models.Q(balance_after__isnull=True) | models.Q(balance_after__gte=0),
                name="taotransfer_balance_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.team}: {self.tao} TAO to Chutes on {self.sent_at:%Y-%m-%d}"


# --- Ingest tallies ------------------------------------------------------------------------


class IngestTally(models.Model):
    """How many usage events a team's proxies sent, by outcome, since the row was created: what
    /metrics reports as llmspend_ingest_events_total. Only ever added to, with F() expressions
    (billing.ingest.tally), so concurrent batches never lose a count."""

    team = models.OneToOneField(
        "dashboard.Team", on_delete=models.CASCADE, related_name="ingest_tally"
    )
    accepted = models.BigIntegerField(default=0)
    duplicates = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return (
            f"{self.team}: {self.accepted} accepted, {self.duplicates} duplicates, "
            f"{self.rejected} rejected"
        )
