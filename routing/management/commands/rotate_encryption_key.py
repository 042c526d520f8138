from django.core.management.base import BaseCommand, CommandError

from dashboard.progress import ProgressBar
from routing.encryption import SecretUnreadable, uses_local_key_file
from routing.keys import keys_reencrypt


class Command(BaseCommand):
    help = (
        "Encrypt every stored provider key again under the first of FIELD_ENCRYPTION_KEYS. "
        "To rotate: put a new key first, keep the old one after it, run this, then drop the old."
    )

    def handle(self, *args, **options):
        if uses_local_key_file():
            self.stdout.write(
                "FIELD_ENCRYPTION_KEYS is not set: using the local key file, nothing to rotate to."
            )
        try:
            count = keys_reencrypt(progress=ProgressBar(self.stdout, "Re-encrypting"))
        except SecretUnreadable as error:
            raise CommandError(f"{error} Nothing was changed.") from None
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count:,} provider keys."))
