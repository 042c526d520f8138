"""What the routing change prepared from an alert covers, where the weight goes, what it costs.

The alert's evidence (calls per model and task type, stored when it was evaluated) scopes the
change to the failing models in the rules that route the failing task types; prices choose
each rule's default destination; the simulator prices live against the proposal.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django import forms
from django.utils import timezone

from billing.alerts.messages import ROUTING_KINDS
from billing.costing import PriceBook, cost_of
from billing.ingest.events import TOKEN_FIELDS
from billing.models import Alert, AlertState
from billing.simulate import DAYS_IN_MONTH, TaskMix, latest_tao_usd, project, task_mix
from routing.models import Model
from routing.proposals import (
    Proposal,
    draft_conflicts,
    draft_departures,
    failing_by_rule,
    proposal_base,
    proposal_without,
    remaining_refs,
)

# The evidence's largest model/task-type pairs, until they hold this share of its calls.
DOMINANT_SHARE = Decimal("0.8")
MILLION_EACH = dict.fromkeys(TOKEN_FIELDS, 0) | {
    "input_tokens": 1_000_000,
    "output_tokens": 1_000_000,
}


@dataclass
class AlertScope:
    """The failing models and task types a change answers, and the evidence for them."""

    provider: str
    calls: dict[str, list[str]] = field(default_factory=dict)  # model -> task types
    covered: int = 0  # the calls those pairs hold
    total: int = 0  # all calls of the evidence
    failed: bool = True  # the evidence counts failed calls (else: all calls in the window)
    pairs: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def from_evidence(self) -> bool:
        return bool(self.calls)


def _dominant(counts: dict[str, dict[str, int]]) -> tuple[list[tuple[str, str, int]], int]:
    pairs = sorted(
        ((model, task, n) for model, by_task in counts.items() for task, n in by_task.items()),
        key=lambda pair: (-pair[2], pair[0], pair[1]),
    )
    total = sum(n for _, _, n in pairs)
    chosen, covered = [], 0
    for pair in pairs:
        if total and covered >= DOMINANT_SHARE * total:
            break
        chosen.append(pair)
        covered += pair[2]
    return chosen, total


def alert_scope(alert: Alert) -> AlertScope:
    """The alert's model (or, when it names only a provider, the evidence's dominant models) in
    the task types its evidence names. Failed calls decide for an error alert, all calls of
    the window otherwise. An alert stored without evidence gets an empty scope."""
    details = alert.details
    scope = AlertScope(provider=details.get("provider", ""))
    counts = details.get("failed_calls") if alert.rule.kind == "error_rate" else None
    if not counts:
        counts, scope.failed = details.get("calls") or {}, False
    if details.get("model"):
        counts = {details["model"]: counts.get(details["model"], {})}
    scope.pairs, scope.total = _dominant(counts)
    for model, task_type, n in scope.pairs:
        scope.calls.setdefault(model, []).append(task_type)
        scope.covered += n
    return scope


def rules_in_scope(base: list[dict], scope: AlertScope, *, model: str) -> dict[str, set[str]]:
    """Rule task type -> the failing models it targets. Without evidence: every rule that
    targets the provider (or the alert's model)."""
    if scope.from_evidence:
        return failing_by_rule(base, provider=scope.provider, calls=scope.calls)
    by_rule = {}
    for rule in base:
        names = {
            t["model"]
            for t in rule["targets"]
            if t["provider"] == scope.provider and (not model or t["model"] == model)
        }
        if names:
            by_rule[rule["task_type"]] = names
    return by_rule


def unhealthy_refs(alert: Alert) -> list[tuple[str, str]]:
    """(provider, model or "") of the team's other open alerts about a routing target."""
    others = (
        Alert.objects.filter(
            team_id=alert.team_id,
            rule__kind__in=ROUTING_KINDS,
            state__in=[AlertState.FIRING, AlertState.ACKNOWLEDGED],
        )
        .exclude(pk=alert.pk)
        .values_list("details", flat=True)
    )
    return [(d.get("provider", ""), d.get("model", "")) for d in others if d.get("provider")]


def _healthy(ref: dict, unhealthy: list[tuple[str, str]]) -> bool:
    return not any(
        ref["provider"] == provider and (not model or ref["model"] == model)
        for provider, model in unhealthy
    )


def ref_key(ref: dict) -> str:
    return f"{ref['provider']}/{ref['model']}"


def ref_of(key: str) -> dict:
    provider, _, model = key.partition("/")
    return {"provider": provider, "model": model}


@dataclass
class RuleChoice:
    """Where one rule's freed weight may go: its remaining refs first, then any priced model."""

    task_type: str
    failing: list[str]
    freed: int
    choices: list[tuple[str, str]]
    default: str  # "" when the rule has nowhere left to go

    @property
    def field_name(self) -> str:
        return f"to-{self.task_type}"


class Pricer:
    """Monthly-comparable cost of a token mix on a provider/model, at today's prices."""

    def __init__(self, team):
        self.team, self.book, self.now = team, PriceBook.current(), timezone.now()

    def price(self, ref: dict):
        resolved = self.book.resolve(ref["provider"], ref["model"])
        return self.book.price_on(resolved.model, self.now, team_id=self.team.pk)

    def cost(self, ref: dict, tokens: dict[str, int]) -> Decimal | None:
        price = self.price(ref)
        return None if price is None else cost_of(price=price, **tokens)

    def priced_refs(self) -> list[dict]:
        models = Model.objects.filter(enabled=True).select_related("provider")
        refs = [{"provider": m.provider.slug, "model": m.name} for m in models]
        return sorted((r for r in refs if self.price(r) is not None), key=ref_key)


def _monthly_tokens(mix: TaskMix, task_type: str) -> dict[str, int] | None:
    """The tokens a month of the rule's traffic needs (None when the window has none)."""
    task_types = list(mix.tokens) if task_type == "*" else [task_type]
    tokens = dict.fromkeys(TOKEN_FIELDS, 0)
    for name in task_types:
        for field_name, count in mix.tokens.get(name, {}).items():
            tokens[field_name] += int(count * DAYS_IN_MONTH / mix.days)
    return tokens if any(tokens.values()) else None


def _default_destination(groups: list[list[dict]], cost: dict, unhealthy) -> str:
    """The cheapest healthy ref of the first group that has one (unpriced ones last)."""
    for group in groups:
        healthy = [ref for ref in group if _healthy(ref, unhealthy)]
        if healthy:
            return ref_key(min(healthy, key=lambda ref: _sort_cost(cost[ref_key(ref)])))
    return next((ref_key(ref) for group in groups for ref in group), "")


def rule_choices(
    base: list[dict],
    by_rule: dict[str, set[str]],
    *,
    provider: str,
    pricer: Pricer,
    mix: TaskMix,
    unhealthy: list[tuple[str, str]],
) -> list[RuleChoice]:
    """Each rule in scope with its destinations; the default is the cheapest healthy remaining
    target (then fallback), priced on a month of the rule's own traffic."""
    rules = {rule["task_type"]: rule for rule in base}
    priced = pricer.priced_refs()
    result = []
    for task_type, models in sorted(by_rule.items()):
        rule = rules[task_type]
        remaining = remaining_refs(rule, provider=provider, models=models)
        failing = [{"provider": provider, "model": name} for name in models]
        others = [r for r in priced if r not in remaining and r not in failing]
        monthly = _monthly_tokens(mix, task_type)
        tokens = monthly or MILLION_EACH
        cost = {ref_key(r): pricer.cost(r, tokens) for r in [*remaining, *others]}
        targets = [r for r in remaining if _is_target(r, rule)]
        fallbacks = [r for r in remaining if not _is_target(r, rule)]
        roles = [(r, "the rule's target") for r in targets]
        roles += [(r, "the rule's fallback") for r in fallbacks]
        roles += [(r, "any priced model") for r in others]
        choices = [
            (ref_key(r), _choice_label(r, role, cost[ref_key(r)], per_month=bool(monthly)))
            for r, role in roles
        ]
        default = _default_destination([targets, fallbacks], cost, unhealthy)
        freed = sum(t["weight"] for t in rule["targets"] if not _is_remaining(t, remaining))
        result.append(RuleChoice(task_type, sorted(models), freed, choices, default))
    return result


def _is_target(ref: dict, rule: dict) -> bool:
    return any(ref_key(target) == ref_key(ref) for target in rule["targets"])


def _is_remaining(target: dict, remaining: list[dict]) -> bool:
    return any(ref_key(target) == ref_key(ref) for ref in remaining)


def _sort_cost(cost: Decimal | None) -> tuple[int, Decimal]:
    return (1, Decimal(0)) if cost is None else (0, cost)


def _choice_label(ref: dict, role: str, cost: Decimal | None, *, per_month: bool) -> str:
    if cost is None:
        return f"{ref_key(ref)} ({role}, unpriced)"
    unit = (
        "a month if it took all of the rule's traffic"
        if per_month
        else "per 1M input + 1M output tokens"
    )
    return f"{ref_key(ref)} ({role}, ${cost.quantize(Decimal('0.01'))} {unit})"


class DestinationForm(forms.Form):
    """One choice per rule in scope: where its failing targets' weight goes."""

    def __init__(self, *args, rules: list[RuleChoice], **kwargs):
        super().__init__(*args, **kwargs)
        self.rules = rules
        for rule in rules:
            choices = rule.choices if rule.default else [("", "Leave it as it is"), *rule.choices]
            self.fields[rule.field_name] = forms.ChoiceField(
                label=f"Weight of {rule.task_type} goes to",
                choices=choices,
                initial=rule.default,
                required=False,
            )

    def destinations(self) -> dict[str, dict]:
        """Rule task type -> the chosen destination (defaults where nothing valid was chosen)."""
        chosen = self.cleaned_data if self.is_bound and self.is_valid() else {}
        result = {}
        for rule in self.rules:
            key = chosen.get(rule.field_name) or rule.default
            if key:
                result[rule.task_type] = ref_of(key)
        return result

    def field_rows(self):
        return [(rule, self[rule.field_name]) for rule in self.rules]


def cost_change(sim, before: list[dict], *, live: bool) -> dict | None:
    """Monthly USD of the base (live) and of the proposal, and the change between them."""
    if live:
        base = sim.published
    else:
        base = project(sim.mix, before, book=PriceBook.current(), tao_usd=latest_tao_usd())
    if base is None or base.monthly_usd is None or sim.candidate.monthly_usd is None:
        return None
    delta = sim.candidate.monthly_usd - base.monthly_usd
    return {
        "before": base.monthly_usd,
        "after": sim.candidate.monthly_usd,
        "delta": abs(delta),
        "more": delta > 0,
        "percent": abs(delta) / base.monthly_usd * 100 if base.monthly_usd else None,
    }


@dataclass
class PreparedChange:
    """Everything the page shows about one alert's routing change."""

    scope: AlertScope
    live: bool  # the proposal starts from the latest published version
    base: list[dict]
    rules: list[RuleChoice]
    form: DestinationForm
    proposal: Proposal
    departures: list[str]  # how the draft differs from live
    conflicts: list[str]  # rules the change touches that the draft has edited since


def routing_change_prepare(*, team, alert: Alert, data=None, days: int) -> PreparedChange:
    """The scoped proposal from the live routing for the alert, with the chosen destinations
    (`data`: the submitted choices, None for the defaults)."""
    scope = alert_scope(alert)
    base, live = proposal_base(team)
    by_rule = rules_in_scope(base, scope, model=alert.details.get("model", ""))
    rules = rule_choices(
        base,
        by_rule,
        provider=scope.provider,
        pricer=Pricer(team),
        mix=task_mix(team, days=days),
        unhealthy=unhealthy_refs(alert),
    )
    form = DestinationForm(data, rules=rules)
    proposal = proposal_without(
        base, provider=scope.provider, only=by_rule, destinations=form.destinations()
    )
    departures = draft_departures(team, base) if live else []
    conflicts = draft_conflicts(team, proposal) if departures else []
    return PreparedChange(scope, live, base, rules, form, proposal, departures, conflicts)
