from django.core.management.base import BaseCommand, CommandError

from consent.selectors import ledger_verify


class Command(BaseCommand):
    help = "Walk the consent ledger's hash chain; name the first event that does not verify (exit 1)."

    def handle(self, **options):
        checked, broken = ledger_verify()
        if broken is not None:
            raise CommandError(
                f"Ledger broken at event #{broken.sequence} (id {broken.event_id}): {broken.problem}. "
                f"{checked} event(s) before it verified."
            )
        self.stdout.write(self.style.SUCCESS(f"Ledger verified: {checked} event(s), chain intact."))
