"""Which provider and model a proxy should try, for a task type and a request id."""

import hashlib

DEFAULT_TASK = "*"


def _point(request_id: str) -> float:
    """A stable number in [0, 100) for the request id: the same id always lands the same."""
    digest = hashlib.sha256(request_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def resolve_route(rules: list[dict], task_type: str, request_id: str) -> list[tuple[str, str]]:
    """The ordered (provider, model) list to try: the weighted pick, then the fallbacks.

    `rules` is a published snapshot. Unknown or disabled task types use the default rule (*).
    """
    by_task = {rule["task_type"]: rule for rule in rules if rule.get("enabled", True)}
    rule = by_task.get(task_type) or by_task.get(DEFAULT_TASK)
    if rule is None:
        return []
    point, reached = _point(request_id), 0.0
    chosen = rule["targets"][-1]
    for target in rule["targets"]:
        reached += target["weight"]
        if point < reached and target["weight"] > 0:
            chosen = target
            break
    order = [(chosen["provider"], chosen["model"])]
    for fallback in rule["fallbacks"]:
        pair = (fallback["provider"], fallback["model"])
        if pair not in order:
            order.append(pair)
    return order
