import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0022_usage_end_user_api_key_alias"),
        ("dashboard", "0014_sso_identity"),
    ]

    operations = [
        migrations.CreateModel(
            name="IngestTally",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("accepted", models.BigIntegerField(default=0)),
                ("duplicates", models.BigIntegerField(default=0)),
                ("rejected", models.BigIntegerField(default=0)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "team",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="ingest_tally",
                        to="dashboard.team",
                    ),
                ),
            ],
        ),
    ]
