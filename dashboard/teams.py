"""Creating teams and changing who belongs to them."""

from django.core.exceptions import ValidationError
from django.db import transaction

from dashboard.audit import audit_record
from dashboard.audit_actions import AuditAction
from dashboard.models import Membership, Role, Team


class LastAdminError(ValidationError):
    pass


def team_create(*, slug: str, name: str, time_zone: str = "UTC") -> Team:
    team = Team(slug=slug, name=name, time_zone=time_zone)
    team.full_clean()
    team.save()
    return team


def member_set_role(
    *, team: Team, user, role: str, actor=None, via: str = ""
) -> tuple[Membership, bool]:
    """Add the user to the team with this role, or change it. Returns (membership, created).

    `actor` is who made the change, for the audit log; None for manage.py. `via` says how, when
    no person did it (e.g. a single sign-on group).
    """
    if role not in Role.values:
        raise ValidationError(f"{role!r} is not a role; choose one of {', '.join(Role.values)}.")
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(team=team, user=user).first()
        if membership is None:
            membership = Membership.objects.create(team=team, user=user, role=role)
            _audit(membership, AuditAction.MEMBER_ADDED, actor, {"role": role}, via)
            return membership, True
        old_role = membership.role
        if old_role == role:
            return membership, False
        if old_role == Role.ADMIN:
            _refuse_losing_last_admin(team, membership)
        membership.role = role
        membership.save(update_fields=["role"])
        detail = {"from": old_role, "to": role}
        _audit(membership, AuditAction.MEMBER_ROLE_CHANGED, actor, detail, via)
        return membership, False


def member_remove(*, membership: Membership, actor=None, via: str = "") -> None:
    with transaction.atomic():
        if membership.role == Role.ADMIN:
            _refuse_losing_last_admin(membership.team, membership)
        _audit(membership, AuditAction.MEMBER_REMOVED, actor, {"role": membership.role}, via)
        membership.delete()


def _audit(membership: Membership, action: str, actor, detail: dict, via: str = "") -> None:
    audit_record(
        team=membership.team,
        action=action,
        target=membership.user.username,
        actor=actor,
        detail={**detail, "via": via} if via else detail,
    )


def _refuse_losing_last_admin(team: Team, membership: Membership) -> None:
    other_admins = (
        Membership.objects.select_for_update()
        .filter(team=team, role=Role.ADMIN)
        .exclude(pk=membership.pk)
    )
    if not other_admins.exists():
        raise LastAdminError(
            f"{membership.user.username} is the last admin of {team.name}: "
            "make someone else an admin first."
        )
