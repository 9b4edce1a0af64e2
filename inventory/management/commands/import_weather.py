"""``python manage.py import_weather --store SH01 FILE.csv [--dry-run]``.

Daily weather history: ``date,temperature,precipitation`` (mean °C, total mm),
stored as observed hours of the store's local day
(``inventory.forecast.imports``).
"""

from inventory.forecast.imports import weather_import
from inventory.management.commands._import import ImportCommand


class Command(ImportCommand):
    help = "Import daily weather history (date, temperature, precipitation)."
    what = "weather"
    columns = "date,temperature,precipitation"

    def importer(self):
        return weather_import
