from django.conf import settings
from django.db import models
from django.utils import timezone

from routing.models import Model

PRICE_DIGITS = {"max_digits": 14, "decimal_places": 6}


class ModelPriceQuerySet(models.QuerySet):
    def in_force_on(self, day):
        return self.filter(effective_from__lte=day).order_by("model_id", "-effective_from")


class ModelPrice(models.Model):
    """USD per million tokens for a model from a date on; rows are never edited, only superseded.

    Empty cached-input or cache-write rates mean the provider charges those tokens as input.
    """

    model = models.ForeignKey(Model, on_delete=models.PROTECT, related_name="prices")
    effective_from = models.DateField()
    input_per_mtok = models.DecimalField(**PRICE_DIGITS)
    output_per_mtok = models.DecimalField(**PRICE_DIGITS)
    cached_input_per_mtok = models.DecimalField(**PRICE_DIGITS, null=True, blank=True)
    cache_write_per_mtok = models.DecimalField(**PRICE_DIGITS, null=True, blank=True)
    source = models.CharField(max_length=300)
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
            models.CheckConstraint(
                condition=models.Q(input_per_mtok__gte=0, output_per_mtok__gte=0),
                name="modelprice_not_negative",
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
                name="modelprice_cache_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.model} from {self.effective_from}"
