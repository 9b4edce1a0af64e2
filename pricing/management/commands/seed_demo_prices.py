"""Price rules for the demo stores, so that the demo's prices move.

Idempotent: rules are keyed by store and scope, factors by their rule and slot.
Runs after ``seed_demo`` (``make seed`` runs both) and reprices each store once,
so that scan, catalogue and label feed show the rules' prices straight away.
"""

from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction

from inventory.models import Category, Store
from pricing.models import (
    HourFactor,
    PriceExemption,
    PriceRule,
    StorePriceSettings,
    WeatherFactor,
    WeekdayFactor,
)
from pricing.services import store_reprice

D = Decimal
# Busy hours cost a little more, the quiet late evening a little less.
STORE_HOURS = {7: "1.03", 8: "1.03", 17: "1.05", 18: "1.05", 19: "1.03", 21: "0.95"}
# Weekend (Saturday=5, Sunday=6) shoppers come anyway: a small uplift.
STORE_WEEKDAYS = {5: "1.03", 6: "1.03"}
# Weather by category: hot days lift drinks, rain lifts seafood and ready meals
# (fewer trips, more delivery), cold lifts hot-pot meat.
CATEGORY_WEATHER = {
    "drinks": [("hot", D("30.0"), "1.08")],
    "seafood": [("rain", None, "1.05")],
    "ready-meals": [("rain", None, "1.06")],
    "meat": [("cold", D("5.0"), "1.04")],
    "fruit": [("hot", D("32.0"), "0.95")],
}
# Staples that bad weather must never raise.
EXEMPT_CATEGORIES = ("grocery", "eggs", "vegetables")


class Command(BaseCommand):
    help = "Create the demo stores' price rules (idempotent) and reprice them."

    def handle(self, *args, **options) -> None:
        stores = list(Store.objects.filter(code__in=["SH01", "SH02"]))
        if not stores:
            self.stderr.write("No demo stores: run `python manage.py seed_demo` first.")
            return
        categories = {c.slug: c for c in Category.objects.all()}
        for store in stores:
            with transaction.atomic():
                self._seed_store(store, categories)
            run = store_reprice(store=store)
            self.stdout.write(
                f"{store.code}: rules in place; repriced {run.products_priced} "
                f"products, {run.prices_changed} changed (weather {run.weather_source})"
            )

    def _seed_store(self, store: Store, categories: dict[str, Category]) -> None:
        StorePriceSettings.objects.get_or_create(store=store)
        rule, _ = PriceRule.objects.get_or_create(
            store=store,
            category=None,
            product=None,
            defaults={"name": "Demo: busy hours and weekends"},
        )
        for hour, factor in STORE_HOURS.items():
            HourFactor.objects.get_or_create(
                rule=rule, hour=hour, defaults={"factor": D(factor)}
            )
        for weekday, factor in STORE_WEEKDAYS.items():
            WeekdayFactor.objects.get_or_create(
                rule=rule, weekday=weekday, defaults={"factor": D(factor)}
            )
        for slug, conditions in CATEGORY_WEATHER.items():
            if slug not in categories:
                continue
            category_rule, _ = PriceRule.objects.get_or_create(
                store=store,
                category=categories[slug],
                product=None,
                defaults={"name": f"Demo: {slug} and the weather"},
            )
            for condition, threshold, factor in conditions:
                WeatherFactor.objects.get_or_create(
                    rule=category_rule,
                    condition=condition,
                    defaults={"threshold": threshold, "factor": D(factor)},
                )
        for slug in EXEMPT_CATEGORIES:
            if slug in categories:
                PriceExemption.objects.get_or_create(
                    store=store,
                    category=categories[slug],
                    product=None,
                    defaults={"note": "staple: bad weather never raises it"},
                )
