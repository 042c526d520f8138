from django.conf import settings
from django.db import models
from django.utils import timezone


class Currency(models.TextChoices):
    USD = "USD", "USD"
    TAO = "TAO", "TAO"


class Provider(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    base_url = models.URLField(blank=True)
    billing_currency = models.CharField(
        max_length=3, choices=Currency.choices, default=Currency.USD
    )
    openai_compatible = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(billing_currency__in=Currency.values),
                name="provider_currency_valid",
            )
        ]

    def __str__(self):
        return self.name


class Model(models.Model):
    """A model as its provider spells it, e.g. deepseek-ai/DeepSeek-V3 at chutes."""

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="models")
    name = models.CharField(max_length=200)
    display_name = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["provider__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "name"], name="model_unique_provider_name")
        ]

    def __str__(self):
        return f"{self.provider.slug}/{self.name}"

    @property
    def label(self) -> str:
        return self.display_name or self.name


class KeyTestResult(models.TextChoices):
    OK = "ok", "OK"
    REJECTED = "rejected", "Rejected by the provider"
    UNREACHABLE = "unreachable", "Provider unreachable"


class ProviderKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ProviderKey(models.Model):
    """A team's API key for a provider. The secret is stored encrypted, shown only masked."""

    team = models.ForeignKey(
        "dashboard.Team", on_delete=models.CASCADE, related_name="provider_keys"
    )
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="keys")
    label = models.CharField(max_length=100)
    secret_encrypted = models.TextField()
    # "cpk_…ab12": enough to tell keys apart, never enough to use one.
    mask = models.CharField(max_length=40)
    fingerprint = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The key this one replaced, when it was added by rotating that one.
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaced_by"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_test_result = models.CharField(max_length=16, choices=KeyTestResult.choices, blank=True)
    last_test_message = models.CharField(max_length=500, blank=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_tested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ProviderKeyQuerySet.as_manager()

    class Meta:
        ordering = ["provider__name", "label", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "provider", "label"],
                condition=models.Q(revoked_at__isnull=True),
                name="providerkey_one_active_label",
            )
        ]

    def __str__(self):
        return f"{self.provider.slug} / {self.label} ({self.mask})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class RoutingRule(models.Model):
    """How one task type is routed, as the team's draft: edited freely, published as a whole.

    targets: [{"model_id": int, "weight": int}] with weights summing to 100;
    fallbacks: [model_id, ...] tried in order when the chosen target fails.
    """

    DEFAULT_TASK = "*"

    team = models.ForeignKey(
        "dashboard.Team", on_delete=models.CASCADE, related_name="routing_rules"
    )
    task_type = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=300, blank=True)
    targets = models.JSONField(default=list)
    fallbacks = models.JSONField(default=list)
    # Bumped on every save: a save based on an older revision is refused, never merged.
    revision = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["task_type"]
        constraints = [
            models.UniqueConstraint(fields=["team", "task_type"], name="routingrule_unique_task")
        ]

    def __str__(self):
        return f"{self.team} {self.task_type}"

    @property
    def is_default(self) -> bool:
        return self.task_type == self.DEFAULT_TASK


class RoutingVersion(models.Model):
    """An immutable snapshot of all of a team's rules, as the proxy receives it."""

    team = models.ForeignKey(
        "dashboard.Team", on_delete=models.CASCADE, related_name="routing_versions"
    )
    number = models.PositiveIntegerField()
    snapshot = models.JSONField()
    comment = models.CharField(max_length=500, blank=True)
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set when this version republished an older one.
    rollback_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["team", "number"], name="routingversion_unique_number")
        ]

    def __str__(self):
        return f"{self.team} routing v{self.number}"


class ProxyInstance(models.Model):
    """A running LiteLLM proxy of the team, as its companion plugin last reported itself."""

    team = models.ForeignKey("dashboard.Team", on_delete=models.CASCADE, related_name="proxies")
    instance_id = models.CharField(max_length=100)
    host = models.CharField(max_length=255, blank=True)
    litellm_version = models.CharField(max_length=50, blank=True)
    plugin_version = models.CharField(max_length=50, blank=True)
    # The routing version the proxy has applied; None before its first.
    routing_version = models.PositiveIntegerField(null=True, blank=True)
    # Why the latest published version was not applied; "" when it was.
    routing_error = models.CharField(max_length=2000, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    spool_depth = models.PositiveBigIntegerField(default=0)
    spool_bytes = models.PositiveBigIntegerField(default=0)
    # Cumulative since the plugin started.
    shipped = models.PositiveBigIntegerField(default=0)
    dead_lettered = models.PositiveBigIntegerField(default=0)
    dropped = models.PositiveBigIntegerField(default=0)
    # Set when a report's spool depth rose above the one before; cleared when it falls or is 0.
    spool_growing_since = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team", "-last_seen_at", "instance_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "instance_id"], name="proxyinstance_unique_instance"
            )
        ]
        indexes = [models.Index(fields=["team", "last_seen_at"], name="proxyinstance_seen")]

    def __str__(self):
        return f"{self.instance_id} ({self.team})"


class RolloutState(models.TextChoices):
    WAITING = "waiting", "Step prepared, waiting to be published"
    RUNNING = "running", "Gathering evidence"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


ROLLOUT_OPEN_STATES = [RolloutState.WAITING, RolloutState.RUNNING, RolloutState.PAUSED]


class RolloutPlan(models.Model):
    """Staged growth of one candidate target's weight in one rule, each step kept only when its
    gates pass on the evidence gathered while it was live.

    steps: [{"weight": 20, "min_days": 3, "min_scored": 200, "max_error_increase_pts": "1",
    "max_p95_ratio": "1.5"}], weights rising; the rule's other targets share the rest in
    proportion to their weights when the plan began (starting_targets).
    """

    team = models.ForeignKey("dashboard.Team", on_delete=models.CASCADE, related_name="rollouts")
    task_type = models.CharField(max_length=100)
    candidate_provider = models.CharField(max_length=50)
    candidate_model = models.CharField(max_length=200)
    control_provider = models.CharField(max_length=50)
    control_model = models.CharField(max_length=200)
    steps = models.JSONField()
    starting_targets = models.JSONField()
    # The rule's targets when the current step was prepared: what a waiting plan expects to see
    # live until the step is published, and what a rollback of the step publishes again.
    from_targets = models.JSONField(default=list)
    # The step live now, or, while waiting, the step prepared for publishing.
    step = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(
        max_length=16, choices=RolloutState.choices, default=RolloutState.WAITING
    )
    step_started_at = models.DateTimeField(null=True, blank=True)
    step_version = models.PositiveIntegerField(null=True, blank=True)
    auto_advance = models.BooleanField(default=False)
    auto_rollback = models.BooleanField(default=False)
    paused_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "task_type"],
                condition=models.Q(state__in=ROLLOUT_OPEN_STATES),
                name="rolloutplan_one_open_per_rule",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=RolloutState.values), name="rolloutplan_state_valid"
            ),
        ]

    def __str__(self):
        return f"{self.team} rollout of {self.candidate_label} on {self.task_type}"

    @property
    def candidate_label(self) -> str:
        return f"{self.candidate_provider}/{self.candidate_model}"

    @property
    def control_label(self) -> str:
        return f"{self.control_provider}/{self.control_model}"

    @property
    def is_open(self) -> bool:
        return self.state in ROLLOUT_OPEN_STATES

    @property
    def current_step(self) -> dict:
        return self.steps[self.step]

    @property
    def is_last_step(self) -> bool:
        return self.step == len(self.steps) - 1


class RolloutEventKind(models.TextChoices):
    CREATED = "created", "Plan created"
    PREPARED = "prepared", "Step prepared in the draft"
    BLOCKED = "blocked", "Step not prepared"
    STEP_LIVE = "step_live", "Step live"
    PUBLISHED = "published", "Step published by the plan"
    PASSED = "passed", "Gates passed"
    PAUSED = "paused", "Paused"
    ROLLED_BACK = "rolled_back", "Rolled back by the plan"
    RESUMED = "resumed", "Resumed"
    CANCELLED = "cancelled", "Cancelled"
    COMPLETED = "completed", "Completed"


class RolloutEvent(models.Model):
    """One transition of a plan, with the evidence that decided it."""

    plan = models.ForeignKey(RolloutPlan, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16, choices=RolloutEventKind.choices)
    step = models.PositiveSmallIntegerField()
    # The version live when it happened, or the one the plan published.
    version = models.PositiveIntegerField(null=True, blank=True)
    message = models.CharField(max_length=1000)
    gates = models.JSONField(default=list, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["plan", "at"], name="rolloutevent_plan_at")]

    def __str__(self):
        return f"{self.plan}: {self.get_kind_display()}"
