"""Saving a team's settings, and what a change of time zone rebuilds; a member's own display
currency.

The one place dashboard's pages write through billing (the overview reads through it too): the
team's days are billing's daily rollups, grouped in the team's zone.
"""

from django.db import transaction

from billing.rollups import daily_rollups_refresh
from dashboard.forms import TeamSettingsForm
from dashboard.models import Membership, Team


def team_settings_save(*, team: Team, form: TeamSettingsForm) -> None:
    """Save a valid settings form. A new time zone regroups the team's hours into its new days in
    the same transaction, so no chart ever mixes two zones' days."""
    with transaction.atomic():
        form.save()
        if "time_zone" in form.changed_data:
            daily_rollups_refresh(team)


def member_currency_save(*, membership: Membership, currency: str) -> None:
    """The member's own display currency in the team; empty goes back to the team's."""
    membership.display_currency = currency
    membership.save(update_fields=["display_currency"])
