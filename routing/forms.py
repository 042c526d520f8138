from django import forms

from routing.models import Provider
from routing.rules import WEIGHT_ERROR, RuleCheck, check_rule, weight_is_valid


def _secret_field(label: str) -> forms.CharField:
    # Blank is left to routing.keys, which says what is wrong; the value is never rendered back.
    return forms.CharField(
        label=label,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted; shown from now on only as its mask and fingerprint.",
    )


class KeyAddForm(forms.Form):
    provider = forms.ModelChoiceField(
        queryset=Provider.objects.all(),
        empty_label=None,
        error_messages={"invalid_choice": "Choose one of the providers in the list."},
    )
    label = forms.CharField(
        max_length=100,
        required=False,
        help_text="What it is for, e.g. prod or staging: the proxy sees it beside the key.",
    )
    secret = _secret_field("API key")


class KeyRotateForm(forms.Form):
    secret = _secret_field("New API key")


def _int_or_none(raw):
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def _weight(raw):
    """A typed weight as a whole number when it is one, else as typed, for check_rule to refuse."""
    number = _int_or_none((raw or "").strip())
    return raw if number is None else number


class RuleForm(forms.Form):
    """A draft rule as typed: the plain fields here, the target and fallback rows beside them.

    Rows come from the lists target_model/target_weight and fallback_model; clean() runs
    check_rule, whose errors and warnings stay on `check` for the page and the htmx fragment.
    """

    task_type = forms.CharField(
        max_length=100,
        required=False,
        help_text="* is the default rule; otherwise lowercase letters, digits, _ . - "
        "as the proxy sends it, e.g. summarize.",
    )
    enabled = forms.BooleanField(required=False, initial=True)
    description = forms.CharField(max_length=300, required=False)

    def __init__(self, data=None, *, team, rule=None):
        # A team's first rule is nearly always the default one it needs before publishing.
        initial = {"task_type": "" if team.routing_rules.exists() else "*"}
        if rule is not None:
            initial = {
                "task_type": rule.task_type,
                "enabled": rule.enabled,
                "description": rule.description,
            }
        super().__init__(data, initial=initial)
        self.team, self.rule = team, rule
        if data is not None:
            self.targets = [
                {"model_id": _int_or_none(m), "weight": _weight(w)}
                for m, w in zip(
                    data.getlist("target_model"), data.getlist("target_weight"), strict=False
                )
            ]
            self.fallbacks = [_int_or_none(m) for m in data.getlist("fallback_model")]
            self.based_on_revision = _int_or_none(data.get("based_on_revision"))
        else:
            self.targets = (
                [dict(t) for t in rule.targets] if rule else [{"model_id": None, "weight": 100}]
            )
            self.fallbacks = list(rule.fallbacks) if rule else []
            self.based_on_revision = rule.revision if rule else None
        self.check = RuleCheck()

    def clean(self):
        data = super().clean()
        self.check = rule_check_typed(
            team=self.team,
            task_type=data.get("task_type") or "",
            targets=self.targets,
            fallbacks=self.fallbacks,
            rule=self.rule,
        )
        for name, messages in self.check.errors.items():
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
        return data

    def target_rows(self) -> list[dict]:
        """The target rows as typed, each with what is wrong with its model and its weight."""
        return [
            {
                **target,
                "model_errors": self.check.for_row("targets", row, "model"),
                "weight_errors": self.check.for_row("targets", row, "weight"),
            }
            for row, target in enumerate(self.targets)
        ]

    def fallback_rows(self) -> list[dict]:
        return [
            {"model_id": model_id, "model_errors": self.check.for_row("fallbacks", row, "model")}
            for row, model_id in enumerate(self.fallbacks)
        ]

    def weight_total(self) -> int:
        """The typed weights added up, those that are whole numbers."""
        return sum(t["weight"] for t in self.targets if type(t["weight"]) is int)

    def apply(self, action: str) -> None:
        self.targets, self.fallbacks = rows_apply(action, self.targets, self.fallbacks)


def rule_check_typed(*, team, task_type, targets, fallbacks, rule=None) -> RuleCheck:
    """check_rule, after refusing rows whose model is not chosen (check_rule needs ids).

    Row errors are numbered as the rows were typed, unchosen ones included.
    """
    chosen_target_rows = [i for i, t in enumerate(targets) if t["model_id"] is not None]
    chosen_fallback_rows = [i for i, f in enumerate(fallbacks) if f is not None]
    check = check_rule(
        team=team,
        task_type=task_type,
        targets=[targets[i] for i in chosen_target_rows],
        fallbacks=[fallbacks[i] for i in chosen_fallback_rows],
        rule=rule,
    )
    check.rows_renumber("targets", chosen_target_rows)
    check.rows_renumber("fallbacks", chosen_fallback_rows)
    for row, target in enumerate(targets):
        if target["model_id"] is None:
            message = "Choose a model in every target row, or remove the row."
            check.row_error("targets", row, "model", message)
            if not weight_is_valid(target["weight"]):
                check.row_error("targets", row, "weight", WEIGHT_ERROR)
    for row, model_id in enumerate(fallbacks):
        if model_id is None:
            message = "Choose a model in every fallback row, or remove the row."
            check.row_error("fallbacks", row, "model", message)
    return check


def rows_apply(action: str, targets: list[dict], fallbacks: list) -> tuple[list[dict], list]:
    """The rows after one editing button: add-target, remove-fallback-2, up-target-1, down-…"""
    verb, _, rest = action.partition("-")
    kind, _, index = rest.partition("-")
    rows = list(targets if kind == "target" else fallbacks)
    i = _int_or_none(index)
    if verb == "add":
        typed = sum(t["weight"] for t in targets if type(t["weight"]) is int)
        rows.append({"model_id": None, "weight": max(0, 100 - typed)} if kind == "target" else None)
    elif i is not None and 0 <= i < len(rows):
        if verb == "remove":
            del rows[i]
        elif verb in ("up", "down"):
            j = i - 1 if verb == "up" else i + 1
            if 0 <= j < len(rows):
                rows[i], rows[j] = rows[j], rows[i]
    return (rows, fallbacks) if kind == "target" else (targets, rows)


class PublishForm(forms.Form):
    comment = forms.CharField(
        max_length=500,
        help_text="What changed and why: shown in the version history.",
        error_messages={"required": "Say what changed and why: the comment is required."},
    )
    # The fingerprint of the draft the confirmation showed: a draft changed since is not published.
    reviewed = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)


class TryRouteForm(forms.Form):
    task_type = forms.CharField(max_length=100, required=False, initial="*")
    request_id = forms.CharField(max_length=100, required=False)


class VersionDiffForm(forms.Form):
    old = forms.IntegerField(min_value=1, label="From version")
    new = forms.IntegerField(min_value=1, label="To version")

    def __init__(self, data=None, *, team):
        super().__init__(data)
        self.team = team

    def _version(self, name):
        number = self.cleaned_data.get(name)
        version = self.team.routing_versions.filter(number=number).first()
        if number is not None and version is None:
            raise forms.ValidationError(f"{self.team.name} has no version {number}.")
        return version

    def clean_old(self):
        return self._version("old")

    def clean_new(self):
        return self._version("new")
