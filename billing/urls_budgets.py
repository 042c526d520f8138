"""Team pages for budgets, under /t/<team>/budgets/ (included by dashboard.urls)."""

from django.urls import path

from billing import views_budgets

urlpatterns = [
    path("budgets/", views_budgets.budgets_page, name="budgets"),
    path("budgets/new/", views_budgets.budget_edit, name="budget_new"),
    path("budgets/<int:budget_id>/edit/", views_budgets.budget_edit, name="budget_edit"),
    path("budgets/<int:budget_id>/delete/", views_budgets.budget_delete_view, name="budget_delete"),
]
