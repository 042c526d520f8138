from django.core.management.base import BaseCommand

from billing.catalog import load_catalog


class Command(BaseCommand):
    help = "Load the providers, models and prices of the seed research; safe to run again."

    def handle(self, *args, **options):
        result = load_catalog()
        self.stdout.write(self.style.SUCCESS(f"Catalog loaded: {result}."))
