"""/t/<team>/treasury/: the TAO treasury page, its CSV, and the lot and transfer forms."""

from django.urls import path

from billing.treasury import views

urlpatterns = [
    path("", views.treasury_page, name="treasury"),
    path("treasury.csv", views.treasury_csv, name="treasury_csv"),
    path("lots/new/", views.lot_edit, name="treasury_lot_new"),
    path("lots/<int:lot_id>/edit/", views.lot_edit, name="treasury_lot_edit"),
    path("lots/<int:lot_id>/delete/", views.lot_delete, name="treasury_lot_delete"),
    path("transfers/new/", views.transfer_edit, name="treasury_transfer_new"),
    path("transfers/<int:transfer_id>/edit/", views.transfer_edit, name="treasury_transfer_edit"),
    path(
        "transfers/<int:transfer_id>/delete/",
        views.transfer_delete,
        name="treasury_transfer_delete",
    ),
]
