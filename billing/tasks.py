from celery import shared_task

from billing import tao_feed
from dashboard.jobs import recorded_run


@shared_task(name="billing.tasks.poll_tao_price")
def poll_tao_price() -> None:
    """Store TAO/USD from the configured source; a bad or missing answer is recorded, not raised.
    A poll that stored nothing because every source failed is recorded as degraded."""
    with recorded_run("poll_tao_price") as run:
        result = tao_feed.tao_price_poll()
        run.detail = result.summary()
        if result.stored is None:
            run.mark_degraded(result.summary())
