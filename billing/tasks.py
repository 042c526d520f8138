from celery import shared_task

from billing import retention, tao_feed
from dashboard.jobs import recorded_run


@shared_task(name="billing.tasks.poll_tao_price")
def poll_tao_price() -> None:
    """Store TAO/USD, the median of the price sources; a bad or missing answer is recorded, not
    raised. A poll that stored nothing, or a degraded price (fewer than two fresh sources), is
    recorded as degraded, with the sources that failed."""
    with recorded_run("poll_tao_price") as run:
        result = tao_feed.tao_price_poll()
        run.detail = result.summary()
        if result.stored is None or result.stored.degraded:
            run.mark_degraded(result.summary())


@shared_task(name="billing.tasks.drop_raw_usage")
def drop_raw_usage() -> None:
    """Drop the months of raw usage events past the retention setting; a month held because
    some team has not closed it is recorded as degraded, naming the teams."""
    with recorded_run("drop_raw_usage") as run:
        result = retention.usage_raw_drop()
        run.detail = result.summary()
        if result.held is not None:
            run.mark_degraded(run.detail)
