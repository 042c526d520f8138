from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from dashboard.models import Role, Team
from dashboard.teams import member_set_role


class Command(BaseCommand):
    help = (
        "Add a user to a team with a role, creating the user if needed, or change their role. "
        "Example: add_member --team maven --username fiona --role finance --email fiona@example.com"
    )

    def add_arguments(self, parser):
        parser.add_argument("--team", required=True, help="The team's slug.")
        parser.add_argument("--username", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--email", default="", help="Set on a new user, or updated on an existing one."
        )

    def handle(self, *args, team, username, role, email, **options):
        team_obj = Team.objects.filter(slug=team).first()
        if team_obj is None:
            raise CommandError(f"No team has the slug {team!r}. Create it with create_team first.")
        users = get_user_model().objects
        user = users.filter(username=username).first()
        user_created = user is None
        if user_created:
            user = users.create_user(username=username, email=email)
        elif email and user.email != email:
            user.email = email
            user.save(update_fields=["email"])
        try:
            _, added = member_set_role(team=team_obj, user=user, role=role)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        verb = "Added" if added else "Set"
        self.stdout.write(self.style.SUCCESS(f"{verb} {username} as {role} in {team_obj.name}."))
        if user_created:
            self.stdout.write(
                f"New user {username} has no password yet: set one with "
                f"'manage.py changepassword {username}'."
            )
