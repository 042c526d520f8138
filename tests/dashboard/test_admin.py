import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from tests.factories import ModelPriceFactory

OUR_APPS = ["dashboard", "routing", "billing"]


@pytest.mark.parametrize(
    "model",
    [
        m
        for app in OUR_APPS
        for m in apps.get_app_config(app).get_models()
        # Django's admin refuses composite primary keys (the ids a team has sent).
        if not m._meta.is_composite_pk
    ],
    ids=lambda m: m._meta.label,
)
def test_every_model_has_a_working_admin(superuser_client, model):
    assert admin.site.is_registered(model)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert superuser_client.get(url).status_code == 200


def test_the_admin_shows_prices_read_only(superuser_client):
    price = ModelPriceFactory()
    page = superuser_client.get(reverse("admin:billing_modelprice_change", args=[price.pk]))
    assert page.status_code == 200
    assert 'name="input_per_mtok"' not in page.content.decode()
