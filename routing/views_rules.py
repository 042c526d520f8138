"""The routing pages: the draft rules, the rule editor, publishing, versions and rollback."""

import secrets
from datetime import date, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dashboard.access import get_membership_for_user, role_may
from dashboard.charts import provider_colour
from dashboard.fragments import wants_fragment
from routing.fleet import fleet_status
from routing.forms import PublishForm, RuleForm, TryRouteForm, VersionDiffForm
from routing.models import Model, RoutingRule, RoutingVersion
from routing.publish import (
    diff_rows,
    draft_snapshot,
    latest_version,
    publish_problems,
    routing_draft_reset,
    routing_publish,
    routing_rollback,
    snapshot_digest,
)
from routing.resolve import resolve_route
from routing.rollouts import PUBLISHING, rollout_transitions_by_version
from routing.rules import StaleEdit, rule_save

# The overview's longest custom range (dashboard.forms.OverviewFilterForm.MAX_CUSTOM_DAYS).
OVERVIEW_MAX_DAYS = 366


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


def draft_rules_display(team, live: list[dict] | None) -> list[dict]:
    """The team's draft rules for the table, the default (*) first, each marked "new" or
    "changed" against the live snapshot (None: nothing is published)."""
    rules = sorted(
        RoutingRule.objects.filter(team=team).select_related("updated_by"),
        key=lambda rule: (not rule.is_default, rule.task_type),
    )
    live_rules = {rule["task_type"]: rule for rule in live or []}
    draft_rules = {rule["task_type"]: rule for rule in draft_snapshot(team)}
    rows = rules_display(rules)
    for row in rows:
        task = row["rule"].task_type
        if task not in live_rules:
            row["change"] = "new"
        elif live_rules[task] != draft_rules[task]:
            row["change"] = "changed"
    return rows


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
@require_GET
def routing_page(request, team):
    membership = get_membership_for_user(request, team, "team.view")
    team = membership.team
    published = latest_version(team)
    live = published.snapshot if published else None
    context = {
        "team": team,
        "may_edit": role_may(membership.role, "routing.edit"),
        "rules": draft_rules_display(team, live),
        "changes": diff_rows(live or [], draft_snapshot(team)),
        "published": published,
        "fleet": fleet_status(team, timezone.now()),
        "problems": publish_problems(team),
        **_try_context(team, request.GET if "task_type" in request.GET else None),
    }
    return render(request, "routing/rules.html", context)


@login_required
def publish_confirm(request, team):
    """The draft against the live version, its cost, and a required comment before publishing."""
    team = get_membership_for_user(request, team, "routing.edit").team
    digest = snapshot_digest(draft_snapshot(team))
    form = PublishForm(request.POST if request.method == "POST" else None)
    problems = []
    stale = form.is_bound and form.is_valid() and form.cleaned_data["reviewed"] not in ("", digest)
    if form.is_bound and form.is_valid() and not stale:
        try:
            version = routing_publish(
                team=team, user=request.user, comment=form.cleaned_data["comment"]
            )
        except ValidationError as error:
            problems = error.messages
        else:
            messages.success(request, f"Published version {version.number}.")
            return redirect("routing", team=team.slug)
    published = latest_version(team)
    context = {
        "team": team,
        "form": form,
        "published": published,
        "changes": diff_rows(published.snapshot if published else [], draft_snapshot(team)),
        "problems": problems or publish_problems(team),
        "reviewed": digest,
        "stale": stale,
        "active_section": "routing",
    }
    status = 409 if stale else 400 if form.errors or problems else 200
    return render(request, "routing/publish_confirm.html", context, status=status)


@login_required
def draft_reset(request, team):
    """Throw the draft's unpublished changes away, after a confirmation listing them."""
    team = get_membership_for_user(request, team, "routing.edit").team
    published = latest_version(team)
    if published is None:
        messages.info(request, "Nothing is published yet: there is no live version to reset to.")
        return redirect("routing", team=team.slug)
    if request.method == "POST":
        try:
            routing_draft_reset(team=team, user=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"The draft is version {published.number} again.")
        return redirect("routing", team=team.slug)
    context = {
        "team": team,
        "published": published,
        "changes": diff_rows(published.snapshot, draft_snapshot(team)),
        "active_section": "routing",
    }
    return render(request, "routing/draft_reset.html", context)


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
    versions = list(team.routing_versions.select_related("published_by", "rollback_of"))
    transitions = rollout_transitions_by_version(team)
    today = timezone.now().astimezone(team.zone).date()
    overview_queries = _overview_queries(versions, zone=team.zone, today=today)
    for version in versions:
        version.rollout_events = transitions.get(version.number, [])
        version.by_plan = any(event.kind in PUBLISHING for event in version.rollout_events)
        version.overview_query = overview_queries[version.number]
    context = {
        "team": team,
        "versions": versions,
        "latest": versions[0] if versions else None,
        "may_edit": role_may(membership.role, "routing.edit"),
        "form": VersionDiffForm(team=team),
        "active_section": "routing",
    }
    return render(request, "routing/versions.html", context)


def _overview_queries(versions, *, zone, today: date) -> dict[int, str]:
    """Each version's overview link (versions newest first): its calls over the team days from
    its publish day to the next version's, or to today; the last OVERVIEW_MAX_DAYS if longer."""
    queries: dict[int, str] = {}
    end = today
    for version in versions:
        published = version.published_at.astimezone(zone).date()
        last = max(end, published)
        first = max(published, last - timedelta(days=OVERVIEW_MAX_DAYS - 1))
        query = {"range": "custom", "start": first, "end": last, "version": version.number}
        queries[version.number] = urlencode(query)
        end = published
    return queries


@login_required
@require_GET
def version_diff(request, team):
    team = get_membership_for_user(request, team, "team.view").team
    form = VersionDiffForm(request.GET, team=team)
    context = {"team": team, "form": form, "rows": None, "active_section": "routing"}
    if form.is_valid():
        old, new = form.cleaned_data["old"], form.cleaned_data["new"]
        context |= {
            "rows": diff_rows(old.snapshot, new.snapshot),
            "before_label": f"v{old.number}",
            "after_label": f"v{new.number}",
        }
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
        reset = bool(request.POST.get("reset_draft"))
        try:
            new = routing_rollback(
                version=version, user=request.user, comment=comment, reset_draft=reset
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("routing_version_rollback", team=team.slug, number=number)
        draft = " The draft is those rules too." if reset else ""
        messages.success(
            request,
            f"Published version {new.number}: the rules of version {number} again.{draft}",
        )
        return redirect("routing_versions", team=team.slug)
    context = {
        "team": team,
        "version": version,
        "latest": latest,
        "rows": diff_rows(latest.snapshot, version.snapshot),
        "before_label": f"Live v{latest.number}",
        "after_label": f"v{version.number}",
        "draft_differs": draft_snapshot(team) != version.snapshot,
        "rollback": True,
        "active_section": "routing",
    }
    return render(request, "routing/version_diff.html", context)
