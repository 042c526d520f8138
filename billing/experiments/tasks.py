"""The beat job that checks every open rollout plan."""

from celery import shared_task

from billing.experiments.plans import rollouts_evaluate
from dashboard.jobs import recorded_run


class PlansFailed(Exception):
    """Some plans could not be checked; the others were."""


@shared_task(name="billing.experiments.tasks.evaluate_rollouts")
def evaluate_rollouts() -> str:
    with recorded_run("evaluate_rollouts") as run:
        result = rollouts_evaluate()
        run.detail = result.summary
        if result.failed:
            raise PlansFailed(result.summary)
    return result.summary
