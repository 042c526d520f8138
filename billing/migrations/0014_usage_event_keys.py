import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def keys_backfill(apps, schema_editor):
    """Every event id stored so far becomes a key, before the events' own unique index goes."""
    schema_editor.execute(
        "INSERT INTO billing_usageeventkey (team_id, event_id) "
        "SELECT team_id, event_id FROM billing_usageevent"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0013_alert_preference"),
        ("dashboard", "0011_jobrun_outcome_degraded"),
        ("routing", "0004_proxyinstance"),
    ]

    operations = [
        migrations.CreateModel(
            name="RawUsageRemoval",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField(help_text="First day of the UTC month.", unique=True)),
                ("removed_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("events", models.BigIntegerField(help_text="How many raw events were removed.")),
            ],
            options={"ordering": ["month"]},
        ),
        migrations.CreateModel(
            name="UsageEventKey",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="dashboard.team",
                    ),
                ),
                ("event_id", models.CharField(max_length=255)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("team", "event_id"), name="usageeventkey_unique"
                    )
                ],
            },
        ),
        migrations.RunPython(keys_backfill, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="usageevent", name="usageevent_unique_team_id"),
        migrations.AlterField(
            model_name="usageevent",
            name="model",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="routing.model",
            ),
        ),
        migrations.AlterField(
            model_name="usageevent",
            name="price",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="billing.modelprice",
            ),
        ),
        migrations.AlterField(
            model_name="usageevent",
            name="provider",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="routing.provider",
            ),
        ),
        migrations.AlterField(
            model_name="usageevent",
            name="team",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="dashboard.team",
            ),
        ),
        migrations.AlterField(
            model_name="usageevent",
            name="team_price",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="billing.teammodelprice",
            ),
        ),
    ]
