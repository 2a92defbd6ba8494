from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from registry.demo import seed_demo


class Command(BaseCommand):
    help = (
        "Load the demo register (an association with members, donors and a shop) and one demo "
        "login per role. Running it again changes nothing. The demo passwords are published: "
        "refused when DEBUG is false unless --force is given."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Load the demo data even when DEBUG is false (never on a server with real data).",
        )

    def handle(self, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is false: the demo logins have published passwords. "
                "Use --force to load the demo data anyway."
            )
        summary = seed_demo()
        self.stdout.write(
            f"Activities: {summary.activities} ({summary.activities_created} created). "
            f"Purposes: {summary.purposes} ({summary.purposes_created} created, "
            f"{summary.purposes_updated} updated)."
        )
        for line in summary.extras:
            self.stdout.write(line)
        rows = [("username", "password", "role", "admin access", "API token")]
        rows += [
            (login.username, login.password, login.role, "yes" if login.is_staff else "no", login.token or "-")
            for login in summary.logins
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for index, row in enumerate(rows):
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
            if index == 0:
                self.stdout.write("  ".join("-" * width for width in widths))
        self.stdout.write(self.style.WARNING("Demo passwords are public: never use them with real data."))
