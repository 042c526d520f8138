"""Team pages for the team's own prices, under /t/<team>/prices/ (included by dashboard.urls)."""

from django.urls import path

from billing import views_team_prices

urlpatterns = [
    path("prices/", views_team_prices.team_prices_page, name="team_prices"),
    path("prices/add/", views_team_prices.team_price_add_view, name="team_price_add"),
]
