from django.urls import path

from billing import views

urlpatterns = [
    path("", views.catalog, name="catalog"),
    path("models/add/", views.model_add, name="catalog_model_add"),
    path("models/<int:model_id>/prices/", views.model_prices, name="catalog_model_prices"),
    path("prices/add/", views.price_add_view, name="catalog_price_add"),
]
