"""``python manage.py import_sales --store SH01 FILE.csv [--dry-run]``.

Daily sales from a former till system: ``date,sku,units[,average_price][,sold_out]``.
Every problem is reported with its line number and nothing is imported
(``inventory.forecast.imports``).
"""

from inventory.forecast.imports import sales_import
from inventory.management.commands._import import ImportCommand


class Command(ImportCommand):
    help = "Import daily sales history (date, sku, units, average_price, sold_out)."
    what = "sales"
    columns = "date,sku,units[,average_price][,sold_out]"

    def importer(self):
        return sales_import
