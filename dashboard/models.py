import zoneinfo
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from dashboard.audit_actions import MAX_ACTION_LENGTH, audit_action_label
from dashboard.suggestions import did_you_mean


def time_zone_names() -> list[str]:
    """Every IANA zone name this system knows, sorted."""
    return sorted(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            f"{value!r} is not a time zone; use an Area/City name such as Europe/Berlin."
            + did_you_mean(value, zoneinfo.available_timezones())
        )


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    OPS = "ops", "Ops"
    FINANCE = "finance", "Finance"
    VIEWER = "viewer", "Viewer"


class TeamQuerySet(models.QuerySet):
    def for_user(self, user):
        if user.is_superuser:
            return self
        return self.filter(memberships__user=user)


class Team(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    # The model every call is compared against for the "savings vs baseline" figure.
    baseline_model = models.ForeignKey(
        "routing.Model", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The share of requests the team means to send to one provider (e.g. 60-70% to Chutes),
    # drawn as a band on the overview's share chart.
    target_provider = models.CharField(max_length=50, default="chutes", blank=True)
    target_share_min = models.PositiveSmallIntegerField(null=True, blank=True)
    target_share_max = models.PositiveSmallIntegerField(null=True, blank=True)
    # How much lower a pilot arm's mean quality may be than the control's and still pass.
    noninferiority_margin = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.02"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal("0.5"))],
    )
    # ISO 4217 code money is shown in (billing.fx); stored amounts stay USD and TAO.
    display_currency = models.CharField(max_length=3, default="USD")
    created_at = models.DateTimeField(default=timezone.now)

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    # The person's own display currency in this team; empty means the team's.
    display_currency = models.CharField(max_length=3, blank=True)
    # Granted by a group claim at single sign-on (OIDC_GROUP_ROLES), which then keeps it in step:
    # its role follows the mapping, and it goes when the group does. Others are never touched.
    granted_by_sso_group = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique_team_user"),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="membership_role_valid"
            ),
        ]

    def __str__(self):
        return f"{self.user} in {self.team} as {self.role}"


class InvitationQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )


class Invitation(models.Model):
    """An e-mailed offer to join a team. Only a SHA-256 hash of its link's token is stored."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    # As the admin typed it; matched case-insensitively.
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="invitation_role_valid"
            ),
        ]

    def __str__(self):
        return f"{self.email} to {self.team} as {self.role}"

    @property
    def state(self) -> str:
        if self.accepted_at:
            return self.State.ACCEPTED
        if self.revoked_at:
            return self.State.REVOKED
        if self.expires_at <= timezone.now():
            return self.State.EXPIRED
        return self.State.PENDING


class LoginFailure(models.Model):
    """One failed sign-in; recent ones for a username and address lock that pair out."""

    username = models.CharField(max_length=150)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["username", "ip_address"], name="loginfailure_user_ip")]

    def __str__(self):
        return f"{self.username} from {self.ip_address} at {self.created_at:%Y-%m-%d %H:%M}"


class JobRun(models.Model):
    """One run of a scheduled job, so a silent scheduler can be noticed."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        # It ran without raising but did not do its work (e.g. every price source was down).
        DEGRADED = "degraded", "Degraded"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=100)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["name", "-started_at"], name="jobrun_name_started")]

    def __str__(self):
        return f"{self.name} at {self.started_at:%Y-%m-%d %H:%M:%S} ({self.outcome})"

    @property
    def duration(self) -> timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None

    def mark_degraded(self, reason: str) -> None:
        """Say, inside recorded_run, that this run finished without doing its work."""
        self.outcome = self.Outcome.DEGRADED
        self.detail = reason


class Scope(models.TextChoices):
    USAGE_WRITE = "usage:write", "usage:write: post usage and scores"
    ROUTES_READ = "routes:read", "routes:read: read the published routing config"
    KEYS_READ = "keys:read", "keys:read: read the team's provider API keys"
    SPEND_READ = "spend:read", "spend:read: read spend totals and metrics (/api/v1/spend, /metrics)"


class ProxyTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ProxyToken(models.Model):
    """A token the team's proxy authenticates with. Only a prefix and a keyed hash are stored."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="proxy_tokens")
    name = models.CharField(max_length=100)
    # Public part of the token, shown in lists and used to find the row: "lsp_" + 8 characters.
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ProxyTokenQuerySet.as_manager()

    class Meta:
        ordering = ["team__name", "-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…) of {self.team}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class AuditEvent(models.Model):
    """Who did what to a team's sensitive things, and when. Never holds a secret."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="audit_events")
    # One of the actions the apps register (dashboard.audit_actions), checked by audit_record.
    action = models.CharField(max_length=MAX_ACTION_LENGTH)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    token = models.ForeignKey(
        ProxyToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target = models.CharField(max_length=300)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "-created_at"], name="auditevent_team_time")]

    def __str__(self):
        return f"{self.action_label}: {self.target}"

    @property
    def action_label(self) -> str:
        return audit_action_label(self.action)

    @property
    def actor_label(self) -> str:
        if self.token_id:
            return f"proxy token {self.token.prefix}…" if self.token else "a deleted proxy token"
        return self.actor.username if self.actor else "system"


class SsoIdentity(models.Model):
    """A person's account at the identity provider: (issuer, subject) finds them again even
    after their e-mail address changes there."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identities"
    )
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    email = models.EmailField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_sign_in_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique"),
        ]

    def __str__(self):
        return f"{self.subject} at {self.issuer}"
