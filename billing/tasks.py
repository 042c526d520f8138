from celery import shared_task

from billing import tao_feed
from dashboard.jobs import recorded_run


@shared_task(name="billing.tasks.poll_tao_price")
def poll_tao_price() -> None:
    """Store TAO/USD from the configured source; a bad or missing answer is recorded, not raised."""
    with recorded_run("poll_tao_price") as run:
        run.detail = tao_feed.tao_price_poll().summary()
