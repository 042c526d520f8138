from django.core.management.base import BaseCommand

from billing.catalog import catalog_load


class Command(BaseCommand):
    help = "Load the providers, models and prices of the seed research; safe to run again."

    def handle(self, *args, **options):
        result = catalog_load()
        self.stdout.write(self.style.SUCCESS(f"Catalog loaded: {result}."))
