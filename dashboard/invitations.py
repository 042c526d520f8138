"""Inviting people to a team by e-mail, and joining through the link.

Inviting never looks at the accounts: whether an address belongs to one, or to a member
already, changes nothing an admin can see. Only the person who opens the link learns more.
"""

import hashlib
import logging
import secrets
import smtplib
from datetime import UTC, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from dashboard.audit import audit_record
from dashboard.audit_actions import AuditAction
from dashboard.models import AuditEvent, Invitation, Membership, Role, Team

logger = logging.getLogger(__name__)

# token_urlsafe(32) gives 43 characters; anything much longer is not one of ours.
MAX_TOKEN_LENGTH = 100


class InvitationUnusable(Exception):
    """The link is wrong, or its invitation was accepted, revoked or has expired."""

    def __init__(self, invitation: Invitation | None):
        super().__init__(invitation.state if invitation else "unknown")
        self.invitation = invitation


class AlreadyMember(Exception):
    def __init__(self, membership: Membership):
        super().__init__(membership.role)
        self.membership = membership


class InvitationNotSent(Exception):
    """The invitation is saved but the mail server refused it: resending may work."""


def invitation_send(*, team: Team, email: str, role: str, invited_by) -> Invitation:
    """Invite an address to the team, replacing a pending invitation to the same address.

    Raises ValidationError when the team has sent its hourly share of invitations, and
    InvitationNotSent when the mail server refuses (the invitation stays pending).
    """
    if role not in Role.values:
        raise ValidationError(f"{role!r} is not a role; choose one of {', '.join(Role.values)}.")
    with transaction.atomic():
        _refuse_over_limit(team)
        team.invitations.pending().filter(email__iexact=email).update(revoked_at=timezone.now())
        invitation = Invitation(team=team, email=email, role=role, invited_by=invited_by)
        token = _new_token(invitation)
        invitation.save()
        _audit(invitation, AuditAction.INVITATION_SENT, invited_by, {"role": role})
    _email(invitation, token)
    return invitation


def invitation_resend(*, invitation: Invitation, user) -> None:
    """Mail a new link with a new expiry; the old link stops working."""
    if invitation.state != Invitation.State.PENDING:
        raise ValidationError(f"The invitation to {invitation.email} is no longer pending.")
    with transaction.atomic():
        _refuse_over_limit(invitation.team)
        token = _new_token(invitation)
        invitation.save(update_fields=["token_hash", "expires_at"])
        detail = {"role": invitation.role, "resent": True}
        _audit(invitation, AuditAction.INVITATION_SENT, user, detail)
    _email(invitation, token)


def invitation_revoke(*, invitation: Invitation, user) -> bool:
    """Withdraw a pending invitation. False when it was no longer pending."""
    with transaction.atomic():
        revoked = (
            Invitation.objects.pending().filter(pk=invitation.pk).update(revoked_at=timezone.now())
        )
        if revoked:
            _audit(invitation, AuditAction.INVITATION_REVOKED, user, {"role": invitation.role})
    invitation.refresh_from_db()
    return bool(revoked)


def invitation_for_token(token: str) -> Invitation | None:
    return _by_token(Invitation.objects.select_related("team", "invited_by", "accepted_by"), token)


def invitation_accept(*, token: str, user) -> Membership:
    """Make the user a member with the invitation's role.

    Whoever holds the link may accept it with any account: the link is the secret, and
    people often read mail at one address and sign in with another. Raises
    InvitationUnusable, or AlreadyMember (nothing changes, the invitation stays pending).
    """
    with transaction.atomic():
        invitation = _by_token(Invitation.objects.select_for_update().select_related("team"), token)
        if invitation is None or invitation.state != Invitation.State.PENDING:
            raise InvitationUnusable(invitation)
        existing = Membership.objects.filter(team=invitation.team, user=user).first()
        if existing is not None:
            raise AlreadyMember(existing)
        membership = Membership.objects.create(
            team=invitation.team, user=user, role=invitation.role
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit_record(
            team=invitation.team,
            action=AuditAction.INVITATION_ACCEPTED,
            target=user.username,
            actor=user,
            detail={"role": invitation.role, "invited": invitation.email},
        )
        return membership


def invitation_accept_new_account(*, token: str, user) -> Membership:
    """Save the new (unsaved) account and accept; no account is left behind if accepting fails."""
    with transaction.atomic():
        user.save()
        return invitation_accept(token=token, user=user)


def _by_token(invitations, token: str) -> Invitation | None:
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    return invitations.filter(token_hash=_hash(token)).first()


def _refuse_over_limit(team: Team) -> None:
    # The team row lock makes concurrent invitations count one after the other.
    Team.objects.select_for_update().filter(pk=team.pk).first()
    limit = settings.INVITATIONS_PER_HOUR
    sent = AuditEvent.objects.filter(
        team=team,
        action=AuditAction.INVITATION_SENT,
        created_at__gt=timezone.now() - timedelta(hours=1),
    ).count()
    if sent >= limit:
        raise ValidationError(
            f"{team.name} may send at most {limit} invitations an hour; try again later."
        )


def _new_token(invitation: Invitation) -> str:
    token = secrets.token_urlsafe(32)
    invitation.token_hash = _hash(token)
    invitation.expires_at = timezone.now() + timedelta(days=settings.INVITATION_EXPIRY_DAYS)
    return token


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _audit(invitation: Invitation, action: str, actor, detail: dict) -> None:
    # The address the admin typed, which admins already see on the members page.
    audit_record(
        team=invitation.team, action=action, target=invitation.email, actor=actor, detail=detail
    )


def _header(value: str) -> str:
    """A value safe in a mail header: line breaks (CR, LF and the like) become spaces."""
    return " ".join(value.splitlines())


def _email(invitation: Invitation, token: str) -> None:
    inviter = invitation.invited_by
    context = {
        "team_name": invitation.team.name,
        "inviter": (inviter.get_full_name() or inviter.username) if inviter else "An admin",
        "role": invitation.get_role_display(),
        "link": settings.SITE_URL + reverse("invitation", kwargs={"token": token}),
        # Spelled out here: rendering in a request would show the admin's team's time zone.
        "expires": f"{invitation.expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
    }
    message = EmailMultiAlternatives(
        subject=_header(f"{context['inviter']} invited you to {invitation.team.name} on LLM Spend"),
        body=render_to_string("dashboard/email/invitation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[_header(invitation.email)],
    )
    message.attach_alternative(
        render_to_string("dashboard/email/invitation.html", context), "text/html"
    )
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as error:
        logger.warning("Invitation %s not sent: %s", invitation.pk, type(error).__name__)
        raise InvitationNotSent(
            f"The mail server did not take the invitation to {invitation.email}; "
            "use Resend beside it to try again."
        ) from error
