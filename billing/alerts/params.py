"""What each kind of alert rule takes: its params with their defaults (the contract with the
rules page), which kinds may be global, and reading a rule's params for its check."""

from decimal import Decimal, InvalidOperation

from billing.models import AlertKind, AlertRule

# Each kind's params and their defaults: the contract with the rules page.
DEFAULT_PARAMS = {
    AlertKind.TAO_PRICE_SPIKE: {"threshold_pct": 10, "window_minutes": 60, "direction": "both"},
    AlertKind.TAO_PRICE_STALE: {"minutes": 30},
    AlertKind.BUDGET_THRESHOLD: {"currency": "both"},
    AlertKind.BUDGET_FORECAST: {},
    AlertKind.ERROR_RATE: {
        "threshold_pct": 5,
        "window_minutes": 60,
        "min_requests": 50,
        "provider": "",
        "model": "",
    },
    AlertKind.LATENCY_P95: {
        "threshold_ms": 10000,
        "window_minutes": 60,
        "min_requests": 50,
        "provider": "",
        "model": "",
    },
    AlertKind.QUALITY_DROP: {
        "min_score": 0.7,
        "window_minutes": 1440,
        "min_samples": 30,
        "provider": "",
        "model": "",
    },
    AlertKind.PROXY_STALE: {"unseen_minutes": 10, "behind_minutes": 5, "spool_minutes": 15},
}
CHOICES = {"direction": {"both", "up", "down"}, "currency": {"both", "usd", "tao"}}
WHOLE_PARAMS = {"window_minutes", "minutes", "min_requests", "min_samples", "threshold_ms"}
WHOLE_PARAMS |= {"unseen_minutes", "behind_minutes", "spool_minutes"}
DECIMAL_PARAMS = {"threshold_pct", "min_score"}

# Kinds about TAO itself, not about one team's usage: their rules may be global (no team).
GLOBAL_KINDS = {AlertKind.TAO_PRICE_SPIKE, AlertKind.TAO_PRICE_STALE}


def params_of(rule: AlertRule) -> dict:
    """The rule's params over its kind's defaults, numbers as numbers; ValueError on nonsense."""
    params = {**DEFAULT_PARAMS[rule.kind], **(rule.params or {})}
    for name, value in params.items():
        if name in WHOLE_PARAMS:
            params[name] = _param_number(name, value, int)
        elif name in DECIMAL_PARAMS:
            params[name] = _param_number(name, value, lambda v: Decimal(str(v)))
        elif name in CHOICES:
            if value not in CHOICES[name]:
                raise ValueError(f"{name} must be one of {sorted(CHOICES[name])}, not {value!r}")
        elif name in ("provider", "model"):
            params[name] = str(value or "").strip()
    return params


def _param_number(name, value, kind):
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, not {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError, InvalidOperation):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if isinstance(number, Decimal) and not number.is_finite():
        raise ValueError(f"{name} must be a number, not {value!r}")
    if number < 0 or (name.endswith("minutes") and number < 1):
        raise ValueError(f"{name} must be positive, not {value!r}")
    return number
