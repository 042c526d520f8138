"""What each kind of alert rule takes: its params with their defaults (the contract with the
rules page), which kinds may be global, and reading a rule's params for its check.

The error-rate and latency kinds have two modes: "threshold" (a fixed limit over a window) and
"anomaly" (the last complete day against the same weekdays before it, billing.alerts.anomaly).
A threshold rule's params leave out those only anomaly mode reads."""

from decimal import Decimal, InvalidOperation

from billing.alerts.anomaly import MAX_WEEKS, MIN_WEEKS
from billing.models import AlertKind, AlertRule

# Each kind's params and their defaults: the contract with the rules page.
DEFAULT_PARAMS = {
    AlertKind.TAO_PRICE_SPIKE: {"threshold_pct": 10, "window_minutes": 60, "direction": "both"},
    AlertKind.TAO_PRICE_STALE: {"minutes": 30},
    # Fewer than two TAO price sources fresh and agreeing (billing.tao_feed) for this long.
    AlertKind.TAO_PRICE_DEGRADED: {"minutes": 15},
    AlertKind.BUDGET_THRESHOLD: {"currency": "both"},
    AlertKind.BUDGET_FORECAST: {},
    AlertKind.ERROR_RATE: {
        "threshold_pct": 5,
        "window_minutes": 60,
        "min_requests": 50,
        "provider": "",
        "model": "",
        "mode": "threshold",
        "deviations": 4,
        "min_points": 2,
        "weeks": 6,
    },
    AlertKind.LATENCY_P95: {
        "threshold_ms": 10000,
        "window_minutes": 60,
        "min_requests": 50,
        "provider": "",
        "model": "",
        "mode": "threshold",
        "deviations": 4,
        "min_ms": 2000,
        "weeks": 6,
    },
    AlertKind.QUALITY_DROP: {
        "min_score": 0.7,
        "window_minutes": 1440,
        "min_samples": 30,
        "provider": "",
        "model": "",
    },
    AlertKind.PROXY_STALE: {"unseen_minutes": 10, "behind_minutes": 5, "spool_minutes": 15},
    # Judges complete days only (yesterday in the team's time zone), never today so far.
    AlertKind.SPEND_ANOMALY: {"deviations": 4, "min_usd": 20, "weeks": 6, "scope": "all"},
    # A team's TAO treasury (billing.treasury): the Chutes account alone, or with the wallet.
    AlertKind.TAO_RUNWAY: {"days": 14, "burn_days": 7, "balance": "account"},
    AlertKind.TAO_BALANCE: {"tao": 10, "balance": "account"},
}
CHOICES = {
    "direction": {"both", "up", "down"},
    "currency": {"both", "usd", "tao"},
    "mode": {"threshold", "anomaly"},
    "scope": {"all", "team", "provider", "task_type", "api_key_alias"},
    "balance": {"account", "total"},
}
WHOLE_PARAMS = {"window_minutes", "minutes", "min_requests", "min_samples", "threshold_ms"}
WHOLE_PARAMS |= {"unseen_minutes", "behind_minutes", "spool_minutes", "weeks", "min_ms"}
WHOLE_PARAMS |= {"days", "burn_days"}
DECIMAL_PARAMS = {"threshold_pct", "min_score", "deviations", "min_usd", "min_points"}
DECIMAL_PARAMS |= {"tao"}
# Params with limits of their own (inclusive); the other numbers only may not be negative.
LIMITS = {
    "weeks": (MIN_WEEKS, MAX_WEEKS),
    "deviations": (Decimal(1), Decimal(20)),
    "min_usd": (Decimal("0.01"), None),
    "min_points": (Decimal("0.01"), Decimal(100)),
    "min_ms": (1, None),
    "days": (1, None),
    "burn_days": (1, 90),
}
# Read only in anomaly mode: a threshold rule's params leave them out.
ANOMALY_MODE_PARAMS = {"mode", "deviations", "min_points", "min_ms", "weeks"}

# Kinds about TAO itself, not about one team's usage: their rules may be global (no team).
GLOBAL_KINDS = {AlertKind.TAO_PRICE_SPIKE, AlertKind.TAO_PRICE_STALE, AlertKind.TAO_PRICE_DEGRADED}


def params_of(rule: AlertRule) -> dict:
    """The rule's params over its kind's defaults, numbers as numbers; ValueError on nonsense
    and on params the kind does not take."""
    defaults = DEFAULT_PARAMS[rule.kind]
    unknown = sorted((rule.params or {}).keys() - defaults.keys())
    if unknown:
        raise ValueError(f"{AlertKind(rule.kind).label} takes no {', '.join(unknown)}")
    params = {**defaults, **(rule.params or {})}
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
    if params.get("mode") == "threshold":
        params = {name: value for name, value in params.items() if name not in ANOMALY_MODE_PARAMS}
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
    low, high = LIMITS.get(name, (None, None))
    if low is not None and number < low:
        raise ValueError(f"{name} must be at least {low}, not {value!r}")
    if high is not None and number > high:
        raise ValueError(f"{name} must be at most {high}, not {value!r}")
    return number
