"""Invitations: admins revoke and resend them; the invited person opens the link and joins."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from dashboard.access import get_membership_for_user
from dashboard.forms import InvitationSignupForm
from dashboard.invitations import (
    AlreadyMember,
    InvitationNotSent,
    InvitationUnusable,
    invitation_accept,
    invitation_accept_new_account,
    invitation_for_token,
    invitation_resend,
    invitation_revoke,
)
from dashboard.models import Invitation, Membership
from dashboard.sso import sign_in_options


def _get_invitation_for_admin(request, team_slug: str, pk: int):
    team = get_membership_for_user(request, team_slug, "team.manage").team
    invitation = get_object_or_404(
        Invitation.objects.select_related("team", "invited_by"), pk=pk, team=team
    )
    return team, invitation


@login_required
def invitation_revoke_confirm(request, team, pk):
    team, invitation = _get_invitation_for_admin(request, team, pk)
    if request.method == "POST":
        if invitation_revoke(invitation=invitation, user=request.user):
            messages.success(
                request, f"Revoked the invitation to {invitation.email}: its link no longer works."
            )
        else:
            messages.info(request, f"The invitation to {invitation.email} was no longer pending.")
        return redirect("members", team=team.slug)
    context = {"team": team, "invitation": invitation}
    return render(request, "dashboard/invitation_revoke.html", context)


@login_required
@require_POST
def invitation_resend_view(request, team, pk):
    team, invitation = _get_invitation_for_admin(request, team, pk)
    try:
        invitation_resend(invitation=invitation, user=request.user)
    except ValidationError as error:
        messages.error(request, error.messages[0])
    except InvitationNotSent as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            f"Invitation sent again to {invitation.email}; the earlier link no longer works.",
        )
    return redirect("members", team=team.slug)


@never_cache
def invitation_page(request, token):
    """The link in the invitation e-mail: accept when signed in, or create an account."""
    invitation = invitation_for_token(token)
    if invitation is None or invitation.state != Invitation.State.PENDING:
        return _unusable(request, invitation)
    if request.user.is_authenticated:
        if request.method == "POST":
            return _accept(request, token)
        form = None
    elif settings.PASSWORD_SIGN_IN:
        form = InvitationSignupForm(request.POST or None, email=invitation.email)
        if request.method == "POST" and form.is_valid():
            return _join_with_new_account(request, token, form)
    else:
        # Accounts come from single sign-on: sign in there, then come back to accept.
        form = None
    context = {
        **sign_in_options(),
        "invitation": invitation,
        "form": form,
        "membership": Membership.objects.filter(team=invitation.team, user=request.user).first()
        if request.user.is_authenticated
        else None,
    }
    status = 400 if form is not None and form.errors else 200
    return render(request, "dashboard/invitation.html", context, status=status)


def _accept(request, token):
    try:
        membership = invitation_accept(token=token, user=request.user)
    except InvitationUnusable as gone:
        return _unusable(request, gone.invitation)
    except AlreadyMember as already:
        membership = already.membership
        messages.info(
            request,
            f"You are already a member of {membership.team.name} "
            f"({membership.get_role_display()}); nothing changed.",
        )
    else:
        messages.success(
            request,
            f"Welcome to {membership.team.name}: you joined as {membership.get_role_display()}.",
        )
    return redirect("overview", team=membership.team.slug)


def _join_with_new_account(request, token, form):
    user = form.save(commit=False)
    try:
        membership = invitation_accept_new_account(token=token, user=user)
    except InvitationUnusable as gone:
        return _unusable(request, gone.invitation)
    login(request, user, backend="dashboard.sso.backends.PasswordBackend")
    messages.success(
        request,
        f"Welcome to {membership.team.name}: you joined as {membership.get_role_display()}.",
    )
    return redirect("overview", team=membership.team.slug)


def _unusable(request, invitation: Invitation | None):
    """404 for a link that was never ours, 410 for one that was used, revoked or expired."""
    context = {"invitation": invitation, "state": invitation.state if invitation else "unknown"}
    status = 404 if invitation is None else 410
    return render(request, "dashboard/invitation_gone.html", context, status=status)
