"""The daily fetch of the ECB's reference rates (billing.fx), recorded for the Scheduled jobs
page."""

from celery import shared_task

from billing import fx
from dashboard.jobs import recorded_run


@shared_task(name="billing.fx_tasks.fetch_fx_rates")
def fetch_fx_rates() -> None:
    """Store the day's ECB reference rates (the 90-day history when some are missing); a
    source that is down or a bad answer is recorded as degraded, not raised."""
    with recorded_run("fetch_fx_rates") as run:
        result = fx.fx_rates_fetch()
        run.detail = result.summary()
        if result.error:
            run.mark_degraded(run.detail)
