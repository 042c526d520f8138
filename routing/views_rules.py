"""The routing pages: the draft rules, the rule editor, publishing, versions and rollback."""

import secrets

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dashboard.access import get_membership_for_page, get_membership_for_user, role_may
from dashboard.charts import provider_colour
from dashboard.fragments import wants_fragment
from routing.fleet import fleet_status
from routing.forms import PublishForm, RuleForm, TryRouteForm, VersionDiffForm
from routing.models import Model, RoutingRule, RoutingVersion
from routing.publish import (
    latest_version,
    routing_publish,
    routing_rollback,
    snapshot_diff,
    unpublished_changes,
)
from routing.resolve import resolve_route
from routing.rules import StaleEdit, rule_save


def rules_display(rules) -> list[dict]:
    """Each rule with its targets and fallbacks as catalog models (looked up once), and a
    provider's colour, the same as in every chart, for the weight bars."""
    ids = [t["model_id"] for r in rules for t in r.targets]
    ids += [model_id for r in rules for model_id in r.fallbacks]
    models = Model.objects.select_related("provider").in_bulk(set(ids))

    def target(ref):
        model = models.get(ref["model_id"])
        colour = provider_colour(model.provider.slug if model else "")
        return {"model": model, "weight": ref["weight"], "colour": colour}

    return [
        {
            "rule": rule,
            "targets": [target(ref) for ref in rule.targets],
            "fallbacks": [models.get(model_id) for model_id in rule.fallbacks],
        }
        for rule in rules
    ]


def draft_rules_display(team) -> list[dict]:
    """The team's draft rules for the table, the default (*) first."""
    rules = sorted(
        RoutingRule.objects.filter(team=team).select_related("updated_by"),
        key=lambda rule: (not rule.is_default, rule.task_type),
    )
    return rules_display(rules)


def try_route(team, task_type: str, request_id: str) -> dict:
    """What the latest published version routes this request to, as the try-it box shows it."""
    version = latest_version(team)
    if version is None:
        return {"version": None, "route": []}
    task_type = task_type.strip() or "*"
    route = resolve_route(version.snapshot, task_type, request_id)
    enabled = {r["task_type"] for r in version.snapshot if r.get("enabled", True)}
    matched = task_type if task_type in enabled else "*"
    return {"version": version, "route": route, "matched": matched, "task_type": task_type}


def _try_context(team, data) -> dict:
    form = TryRouteForm(data or None, initial={"request_id": f"req-{secrets.token_hex(4)}"})
    result = None
    if form.is_bound and form.is_valid():
        request_id = form.cleaned_data["request_id"] or f"req-{secrets.token_hex(4)}"
        result = try_route(team, form.cleaned_data["task_type"], request_id)
        result["request_id"] = request_id
    return {"try_form": form, "try_result": result}


@login_required
def routing_page(request, team):
    membership, may_edit = get_membership_for_page(
        request, team, view="team.view", edit="routing.edit"
    )
    team = membership.team
    form = PublishForm(request.POST if request.method == "POST" else None) if may_edit else None
    problems = []
    if form is not None and form.is_valid():
        try:
            version = routing_publish(
                team=team, user=request.user, comment=form.cleaned_data["comment"]
            )
        except ValidationError as error:
            problems = error.messages
        else:
            messages.success(request, f"Published version {version.number}.")
            return redirect("routing", team=team.slug)
    context = {
        "team": team,
        "may_edit": may_edit,
        "rules": draft_rules_display(team),
        "changes": unpublished_changes(team),
        "published": latest_version(team),
        "fleet": fleet_status(team, timezone.now()),
        "publish_form": form,
        "problems": problems,
        **_try_context(team, request.GET if "task_type" in request.GET else None),
    }
    status = 400 if problems or (form is not None and form.errors) else 200
    return render(request, "routing/rules.html", context, status=status)


@login_required
@require_GET
def route_try(request, team):
    team = get_membership_for_user(request, team, "team.view").team
    if not wants_fragment(request):
        url = reverse("routing", kwargs={"team": team.slug})
        return redirect(f"{url}?{request.GET.urlencode()}#try")
    context = {"team": team, **_try_context(team, request.GET)}
    return render(request, "routing/_partials/try_result.html", context)


def _get_rule_for_user(request, team_slug: str, rule_id: int | None):
    """The team (for a routing editor) and its rule, or None for a new one; 404 for others'."""
    team = get_membership_for_user(request, team_slug, "routing.edit").team
    if rule_id is None:
        return team, None
    rules = RoutingRule.objects.select_related("updated_by")
    return team, get_object_or_404(rules, pk=rule_id, team=team)


def model_groups(extra_ids=()) -> list[tuple[str, list[Model]]]:
    """Enabled models by provider, plus any a rule already names, for the model selects."""
    models = Model.objects.select_related("provider").filter(enabled=True)
    models = models | Model.objects.select_related("provider").filter(pk__in=list(extra_ids))
    groups: dict[str, list[Model]] = {}
    for model in models.order_by("provider__name", "name"):
        groups.setdefault(model.provider.name, []).append(model)
    return list(groups.items())


def _form_context(team, form: RuleForm, rule, **extra) -> dict:
    ids = [t["model_id"] for t in form.targets] + list(form.fallbacks)
    return {
        "team": team,
        "form": form,
        "rule": rule,
        "model_groups": model_groups(i for i in ids if i is not None),
        "check": form.check,
        # The check's own messages show in the live-check area below; only others go on top.
        "other_errors": [
            error
            for error in form.non_field_errors()
            if not any(error in messages for messages in form.check.errors.values())
        ],
        "revision": form.based_on_revision,
        "rows_url": _rows_url(team, rule),
        "check_url": _check_url(team, rule),
        "active_section": "routing",
        **extra,
    }


def _rows_url(team, rule) -> str:
    if rule is None:
        return reverse("routing_rule_rows", kwargs={"team": team.slug})
    return reverse("routing_rule_rows_edit", kwargs={"team": team.slug, "rule_id": rule.pk})


def _check_url(team, rule) -> str:
    if rule is None:
        return reverse("routing_rule_check_new", kwargs={"team": team.slug})
    return reverse("routing_rule_check", kwargs={"team": team.slug, "rule_id": rule.pk})


def _render_form(request, team, form, rule, status=200, **extra):
    context = _form_context(team, form, rule, **extra)
    return render(request, "routing/rule_form.html", context, status=status)


@login_required
def rule_edit(request, team, rule_id=None):
    team, rule = _get_rule_for_user(request, team, rule_id)
    form = RuleForm(request.POST if request.method == "POST" else None, team=team, rule=rule)
    action = request.POST.get("action", "save")
    if form.is_bound and action != "save":
        # The no-JavaScript way to add, remove and move rows: the whole form again.
        form.apply(action)
        return _render_form(request, team, form, rule)
    if not (form.is_bound and form.is_valid()):
        return _render_form(request, team, form, rule, status=400 if form.errors else 200)
    data = form.cleaned_data
    try:
        saved = rule_save(
            team=team,
            user=request.user,
            task_type=data["task_type"],
            targets=form.targets,
            fallbacks=form.fallbacks,
            enabled=data["enabled"],
            description=data["description"],
            rule=rule,
            based_on_revision=form.based_on_revision,
        )
    except StaleEdit as stale:
        # Saving again is deliberate now: the editor has seen what the other save made.
        form.based_on_revision = stale.current.revision
        stale_rule = rules_display([stale.current])[0]
        return _render_form(request, team, form, rule, status=409, stale=stale_rule)
    except ValidationError as error:
        form.add_error(None, error)
        return _render_form(request, team, form, rule, status=400)
    messages.success(request, f"Saved the {saved.task_type} rule: publish to send it to the proxy.")
    return redirect("routing", team=team.slug)


@login_required
@require_POST
def rule_rows(request, team, rule_id=None):
    """The target and fallback rows after one htmx button: add, remove, move."""
    team, rule = _get_rule_for_user(request, team, rule_id)
    form = RuleForm(request.POST, team=team, rule=rule)
    form.apply(request.POST.get("action", ""))
    form.is_valid()
    context = _form_context(team, form, rule, oob_check=True)
    return render(request, "routing/_partials/rule_rows.html", context)


@login_required
@require_POST
def rule_check(request, team, rule_id=None):
    """Errors and warnings of the rule as typed so far, for the form's htmx check."""
    team, rule = _get_rule_for_user(request, team, rule_id)
    form = RuleForm(request.POST, team=team, rule=rule)
    form.is_valid()
    context = {"check": form.check, "form": form, "standalone": True, "rows_oob": True}
    return render(request, "routing/_partials/rule_check.html", context)


@login_required
def versions_page(request, team):
    membership = get_membership_for_user(request, team, "team.view")
    team = membership.team
    versions = team.routing_versions.select_related("published_by", "rollback_of")
    context = {
        "team": team,
        "versions": versions,
        "latest": versions.first(),
        "may_edit": role_may(membership.role, "routing.edit"),
        "form": VersionDiffForm(team=team),
        "active_section": "routing",
    }
    return render(request, "routing/versions.html", context)


@login_required
@require_GET
def version_diff(request, team):
    team = get_membership_for_user(request, team, "team.view").team
    form = VersionDiffForm(request.GET, team=team)
    lines = None
    if form.is_valid():
        lines = snapshot_diff(form.cleaned_data["old"].snapshot, form.cleaned_data["new"].snapshot)
    context = {"team": team, "form": form, "lines": lines, "active_section": "routing"}
    return render(request, "routing/version_diff.html", context, status=400 if form.errors else 200)


@login_required
def version_rollback(request, team, number):
    team = get_membership_for_user(request, team, "routing.edit").team
    version = get_object_or_404(RoutingVersion, team=team, number=number)
    latest = latest_version(team)
    if version.pk == latest.pk:
        messages.info(request, f"Version {number} is already the published version.")
        return redirect("routing_versions", team=team.slug)
    if request.method == "POST":
        comment = request.POST.get("comment", "")[:500]
        new = routing_rollback(version=version, user=request.user, comment=comment)
        messages.success(
            request, f"Published version {new.number}: the rules of version {number} again."
        )
        return redirect("routing_versions", team=team.slug)
    context = {
        "team": team,
        "version": version,
        "latest": latest,
        "lines": snapshot_diff(latest.snapshot, version.snapshot),
        "rollback": True,
        "active_section": "routing",
    }
    return render(request, "routing/version_diff.html", context)
