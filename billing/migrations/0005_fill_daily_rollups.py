import zoneinfo

from django.db import migrations
from django.db.models import Sum
from django.db.models.functions import TruncDate

DAY_KEY = ["day", "provider_name", "model_name", "task_type", "status"]
SKIP = {"id", "team", "hour", "provider_name", "model_name", "task_type", "status"}


def fill_daily_rollups(apps, schema_editor):
    """Group the existing hourly rollups into team days, so the overview shows past usage."""
    Team = apps.get_model("dashboard", "Team")
    UsageRollup = apps.get_model("billing", "UsageRollup")
    UsageDailyRollup = apps.get_model("billing", "UsageDailyRollup")
    sums = [f.name for f in UsageRollup._meta.concrete_fields if f.name not in SKIP]
    for team in Team.objects.all():
        zone = zoneinfo.ZoneInfo(team.time_zone)
        rows = (
            UsageRollup.objects.filter(team=team)
            .annotate(day=TruncDate("hour", tzinfo=zone))
            .values(*DAY_KEY)
            .annotate(**{f"sum_{name}": Sum(name) for name in sums})
            .order_by()
        )
        UsageDailyRollup.objects.bulk_create(
            [
                UsageDailyRollup(
                    team=team,
                    **{name: row[name] for name in DAY_KEY},
                    **{name: row[f"sum_{name}"] for name in sums},
                )
                for row in rows
            ],
            batch_size=500,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_usagedailyrollup"),
        ("dashboard", "0005_team_target_provider_team_target_share_max_and_more"),
    ]

    operations = [migrations.RunPython(fill_daily_rollups, migrations.RunPython.noop)]
