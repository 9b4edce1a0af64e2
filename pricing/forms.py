"""Forms of the pricing admin: a rule's factors, checked against the store's limits.

A factor the store's limits would cut (``StorePriceSettings``: the ceiling of
list price x max uplift, the margin floor of unit cost + minimum margin, the
step limit per hour) is a warning the manager confirms with "Save anyway", not
a refusal: factors multiply (Saturday x1.30 with 22:00 x0.80 is x1.04), so a
factor that is cut on its own can still take effect next to another one, and
the engine applies the limits on every price anyway. What the limits can never
allow at all the model already refuses (a factor outside 0.01-10).
"""

from __future__ import annotations

import math
from decimal import Decimal

from django import forms
from django.db.models import F
from django.forms.models import BaseInlineFormSet

from inventory import display
from inventory.models import StoreProduct
from pricing.models import WEEKDAYS, PriceRule, StorePriceSettings, WeatherTrigger
from pricing.selectors import price_settings_for

ONE = Decimal(1)
HUNDRED = Decimal(100)
CONFIRM_FIELD = "confirm_limits"
_WEEKDAY_NAMES = dict(WEEKDAYS)
_CONDITIONS = dict(WeatherTrigger.choices)


def _fmt(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _products_in_scope(rule: PriceRule):
    products = StoreProduct.objects.filter(store_id=rule.store_id, is_active=True)
    if rule.product_id:
        return products.filter(product_id=rule.product_id)
    if rule.category_id:
        return products.filter(product__category_id=rule.category_id)
    return products


def factor_warnings(
    *, rule: PriceRule, slot: str, factor: Decimal, limits: StorePriceSettings
) -> list[str]:
    """What the store's limits would do to ``factor`` on its own, in words.

    ``slot`` names what the factor prices ("Saturday", "18:00", "rain").
    """
    warnings = []
    named = f"{slot} x{_fmt(factor)}"
    if factor > limits.max_uplift:
        warnings.append(
            f"{named} is above the store's ceiling: prices stop at list price "
            f"x{_fmt(limits.max_uplift)} (max uplift)."
        )
    if factor < ONE:
        floor = F("unit_cost") * (ONE + limits.min_margin)
        scope = _products_in_scope(rule)
        # Below the floor: list x factor < cost x (1 + margin). The engine's
        # floor is never above the list price, and list x factor is below it.
        cut = scope.annotate(floor=floor).filter(list_price__lt=F("floor") / factor)
        count = cut.count()
        if count:
            example = (
                cut.select_related("store", "product").order_by("product__sku").first()
            )
            unit = example.product.sale_unit
            currency = example.store.currency
            target = example.list_price * factor
            stop = min(
                example.unit_cost * (ONE + limits.min_margin), example.list_price
            )
            warnings.append(
                f"{named} takes {count} of {scope.count()} products below the "
                f"margin floor (unit cost +{_fmt(limits.min_margin * HUNDRED)}%): "
                f"they stop there, e.g. {example.product.sku} at "
                f"{display.money(stop, currency, unit)} instead of "
                f"{display.money(target, currency, unit)}."
            )
    step = limits.max_step_percent / HUNDRED
    if abs(factor - ONE) > step:
        per_hour = float(ONE + step if factor > ONE else ONE - step)
        hours = math.ceil(math.log(float(factor)) / math.log(per_hour) - 1e-9)
        warnings.append(
            f"{named} moves a price by more than the step limit "
            f"({_fmt(limits.max_step_percent)}% per hour): the shelf gets there "
            f"over {hours} hours."
        )
    return warnings


class PriceRuleAdminForm(forms.ModelForm):
    """A rule. Its page carries a "Save anyway" box once the factors drew
    warnings (see the module docstring); the factor formsets read it."""

    class Meta:
        model = PriceRule
        fields = ("store", "category", "product", "name", "is_active")


class LimitCheckedFactorFormSet(BaseInlineFormSet):
    """A rule's factors of one kind; new or changed ones the store's limits
    would cut are refused with the warnings unless "Save anyway" is ticked.

    ``limit_warnings`` keeps them for the page. Unchanged factors are not
    warned about again: they were confirmed when they were saved.
    """

    def clean(self) -> None:
        super().clean()
        self.limit_warnings: list[str] = []
        rule = self.instance
        if not rule.store_id or any(self.errors):
            return
        limits = None
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not form.has_changed():
                continue
            factor = data.get("factor")
            if factor is None:
                continue
            limits = limits or price_settings_for(rule.store)
            self.limit_warnings += factor_warnings(
                rule=rule, slot=self.slot(data), factor=factor, limits=limits
            )
        confirmed = self.data.get(CONFIRM_FIELD) in ("on", "true", "1")
        if self.limit_warnings and not confirmed:
            raise forms.ValidationError(
                [
                    *self.limit_warnings,
                    "Tick “Save anyway” beside the Save button to keep these factors.",
                ]
            )

    def slot(self, data: dict) -> str:
        raise NotImplementedError


class WeekdayFactorFormSet(LimitCheckedFactorFormSet):
    def slot(self, data: dict) -> str:
        return _WEEKDAY_NAMES.get(data.get("weekday"), "weekday")


class HourFactorFormSet(LimitCheckedFactorFormSet):
    def slot(self, data: dict) -> str:
        hour = data.get("hour")
        return f"{hour:02d}:00" if hour is not None else "hour"


class WeatherFactorFormSet(LimitCheckedFactorFormSet):
    def slot(self, data: dict) -> str:
        return _CONDITIONS.get(data.get("condition"), "weather").lower()
