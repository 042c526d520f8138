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
