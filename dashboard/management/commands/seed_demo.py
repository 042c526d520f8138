from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from billing.catalog import load_catalog
from dashboard.models import Role, Team
from dashboard.teams import member_set_role
from routing.models import Model

DEMO_PASSWORD = "spend-demo"  # noqa: S105 - printed on purpose: this is the local demo

DEMO_TEAMS = [
    # slug, name, time zone, baseline model (provider, name)
    ("maven", "Maven", "America/New_York", ("anthropic", "claude-sonnet-4-5")),
    ("pantheon", "Pantheon", "Europe/London", ("openai", "gpt-5.2")),
]

# username, what the role is for, {team slug: role}
DEMO_USERS = [
    (
        "admin",
        "everything, incl. members, tokens and /admin/",
        {"maven": Role.ADMIN, "pantheon": Role.ADMIN},
    ),
    ("ops", "keys, routing and alert rules", {"maven": Role.OPS, "pantheon": Role.VIEWER}),
    ("finance", "budgets and reports", {"maven": Role.FINANCE, "pantheon": Role.FINANCE}),
    ("viewer", "read only", {"maven": Role.VIEWER, "pantheon": Role.VIEWER}),
]


class Command(BaseCommand):
    help = "Load the catalog and the demo teams and users (one per role); safe to run again."

    @transaction.atomic
    def handle(self, *args, **options):
        self.stdout.write(f"Catalog: {load_catalog()}.")
        teams = {}
        for slug, name, tz, (provider, model) in DEMO_TEAMS:
            teams[slug], created = Team.objects.get_or_create(
                slug=slug, defaults={"name": name, "time_zone": tz}
            )
            if created:
                teams[slug].baseline_model = Model.objects.get(provider__slug=provider, name=model)
                teams[slug].save(update_fields=["baseline_model"])
        users = get_user_model().objects
        for username, _, roles in DEMO_USERS:
            user, created = users.get_or_create(
                username=username, defaults={"email": f"{username}@demo.invalid"}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                # The demo admin also opens Django's admin site.
                user.is_staff = user.is_superuser = username == "admin"
                user.save()
            for slug, role in roles.items():
                if not teams[slug].memberships.filter(user=user).exists():
                    member_set_role(team=teams[slug], user=user, role=role)
        self.stdout.write(self.style.SUCCESS("Demo teams and users are ready."))
        self.stdout.write(demo_logins())


def demo_logins() -> str:
    lines = [f"Demo logins (password for all: {DEMO_PASSWORD}):"]
    for username, purpose, roles in DEMO_USERS:
        where = ", ".join(f"{role} in {slug}" for slug, role in roles.items())
        lines.append(f"  {username:<8} {purpose} ({where})")
    return "\n".join(lines)
