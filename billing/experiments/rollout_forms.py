"""The form ops fill in to start a rollout plan: the rule, the candidate, the control, the steps
with their gates, and what the plan may publish on its own."""

import itertools
from decimal import Decimal

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from billing.experiments.evidence import ArmRef
from billing.experiments.gates import DEFAULT_GATES, StepGates
from routing.models import Model, RolloutPlan, RolloutState
from routing.rollouts import rule_targets

MAX_STEPS = 5
DEFAULT_WEIGHTS = [20, 50, 80]


class StepForm(forms.Form):
    weight = forms.IntegerField(
        label="Candidate's share (%)",
        required=False,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text="1 to 99: a step at 100% would leave nothing to compare with.",
    )
    min_days = forms.IntegerField(
        label="Minimum days",
        required=False,
        validators=[MinValueValidator(0), MaxValueValidator(90)],
    )
    min_scored = forms.IntegerField(
        label="Minimum scored calls on the candidate",
        required=False,
        validators=[MinValueValidator(0), MaxValueValidator(10_000_000)],
    )
    max_error_increase_pts = forms.DecimalField(
        label="Error rate at most control + (points)",
        required=False,
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
    )
    max_p95_ratio = forms.DecimalField(
        label="p95 latency at most control times",
        required=False,
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal(1)), MaxValueValidator(Decimal(100))],
    )

    def clean(self):
        """A step's empty gate takes the default gate."""
        cleaned = super().clean() or {}
        for name, default in DEFAULT_GATES.items():
            if cleaned.get(name) is None and name not in self.errors:
                cleaned[name] = default
        return cleaned


class BaseStepFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        weights = [form.cleaned_data.get("weight") for form in self.forms]
        chosen = [weight for weight in weights if weight is not None]
        if not chosen:
            raise forms.ValidationError("Give at least one step a share for the candidate.")
        if any(a >= b for a, b in itertools.pairwise(chosen)):
            raise forms.ValidationError(
                "Each step must give the candidate more than the one before."
            )

    @property
    def steps(self) -> list[StepGates]:
        return [
            StepGates.of(form.cleaned_data)
            for form in self.forms
            if form.cleaned_data.get("weight") is not None
        ]


StepFormSet = forms.formset_factory(
    StepForm, formset=BaseStepFormSet, extra=0, min_num=MAX_STEPS, max_num=MAX_STEPS
)


def step_initial() -> list[dict]:
    gates = dict(DEFAULT_GATES)
    rows = [gates | {"weight": weight} for weight in DEFAULT_WEIGHTS]
    return rows + [gates | {"weight": None}] * (MAX_STEPS - len(rows))


def _label(ref: dict) -> str:
    return f"{ref['provider']}/{ref['model']}"


class RolloutPlanForm(forms.Form):
    task_type = forms.ChoiceField(label="Rule")
    candidate = forms.ChoiceField(label="Candidate target")
    control = forms.ChoiceField(
        label="Control arm",
        required=False,
        help_text="What the candidate is measured against; by default the rule's most "
        "expensive other target.",
    )
    auto_advance = forms.BooleanField(
        label="Publish each next step automatically when its gates pass",
        required=False,
        help_text="Only ever over a draft without unpublished edits; otherwise the step waits "
        "in the draft for a person. The first step is always published by a person.",
    )
    auto_rollback = forms.BooleanField(
        label="Publish the previous step again when a gate fails",
        required=False,
    )

    def __init__(self, *args, team, live_snapshot: list[dict], incumbent_of, **kwargs):
        super().__init__(*args, **kwargs)
        self.team, self.live = team, live_snapshot
        self.incumbent_of = incumbent_of
        rules = [rule for rule in live_snapshot if rule.get("enabled", True)]
        self.fields["task_type"].choices = [  # type: ignore[attr-defined]
            (rule["task_type"], "default (*)" if rule["task_type"] == "*" else rule["task_type"])
            for rule in rules
        ]
        models = Model.objects.select_related("provider").filter(enabled=True)
        groups: dict[str, list] = {}
        for model in models.order_by("provider__name", "name"):
            groups.setdefault(model.provider.name, []).append(
                (f"{model.provider.slug}/{model.name}", model.label)
            )
        self.fields["candidate"].choices = [("", "Choose a model"), *groups.items()]  # type: ignore[attr-defined]
        targets = sorted({_label(t) for rule in rules for t in rule["targets"]})
        self.fields["control"].choices = [("", "The most expensive other target")] + [  # type: ignore[attr-defined]
            (label, label) for label in targets
        ]

    @staticmethod
    def _ref(label: str) -> ArmRef:
        provider, model = label.split("/", 1)
        return ArmRef(provider, model)

    def clean(self):
        cleaned = super().clean() or {}
        task_type, candidate = cleaned.get("task_type"), cleaned.get("candidate")
        if not task_type or not candidate:
            return cleaned
        targets = rule_targets(self.live, task_type) or []
        labels = [_label(t) for t in targets]
        others = [label for label in labels if label != candidate]
        if not others:
            raise forms.ValidationError(
                "The rule has no other target to compare the candidate with: add the incumbent "
                "to the rule first."
            )
        control = cleaned.get("control") or ""
        if control and control not in labels:
            self.add_error("control", f"{control} is not a target of the {task_type} rule.")
        elif control == candidate:
            self.add_error("control", "The control must be another target than the candidate.")
        else:
            cleaned["control_ref"] = (
                self._ref(control)
                if control
                else self.incumbent_of([self._ref(label) for label in others])
            )
        cleaned["candidate_ref"] = self._ref(candidate)
        open_plan = RolloutPlan.objects.filter(
            team=self.team,
            task_type=task_type,
            state__in=[RolloutState.WAITING, RolloutState.RUNNING, RolloutState.PAUSED],
        ).exists()
        if open_plan:
            self.add_error(
                "task_type", "This rule already has an open plan: finish or cancel it first."
            )
        cleaned["live_weight"] = sum(t["weight"] for t in targets if _label(t) == candidate)
        return cleaned
