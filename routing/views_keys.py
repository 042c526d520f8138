"""The team's provider keys page: list, add, rotate, revoke and test, through routing.keys."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from dashboard.access import get_membership_for_page, get_membership_for_user
from routing.encryption import SecretUnreadable, uses_local_key_file
from routing.forms import KeyAddForm, KeyRotateForm
from routing.keys import format_warnings, key_add, key_revoke, key_rotate, key_test
from routing.models import KeyTestResult, ProviderKey

# Everything a key's row shows, fetched with it.
ROW_RELATIONS = [
    "provider",
    "created_by",
    "revoked_by",
    "last_tested_by",
    "replaces",
    "replaced_by",
]


def _keys_of(team):
    keys = ProviderKey.objects.filter(team=team).select_related(*ROW_RELATIONS)
    return keys.filter(revoked_at__isnull=True), keys.filter(revoked_at__isnull=False)


def _get_key_for_user(request, team_slug: str, key_id: int):
    """The key, if it belongs to this team and the user may manage the team's keys; else 404/403."""
    team = get_membership_for_user(request, team_slug, "keys.manage").team
    keys = ProviderKey.objects.select_related(*ROW_RELATIONS)
    key = get_object_or_404(keys, pk=key_id, team=team)
    return team, key


@sensitive_variables()
def _warn_about_format(request, key: ProviderKey, secret: str) -> None:
    for warning in format_warnings(key.provider, secret):
        messages.warning(request, f"{key.label}: {warning}")


@sensitive_variables()
def _add(request, team, form: KeyAddForm) -> ProviderKey | None:
    """Add the key from a valid form, or put the service's refusal on the form."""
    if not form.is_valid():
        return None
    data = form.cleaned_data
    try:
        key = key_add(
            team=team,
            provider=data["provider"],
            label=data["label"],
            secret=data["secret"],
            user=request.user,
        )
    except ValidationError as error:
        form.add_error(None, error)
        return None
    messages.success(request, f"Added {key.provider.name} key {key.label} ({key.mask}).")
    _warn_about_format(request, key, data["secret"])
    return key


@sensitive_post_parameters("secret")
@login_required
def keys_page(request, team):
    membership, may_manage = get_membership_for_page(
        request, team, view="keys.view", edit="keys.manage"
    )
    team = membership.team
    form = KeyAddForm(request.POST if request.method == "POST" else None) if may_manage else None
    if form is not None and form.is_bound and _add(request, team, form):
        return redirect("keys", team=team.slug)
    active_keys, revoked_keys = _keys_of(team)
    context = {
        "team": team,
        "active_keys": active_keys,
        "revoked_keys": revoked_keys,
        "form": form,
        "may_manage": may_manage,
        "uses_local_key_file": uses_local_key_file(),
    }
    status = 400 if form is not None and form.errors else 200
    return render(request, "routing/keys.html", context, status=status)


@sensitive_post_parameters("secret")
@login_required
def key_rotate_view(request, team, key_id):
    team, key = _get_key_for_user(request, team, key_id)
    form = KeyRotateForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        secret = form.cleaned_data["secret"]
        try:
            new = key_rotate(key=key, secret=secret, user=request.user)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request, f"Rotated {key.label}: {new.mask} is active, {key.mask} is revoked."
            )
            _warn_about_format(request, new, secret)
            return redirect("keys", team=team.slug)
    context = {"team": team, "key": key, "form": form, "active_section": "keys"}
    return render(request, "routing/key_rotate.html", context, status=400 if form.errors else 200)


@login_required
def key_revoke_view(request, team, key_id):
    team, key = _get_key_for_user(request, team, key_id)
    if request.method == "POST":
        if key_revoke(key=key, user=request.user):
            messages.success(request, f"Revoked {key}: the proxy no longer receives it.")
        else:
            messages.info(request, f"{key} was already revoked.")
        return redirect("keys", team=team.slug)
    context = {"team": team, "key": key, "active_section": "keys"}
    return render(request, "routing/key_revoke.html", context)


@login_required
@require_POST
def key_test_view(request, team, key_id):
    team, key = _get_key_for_user(request, team, key_id)
    try:
        key = key_test(key=key, user=request.user)
    except SecretUnreadable as error:
        messages.error(request, f"Could not test {key}: {error}")
        return _back_to_keys(request, team)
    if request.htmx:
        context = {"team": team, "key": key, "may_manage": True}
        return render(request, "routing/_partials/key_row.html", context)
    level = messages.SUCCESS if key.last_test_result == KeyTestResult.OK else messages.WARNING
    messages.add_message(request, level, f"Tested {key}: {key.last_test_message}")
    return _back_to_keys(request, team)


def _back_to_keys(request, team):
    url = reverse("keys", kwargs={"team": team.slug})
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
