"""/t/<team>/routing/rollouts/: served by billing, whose evidence decides each step."""

from django.urls import path

from billing.experiments import views_rollouts

urlpatterns = [
    path("", views_rollouts.rollouts_page, name="rollouts"),
    path("new/", views_rollouts.rollout_new, name="rollout_new"),
    path("<int:plan_id>/check/", views_rollouts.rollout_check, name="rollout_check"),
    path("<int:plan_id>/resume/", views_rollouts.rollout_resume_view, name="rollout_resume"),
    path("<int:plan_id>/cancel/", views_rollouts.rollout_cancel_view, name="rollout_cancel"),
]
