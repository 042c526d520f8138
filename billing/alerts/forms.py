"""Forms of the alerts pages: the alerts filter and the rule editor with its per-kind params."""

import re
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email

from billing.alerts.params import DEFAULT_PARAMS, GLOBAL_KINDS
from billing.alerts.preferences import KIND_GROUPS
from billing.alerts.rules import CURRENCIES, DIRECTIONS, SPEND_SCOPES, TAO_BALANCES
from billing.models import AlertDelivery, AlertKind, AlertRule, AlertState
from dashboard.models import Role
from dashboard.outbound import AddressRefused, check_public_url
from routing.models import Provider

STATE_FILTERS = [*AlertState.choices, ("all", "All")]
DEFAULT_STATE = AlertState.FIRING


class AlertFilterForm(forms.Form):
    state = forms.ChoiceField(
        choices=STATE_FILTERS,
        required=False,
        error_messages={"invalid_choice": "Show firing, acknowledged, resolved or all alerts."},
    )

    def state_shown(self) -> str:
        return self.cleaned_data.get("state") or DEFAULT_STATE


def _number_field(
    field: type[forms.Field], message: str, label: str, help_text: str = "", **bounds
):
    """A number field whose every refusal (missing, not a number, out of range) says `message`."""
    codes = ("required", "invalid", "min_value", "max_value")
    return field(
        label=label,
        help_text=help_text,
        error_messages=dict.fromkeys(codes, message),
        **bounds,
    )


def _percent(label: str, help_text: str = "") -> forms.DecimalField:
    return _number_field(
        forms.DecimalField,
        "Enter a percentage from 0.1 to 1000, e.g. 10 or 12.5.",
        label,
        help_text,
        min_value=Decimal("0.1"),
        max_value=Decimal("1000"),
        decimal_places=2,
    )


def _minutes(label: str, help_text: str = "") -> forms.IntegerField:
    message = "Enter whole minutes from 1 to 10080 (a week)."
    return _number_field(
        forms.IntegerField, message, label, help_text, min_value=1, max_value=10080
    )


def _at_least_one(label: str, help_text: str = "") -> forms.IntegerField:
    message = "Enter a whole number of at least 1."
    return _number_field(forms.IntegerField, message, label, help_text, min_value=1)


def _deviations(**options) -> forms.DecimalField:
    return _number_field(
        forms.DecimalField,
        "Enter a number of deviations from 1 to 20, e.g. 4.",
        "Fires at (deviations above the usual)",
        "How far above the median of the same weekdays, in units of their usual spread.",
        min_value=Decimal(1),
        max_value=Decimal(20),
        decimal_places=1,
        **options,
    )


def _weeks(**options) -> forms.IntegerField:
    return _number_field(
        forms.IntegerField,
        "Enter whole weeks from 4 to 8.",
        "The usual: the same weekday over the last (weeks)",
        min_value=4,
        max_value=8,
        **options,
    )


def _provider_choices():
    return [("", "Each provider separately"), *Provider.objects.values_list("slug", "name")]


def _json_number(value):
    """Whole numbers as int, others as float: params are JSON, read by alerts.params."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class ParamsForm(forms.Form):
    """The params of one kind of rule, prefixed with the kind so all kinds fit in one page."""

    kind: str = ""
    note = ""

    def params(self) -> dict:
        return {name: _json_number(value) for name, value in self.cleaned_data.items()}

    @property
    def title(self) -> str:
        return AlertKind(self.kind).label


class _Scoped(ParamsForm):
    """Shared by the usage kinds: which provider or model to watch."""

    provider = forms.ChoiceField(
        choices=_provider_choices,
        required=False,
        error_messages={"invalid_choice": "Choose a provider from the list, or none."},
    )
    model = forms.CharField(
        max_length=200,
        required=False,
        help_text="As the proxy reports it, e.g. claude-sonnet-4-5. Empty: all models.",
    )
    field_order = ["provider", "model"]


MODES = [
    ("threshold", "A limit over the window"),
    ("anomaly", "Unusual for the weekday (yesterday against the same weekdays before)"),
]


class _AnomalyMode(_Scoped):
    """Shared by the error-rate and latency kinds: a limit over a window (threshold mode) or
    yesterday against the same weekdays before (anomaly mode). Anomaly settings left empty
    take their defaults, and a rule without a mode is a threshold rule."""

    note = (
        "In anomaly mode the last whole day in the team's time zone is judged (never today so "
        "far); the limit and the window are then not used. Days with fewer calls than the "
        "minimum are not judged, nor used as the usual."
    )
    mode = forms.ChoiceField(
        choices=MODES,
        required=False,
        label="Fires on",
        error_messages={"invalid_choice": "Choose a limit over the window or unusual days."},
    )
    deviations = _deviations(required=False)
    weeks = _weeks(required=False)
    OPTIONAL = {"mode", "deviations", "weeks", "min_points", "min_ms"}

    def params(self) -> dict:
        return {
            name: value
            for name, value in super().params().items()
            if name not in self.OPTIONAL or value not in (None, "")
        }


class TaoPriceSpikeParams(ParamsForm):
    kind = AlertKind.TAO_PRICE_SPIKE
    threshold_pct = _percent("Change of at least (%)")
    window_minutes = _minutes("Within (minutes)", "60 is an hour, 1440 a day.")
    direction = forms.ChoiceField(
        choices=[(key, label.capitalize()) for key, label in DIRECTIONS.items()],
        error_messages={"invalid_choice": "Choose both directions, rises only or falls only."},
    )


class TaoPriceStaleParams(ParamsForm):
    kind = AlertKind.TAO_PRICE_STALE
    minutes = _minutes("No new TAO price for (minutes)")


class TaoPriceDegradedParams(ParamsForm):
    kind = AlertKind.TAO_PRICE_DEGRADED
    minutes = _minutes(
        "Degraded for (minutes)",
        "Fewer than two TAO price sources with a fresh price that agrees for this long.",
    )


class BudgetThresholdParams(ParamsForm):
    kind = AlertKind.BUDGET_THRESHOLD
    note = "The thresholds (e.g. 50, 80, 100 %) are each budget's own, set on the budgets page."
    currency = forms.ChoiceField(
        choices=[(key, label.capitalize()) for key, label in CURRENCIES.items()],
        label="Watch the budget",
        error_messages={"invalid_choice": "Choose USD and TAO, USD only or TAO only."},
    )


class BudgetForecastParams(ParamsForm):
    kind = AlertKind.BUDGET_FORECAST
    note = "Fires when the month-end forecast is over a budget of the team. No settings."


def _mode_order(limit: str, rise: str) -> list[str]:
    return [
        "mode",
        limit,
        "window_minutes",
        "min_requests",
        "deviations",
        rise,
        "weeks",
        *_Scoped.field_order,
    ]


class ErrorRateParams(_AnomalyMode):
    kind = AlertKind.ERROR_RATE
    threshold_pct = _percent("Error rate above (%)", "Threshold mode.")
    window_minutes = _minutes("Over the last (minutes)", "Threshold mode.")
    min_requests = _at_least_one("At least this many requests", "Fewer calls are not judged.")
    min_points = _number_field(
        forms.DecimalField,
        "Enter percentage points from 0.01 to 100, e.g. 2.",
        "And at least (percentage points above the usual)",
        "Anomaly mode: 1% usually, 3% that day is 2 points.",
        min_value=Decimal("0.01"),
        max_value=Decimal(100),
        decimal_places=2,
        required=False,
    )
    field_order = _mode_order("threshold_pct", "min_points")


class LatencyP95Params(_AnomalyMode):
    kind = AlertKind.LATENCY_P95
    threshold_ms = _number_field(
        forms.IntegerField,
        "Enter a latency in whole milliseconds, at least 1.",
        "p95 latency above (ms)",
        "Threshold mode.",
        min_value=1,
    )
    window_minutes = _minutes("Over the last (minutes)", "Threshold mode.")
    min_requests = _at_least_one("At least this many requests", "Fewer calls are not judged.")
    min_ms = _number_field(
        forms.IntegerField,
        "Enter a latency in whole milliseconds, at least 1.",
        "And at least (ms above the usual)",
        "Anomaly mode.",
        min_value=1,
        required=False,
    )
    field_order = _mode_order("threshold_ms", "min_ms")


class QualityDropParams(_Scoped):
    kind = AlertKind.QUALITY_DROP
    min_score = _number_field(
        forms.DecimalField,
        "Enter a score above 0 and at most 1, e.g. 0.7.",
        "Mean quality score below",
        "Scores run from 0 to 1.",
        min_value=Decimal("0.01"),
        max_value=Decimal("1"),
        decimal_places=2,
    )
    window_minutes = _minutes("Over the last (minutes)", "1440 is a day.")
    min_samples = _at_least_one("At least this many scores", "Fewer scores are not judged.")
    field_order = ["min_score", "window_minutes", "min_samples", *_Scoped.field_order]


class ProxyStaleParams(ParamsForm):
    kind = AlertKind.PROXY_STALE
    note = "Each proxy seen in the last 24 hours, as its heartbeat reports it; one alert per proxy."
    unseen_minutes = _minutes("Not seen for (minutes)")
    behind_minutes = _minutes(
        "Not on the published version after a publish (minutes)",
        "From the publish, or from the proxy's first report if it started later.",
    )
    spool_minutes = _minutes("Spool growing for (minutes)")


class SpendAnomalyParams(ParamsForm):
    kind = AlertKind.SPEND_ANOMALY
    note = (
        "Judges yesterday, the last whole day in the team's time zone (never today so far), "
        "against the same weekday of the weeks before: one alert per unusual series and day, "
        "naming its likely cause and the day's spend bridge."
    )
    scope = forms.ChoiceField(
        choices=[(key, label.capitalize()) for key, label in SPEND_SCOPES.items()],
        label="Watch the spend of",
        error_messages={
            "invalid_choice": "Choose the team, providers, task types, API key aliases or all."
        },
    )
    deviations = _deviations()
    min_usd = _number_field(
        forms.DecimalField,
        "Enter an amount in USD of at least 0.01, e.g. 20.",
        "And at least (USD above the usual)",
        "So that a small team is not paged for cents.",
        min_value=Decimal("0.01"),
        decimal_places=2,
    )
    weeks = _weeks()


def _tao_balance_choice() -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=[(key, label.capitalize()) for key, label in TAO_BALANCES.items()],
        label="Watch the TAO on",
        error_messages={"invalid_choice": "Choose the Chutes account, or it and the wallet."},
    )


class TaoRunwayParams(ParamsForm):
    kind = AlertKind.TAO_RUNWAY
    note = (
        "The balance and the burn are the treasury page's: TAO used at TAO-billed providers "
        "(Chutes) per day over the last complete days. Nothing fires while nothing burns."
    )
    balance = _tao_balance_choice()
    days = _number_field(
        forms.IntegerField,
        "Enter whole days, at least 1, e.g. 14.",
        "Lasts fewer than (days)",
        min_value=1,
    )
    burn_days = _number_field(
        forms.IntegerField,
        "Enter whole days from 1 to 90, e.g. 7 or 30.",
        "At the burn of the last (days)",
        min_value=1,
        max_value=90,
    )


class TaoBalanceParams(ParamsForm):
    kind = AlertKind.TAO_BALANCE
    note = "The balance is the treasury page's, from the lots and transfers finance records."
    balance = _tao_balance_choice()
    tao = _number_field(
        forms.DecimalField,
        "Enter a TAO amount of 0 or more, e.g. 10.",
        "Holds less than (TAO)",
        min_value=Decimal(0),
        decimal_places=6,
    )


PARAMS_FORMS: dict[str, type[ParamsForm]] = {
    form.kind: form
    for form in [
        TaoPriceSpikeParams,
        TaoPriceStaleParams,
        TaoPriceDegradedParams,
        BudgetThresholdParams,
        BudgetForecastParams,
        ErrorRateParams,
        LatencyP95Params,
        QualityDropParams,
        ProxyStaleParams,
        SpendAnomalyParams,
        TaoRunwayParams,
        TaoBalanceParams,
    ]
}


def params_form(kind: str, data=None, *, params: dict | None = None) -> ParamsForm:
    """The kind's params form: bound to `data`, or showing `params` over the kind's defaults."""
    initial = {**DEFAULT_PARAMS[kind], **(params or {})}
    return PARAMS_FORMS[kind](data, prefix=kind, initial=initial)


def _typed_params(kind: str, data) -> dict:
    """What was typed for a kind that is not the chosen one, to show it again unvalidated."""
    prefix = f"{kind}-"
    return {key[len(prefix) :]: value for key, value in data.items() if key.startswith(prefix)}


EMAIL_SEPARATORS = re.compile(r"[\s,;]+")


class AlertRuleForm(forms.Form):
    """A rule as typed. The chosen kind's params form is validated with it (`params_form`); the
    other kinds' forms are only shown (`other_params_forms`), for pages without JavaScript."""

    kind = forms.ChoiceField(
        choices=AlertKind.choices,
        error_messages={"invalid_choice": "Choose one of the kinds in the list."},
    )
    name = forms.CharField(
        max_length=120,
        error_messages={"required": "Give the rule a name, e.g. TAO moves 10% within an hour."},
        help_text="The subject line of its emails starts with it.",
    )
    enabled = forms.BooleanField(required=False, initial=True)
    make_global = forms.BooleanField(
        required=False,
        label="Global: for every team",
        help_text="TAO price rules only. A global rule is evaluated once and shown to every team; "
        "only superusers see and change it here.",
    )
    recipient_roles = forms.MultipleChoiceField(
        choices=Role.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Email the team's",
        help_text="For a global rule: each team's members in these roles, one email per team; "
        "each team acknowledges it for itself.",
        error_messages={"invalid_choice": "Choose among admin, ops, finance and viewer."},
    )
    extra_emails = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Also email",
        help_text="Addresses separated by commas or new lines.",
    )
    webhook_url = forms.URLField(
        required=False,
        max_length=200,
        assume_scheme="https",
        label="Webhook URL",
        validators=[URLValidator(schemes=["http", "https"])],
        error_messages={"invalid": "Enter an http:// or https:// address."},
        help_text="Gets a JSON POST for each notification (e.g. a Slack incoming webhook). "
        "A public internet address; only its host is shown on the rules page.",
    )
    cooldown_minutes = _minutes(
        "Cooldown (minutes)", "While it stays firing, notify again at most this often."
    )
    notify_on_resolve = forms.BooleanField(
        required=False, label="Notify when it resolves", help_text="An email when it clears."
    )

    def __init__(self, data=None, *, rule: AlertRule | None = None, may_make_global=False):
        initial = {
            "kind": AlertKind.TAO_PRICE_SPIKE,
            "enabled": True,
            "recipient_roles": [Role.ADMIN, Role.OPS],
            "cooldown_minutes": 60,
        }
        if rule is not None:
            initial = {
                "kind": rule.kind,
                "name": rule.name,
                "enabled": rule.enabled,
                "make_global": rule.team_id is None,
                "recipient_roles": rule.recipient_roles,
                "extra_emails": "\n".join(rule.extra_emails),
                "webhook_url": rule.webhook_url,
                "cooldown_minutes": rule.cooldown_minutes,
                "notify_on_resolve": rule.notify_on_resolve,
            }
        super().__init__(data, initial=initial)
        if not may_make_global:
            del self.fields["make_global"]
        kind = self.chosen_kind(data, initial["kind"])
        saved = rule.params if rule is not None and rule.kind == kind else None
        self.params_form = params_form(kind, data, params=saved)
        self.other_params_forms = [
            params_form(other, params=_typed_params(other, data) if data else None)
            for other in PARAMS_FORMS
            if other != kind
        ]

    @staticmethod
    def chosen_kind(data, default: str) -> str:
        kind = data.get("kind") if data is not None else None
        return kind if kind in PARAMS_FORMS else default

    def is_valid(self) -> bool:
        # Both are validated, so every mistake is marked at once.
        rule_ok = super().is_valid()
        params_ok = self.params_form.is_valid()
        return rule_ok and params_ok

    @property
    def has_errors(self) -> bool:
        return bool(self.errors or self.params_form.errors)

    def clean_extra_emails(self) -> list[str]:
        raw = self.cleaned_data["extra_emails"]
        emails, seen, bad = [], set(), []
        for email in filter(None, EMAIL_SEPARATORS.split(raw)):
            try:
                validate_email(email)
            except ValidationError:
                bad.append(email)
                continue
            if email.lower() not in seen:
                seen.add(email.lower())
                emails.append(email)
        if bad:
            raise ValidationError(f"Not email addresses: {', '.join(bad)}.")
        if len(emails) > 50:
            raise ValidationError("At most 50 addresses; use a mailing list for more.")
        return emails

    def clean_webhook_url(self) -> str:
        url = self.cleaned_data["webhook_url"]
        if url:
            try:
                check_public_url(url)
            except AddressRefused as error:
                raise ValidationError(str(error)) from None
        return url

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("make_global") and cleaned.get("kind") not in GLOBAL_KINDS:
            self.add_error("make_global", "Only TAO price rules can be global.")
        return cleaned

    def values(self) -> dict:
        """The validated rule for billing.alerts.rules.alert_rule_save."""
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "name": data["name"].strip(),
            "enabled": data["enabled"],
            "params": self.params_form.params(),
            "recipient_roles": list(data["recipient_roles"]),
            "extra_emails": data["extra_emails"],
            "webhook_url": data["webhook_url"],
            "cooldown_minutes": data["cooldown_minutes"],
            "notify_on_resolve": data["notify_on_resolve"],
        }


class AlertPreferenceForm(forms.Form):
    """One choice per group of alert kinds: email at once, the daily digest, or nothing."""

    def __init__(self, *args, deliveries: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        deliveries = deliveries or {}
        for group, (label, _) in KIND_GROUPS.items():
            self.fields[group] = forms.ChoiceField(
                label=label,
                choices=AlertDelivery.choices,
                initial=deliveries.get(group, AlertDelivery.EMAIL),
                widget=forms.RadioSelect,
            )
