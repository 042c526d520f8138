from datetime import date, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError
from django.db.models import Q

from billing.fx import currency_checked, currency_choices
from billing.overview.cube import published_days
from billing.rollups import NO_VERSION
from dashboard.audit_actions import audit_action_choices
from dashboard.login_throttle import (
    clear_login_failures,
    client_ip,
    lockout_minutes_left,
    record_login_failure,
)
from dashboard.models import Role, Scope, Team, time_zone_names, validate_time_zone
from dashboard.suggestions import did_you_mean
from dashboard.widgets import DatalistInput
from routing.models import Model, Provider

LOCKED_OUT = "Too many failed sign-in attempts. Try again in %(minutes)d minute(s)."


class ThrottledSignInMixin:
    """Refuses to check passwords for a locked-out username and address, and counts failures.

    Every sign-in form (ours and the Django admin's) goes through it, so they share one set of
    counters, one lockout and one message.
    """

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        ip_address = client_ip(self.request) if self.request else None
        minutes = lockout_minutes_left(username, ip_address)
        if minutes:
            raise ValidationError(
                self.error_messages["locked_out"], code="locked_out", params={"minutes": minutes}
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            if username:
                record_login_failure(username, ip_address)
            raise
        clear_login_failures(username, ip_address)
        return cleaned


class ThrottledLoginForm(ThrottledSignInMixin, AuthenticationForm):
    """Django's sign-in form, throttled."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": (
            "That username and password do not match an account. Check both and try again."
        ),
        "locked_out": LOCKED_OUT,
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not settings.PASSWORD_SIGN_IN:
            self.error_messages = {
                **self.error_messages,
                "invalid_login": (
                    "That username and password do not match a superuser account. Password "
                    "sign-in is off here: everyone else signs in with "
                    f"{settings.OIDC_PROVIDER_NAME}."
                ),
            }


class ThrottledAdminLoginForm(ThrottledSignInMixin, AdminAuthenticationForm):
    """The Django admin's sign-in form (staff only), throttled like the main one."""

    # Keeps the admin's own "staff account" wording for a wrong password.
    error_messages = {**AdminAuthenticationForm.error_messages, "locked_out": LOCKED_OUT}


class TeamSettingsForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = [
            "name",
            "time_zone",
            "baseline_model",
            "target_provider",
            "target_share_min",
            "target_share_max",
            "noninferiority_margin",
            "display_currency",
        ]
        labels = {
            "display_currency": "Display currency",
            "noninferiority_margin": "Quality margin for pilots",
            "target_provider": "Target provider",
            "target_share_min": "Target share from (%)",
            "target_share_max": "Target share to (%)",
        }
        help_texts = {
            "target_provider": "The provider slug whose share of requests you steer, e.g. chutes.",
            "target_share_max": "The overview draws this range as a band on the share chart.",
            "noninferiority_margin": "A pilot arm passes as not worse when its mean quality "
            "score is surely no more than this below the control's (scores run 0-1).",
            "time_zone": "Days and months in charts, budgets and reports follow this zone.",
            "baseline_model": "Savings are measured against what the same tokens would cost here.",
            "display_currency": "Pages show money in this currency, at the ECB's daily reference "
            "rate; amounts stay stored and billed in USD. Each member may choose their own.",
        }
        widgets = {"display_currency": forms.Select(choices=currency_choices())}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["baseline_model"].queryset = Model.objects.filter(enabled=True).select_related(
            "provider"
        )
        self.fields["time_zone"].validators = [validate_time_zone]
        zone = self.fields["time_zone"]
        zone.widget = DatalistInput(time_zone_names(), attrs=zone.widget.attrs)
        # The team's own value stays acceptable even if its provider left the catalog.
        self.known_providers = sorted(
            {*Provider.objects.values_list("slug", flat=True), self.instance.target_provider} - {""}
        )
        target = self.fields["target_provider"]
        target.widget = DatalistInput(self.known_providers, attrs=target.widget.attrs)
        self.fields["noninferiority_margin"].required = False
        self.fields["display_currency"].required = False

    def clean_noninferiority_margin(self):
        """Left empty (or not sent by an older form), the margin stays as it is."""
        margin = self.cleaned_data.get("noninferiority_margin")
        return self.instance.noninferiority_margin if margin is None else margin

    def clean_display_currency(self):
        """Left out (by an older form), the currency stays as it is."""
        raw = self.cleaned_data.get("display_currency") or self.instance.display_currency
        try:
            return currency_checked(raw)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None

    def clean_target_provider(self):
        slug = self.cleaned_data["target_provider"].strip()
        if slug and slug not in self.known_providers:
            raise forms.ValidationError(
                f"“{slug}” is not a provider in the catalog."
                + did_you_mean(slug, self.known_providers)
            )
        return slug

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("target_share_min"), cleaned.get("target_share_max")
        if (low is None) != (high is None):
            raise forms.ValidationError("Give both ends of the target share, or neither.")
        if low is not None and not 0 <= low <= high <= 100:
            raise forms.ValidationError(
                "The target share runs from a lower to a higher percentage, within 0-100."
            )
        return cleaned


class InvitationForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        help_text="They get a link to join; it works once and expires.",
        error_messages={"invalid": "Enter an email address such as fiona@example.com."},
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class InvitationSignupForm(UserCreationForm):
    """A new account for someone who opened an invitation: its email is the invited address."""

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        # Set before validation, so the password validators compare against it too.
        self.instance.email = email


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What will use it, e.g. the proxy host: litellm-prod-1.",
        error_messages={"required": "Give the token a name, e.g. the proxy host it is for."},
    )
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        initial=[Scope.USAGE_WRITE, Scope.ROUTES_READ],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope."},
    )


class AuditFilterForm(forms.Form):
    """The audit page's filters from the query string. Person is a user id, "tokens" or "system"."""

    TOKENS = "tokens"
    SYSTEM = "system"

    action = forms.ChoiceField(
        choices=[],
        required=False,
        error_messages={"invalid_choice": "%(value)s is not an action; choose one from the list."},
    )
    person = forms.ChoiceField(
        label="Who",
        required=False,
        error_messages={
            "invalid_choice": "%(value)s is not a person here; choose one from the list."
        },
    )

    def __init__(self, data, *, team: Team):
        super().__init__(data)
        self.fields["action"].choices = [("", "All actions"), *audit_action_choices()]
        # Former members stay listed while the log holds what they did.
        people = (
            get_user_model()
            .objects.filter(Q(memberships__team=team) | Q(pk__in=team.audit_events.values("actor")))
            .distinct()
            .order_by("username")
        )
        self.fields["person"].choices = [
            ("", "Everyone"),
            *((str(user.pk), user.username) for user in people),
            (self.TOKENS, "Proxy tokens"),
            (self.SYSTEM, "System (manage.py)"),
        ]

    def narrow(self, events):
        """The events that match the cleaned filters."""
        action, person = self.cleaned_data["action"], self.cleaned_data["person"]
        if action:
            events = events.filter(action=action)
        if person == self.TOKENS:
            events = events.filter(token__isnull=False)
        elif person == self.SYSTEM:
            events = events.filter(actor__isnull=True, token__isnull=True)
        elif person:
            events = events.filter(actor_id=int(person), token__isnull=True)
        return events


EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2999, 12, 31)


class DayField(forms.DateField):
    """A calendar day the charts and reports can count from: 2000-01-01 to 2999-12-31."""

    def clean(self, value):
        day = super().clean(value)
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise ValidationError(
                f"Pick a day from {EARLIEST_DAY:%Y-%m-%d} to {LATEST_DAY:%Y-%m-%d}.",
                code="out_of_range",
            )
        return day


# The largest routing version a usage event carries (billing/ingest/events.py).
LARGEST_VERSION = 2**31 - 1


def _version_number(value: str) -> int | None:
    """The routing version a query string names, written plainly; None for anything else."""
    if not (value.isascii() and value.isdigit() and len(value) <= 10) or str(int(value)) != value:
        return None
    return int(value) if int(value) <= LARGEST_VERSION else None


class OverviewFilterForm(forms.Form):
    """The overview's range and filters, from the query string; anything wrong falls back."""

    RANGES = [
        ("7d", "7 days"),
        ("30d", "30 days"),
        ("90d", "90 days"),
        ("month", "This month"),
        ("last-month", "Last month"),
        ("custom", "Custom"),
    ]
    DEFAULT_RANGE = "30d"
    MAX_CUSTOM_DAYS = 366

    range = forms.ChoiceField(choices=RANGES, required=False)
    start = DayField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = DayField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    provider = forms.ChoiceField(required=False)
    model = forms.ChoiceField(required=False)
    task_type = forms.ChoiceField(label="Task type", required=False)
    version = forms.TypedChoiceField(
        label="Routing version", required=False, coerce=int, empty_value=None
    )
    by = forms.ChoiceField(
        label="Split by",
        required=False,
        choices=[("provider", "Provider"), ("model", "Model"), ("task_type", "Task type")],
    )

    def __init__(self, data, *, options: dict[str, list], team=None):
        """`options` as options_of gives them; with the team, versions say when they were
        published."""
        if not data.get("range"):
            # Else the select shows its first choice (7 days) over 30 days, and sends it next.
            data = data.copy()
            data["range"] = self.DEFAULT_RANGE
        super().__init__(data)
        for name, label in [
            ("provider", "providers"),
            ("model", "models"),
            ("task_type", "task types"),
        ]:
            values = sorted(set(options.get(name, [])) | {data.get(name) or ""} - {""})
            self.fields[name].choices = [("", f"All {label}"), *((v, v) for v in values)]
        self.fields["version"].choices = self._version_choices(options, team)

    def _version_choices(self, options, team) -> list[tuple[str, str]]:
        """All versions, then those of the range and the one asked for, newest first, then the
        calls sent without one."""
        versions = {*options.get("route_version", []), NO_VERSION}
        asked = _version_number(str(self.data.get("version", "")))
        if asked is not None:
            versions.add(asked)
        published = published_days(team, versions) if team is not None else {}
        choices = [("", "All versions")]
        for number in sorted(versions, reverse=True):
            if number == NO_VERSION:
                label = "Sent without a version"
            elif number in published:
                label = f"v{number} (published {published[number]:%Y-%m-%d})"
            else:
                label = f"v{number}"
            choices.append((str(number), label))
        return choices

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("range") == "custom" and not self.has_error("start") | self.has_error("end"):
            start, end = cleaned.get("start"), cleaned.get("end")
            if start is None or end is None:
                raise ValidationError("A custom range needs both a start and an end day.")
            if start > end:
                raise ValidationError("The start day must not be after the end day.")
            if (end - start).days + 1 > self.MAX_CUSTOM_DAYS:
                raise ValidationError(
                    f"A custom range covers at most {self.MAX_CUSTOM_DAYS} days; shorten it."
                )
        return cleaned

    def days(self, today: date) -> tuple[str, date, date]:
        """The chosen range as (range, first day, last day) in the team's days."""
        self.is_valid()
        cleaned = self.cleaned_data
        choice = cleaned.get("range") or self.DEFAULT_RANGE
        if choice == "custom" and self.range_errors():
            choice = self.DEFAULT_RANGE
        if choice == "custom":
            return choice, cleaned["start"], cleaned["end"]
        if choice == "month":
            return choice, today.replace(day=1), today
        if choice == "last-month":
            last = today.replace(day=1) - timedelta(days=1)
            return choice, last.replace(day=1), last
        days = int(choice.removesuffix("d"))
        return choice, today - timedelta(days=days - 1), today

    def range_errors(self) -> list[str]:
        """Why the custom range was refused (the page then shows 30 days), or nothing."""
        self.is_valid()
        if self.cleaned_data.get("range") != "custom":
            return []
        errors = [*self.errors.get("start", []), *self.errors.get("end", [])]
        return list(dict.fromkeys([*errors, *self.non_field_errors()]))

    def split_by(self) -> str:
        self.is_valid()
        return self.cleaned_data.get("by") or "provider"

    def narrowing(self) -> dict[str, Any]:
        """The provider, model, task type and routing version to narrow to, as Filters takes."""
        self.is_valid()
        names = ["provider", "model", "task_type"]
        return {
            **{name: self.cleaned_data.get(name) or "" for name in names},
            "route_version": self.cleaned_data.get("version"),
        }


class DisplayCurrencyForm(forms.Form):
    """A member's own display currency in a team; empty means the team's."""

    currency = forms.ChoiceField(label="Show money in", required=False)

    def __init__(self, data=None, *, team, initial=None):
        super().__init__(data, initial=initial)
        team_default = ("", f"Team default ({team.display_currency})")
        self.fields["currency"].choices = [team_default, *currency_choices()]
        self.fields["currency"].error_messages["invalid_choice"] = (
            "Choose the team default or one of the currencies in the list."
        )
