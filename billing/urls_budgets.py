"""Team pages for budgets, under /t/<team>/budgets/ (included by dashboard.urls)."""

from django.urls import path

from dashboard import views

urlpatterns = [
    path("budgets/", views.budgets_page, name="budgets"),
]
