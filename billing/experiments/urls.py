"""/t/<team>/routing/experiments/: served by billing, which reads usage (routing must not)."""

from django.urls import path

from billing.experiments import views

urlpatterns = [
    path("", views.experiments_page, name="experiments"),
    path("v<int:version>/", views.experiment_page, name="experiment"),
    path("v<int:version>.csv", views.experiment_csv, name="experiment_csv"),
]
