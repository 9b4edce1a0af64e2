"""The managers' forecast screens: forecast against actual, and accuracy.

* A store product's chart (``demandforecast/product/<id>/``, linked from the
  store product's page): the last 4 weeks of sales (``DailySales``), the
  forecast for the days ahead with its 80% interval, and the one-day-ahead
  forecasts kept for past days, with the same figures as a table.
* The accuracy table (``forecastrun/accuracy/?store=<id>``): the latest
  backtest's WAPE and bias per category and overall for each method scored,
  and the nightly runs' accuracy of the day before, day by day.
* The forecast runs and the forecasts themselves, as read-only lists.

Scoped as the rest of inventory's admin (``inventory.admin``): a manager sees
only the stores they manage; another store's product, run or accuracy table is
a 403. Nobody adds, changes or deletes forecast rows here: the jobs write them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from inventory import display
from inventory.admin import (
    LedgerStoreFilter,
    StoreFilter,
    StoreScopedAdmin,
    _visible_stores,
    managed_store_ids,
)
from inventory.forecast.chart import ActualPoint, ForecastPoint, forecast_chart_svg
from inventory.forecast.models import (
    DailySales,
    DemandForecast,
    ForecastRun,
    RunKind,
    RunState,
)
from inventory.models import SaleUnit, Store, StoreProduct

ACTUAL_DAYS = 28
NIGHTLY_DAYS = 28
# The backtest's scored forecasts (inventory.forecast.backtest), in the order
# the table shows them; any other ``<name>_wape`` column is shown after them.
METHOD_LABELS = {
    "mix": "Chosen mix",
    "prophet_plain": "Plain Prophet",
    "seasonal_naive": "Seasonal naive",
}


def percent(value: float | None, *, signed: bool = False) -> str:
    """``31.2%`` (``+2.1%`` when signed); ``-`` when not measured."""
    if value is None:
        return "-"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def _check_store(request: HttpRequest, store_id: int) -> None:
    ids = managed_store_ids(request)
    if ids is not None and store_id not in ids:
        raise PermissionDenied


def store_product_in_scope(request: HttpRequest, pk: int) -> StoreProduct:
    """The store product, 404 if there is none, 403 in a store not managed."""
    store_product = get_object_or_404(
        StoreProduct.objects.select_related("store", "product"), pk=pk
    )
    _check_store(request, store_product.store_id)
    return store_product


def _unit(sp: StoreProduct) -> str:
    return "kg" if sp.product.sale_unit == SaleUnit.KILOGRAM else "pieces"


def _local_today(store: Store) -> dt.date:
    return timezone.localtime(timezone.now(), store.tz).date()


# --- The chart ----------------------------------------------------------------


@dataclass(frozen=True)
class ChartRow:
    day: dt.date
    actual: str
    sold_out: bool
    forecast: str
    band: str
    method: str
    ahead: bool


def forecast_chart_context(store_product: StoreProduct) -> dict[str, Any]:
    """What the chart page shows: the SVG and the same figures as rows."""
    today = _local_today(store_product.store)
    first = today - dt.timedelta(days=ACTUAL_DAYS)
    sales = list(
        DailySales.objects.filter(
            store_product=store_product, day__gte=first, day__lt=today
        ).order_by("day")
    )
    forecasts = list(
        DemandForecast.objects.filter(
            store_product=store_product, day__gte=first
        ).order_by("day")
    )
    ahead = [f for f in forecasts if f.day >= today]
    past = [f for f in forecasts if f.day < today]
    last = max([today, *(f.day for f in ahead)])

    def point(f: DemandForecast) -> ForecastPoint:
        return ForecastPoint(f.day, f.quantity, f.lower, f.upper)

    unit = store_product.product.sale_unit
    chart = forecast_chart_svg(
        actual=[ActualPoint(s.day, s.quantity, s.sold_out) for s in sales],
        ahead=[point(f) for f in ahead],
        past=[point(f) for f in past],
        first=first,
        last=last,
        today=today,
        unit=_unit(store_product),
        title=f"{store_product}: forecast against actual",
    )
    sold = {s.day: s for s in sales}
    forecast_of = {f.day: f for f in forecasts}
    rows = []
    for day in sorted(set(sold) | set(forecast_of), reverse=True):
        s, f = sold.get(day), forecast_of.get(day)
        rows.append(
            ChartRow(
                day=day,
                actual=display.quantity(s.quantity, unit) if s else "-",
                sold_out=bool(s and s.sold_out),
                forecast=display.quantity(f.quantity, unit) if f else "-",
                band=(
                    f"{display.quantity(f.lower, unit)} - "
                    f"{display.quantity(f.upper, unit)}"
                    if f
                    else "-"
                ),
                method=f.get_method_display() if f else "-",
                ahead=day >= today,
            )
        )
    return {
        "chart": chart,
        "rows": rows,
        "today": today,
        "first": first,
        "counts": {"actual": len(sales), "ahead": len(ahead), "past": len(past)},
        "buffer": display.quantity(store_product.online_buffer, unit),
    }


# --- The accuracy table -------------------------------------------------------


def _method_columns(table: dict[str, dict[str, Any]]) -> list[str]:
    found = {
        key.removesuffix("_wape")
        for row in table.values()
        if isinstance(row, dict)
        for key in row
        if key.endswith("_wape")
    }
    known = [name for name in METHOD_LABELS if name in found]
    return known + sorted(found - set(known))


def backtest_table(run: ForecastRun) -> dict[str, Any]:
    """The backtest's ``detail["table"]`` as rows: one per category, overall
    last, each with (WAPE, bias) per method scored."""
    table = run.detail.get("table") or {}
    methods = _method_columns(table)
    keys = sorted(
        (k for k, v in table.items() if isinstance(v, dict)),
        key=lambda k: (k == "overall", k),
    )
    rows = [
        {
            "category": key,
            "overall": key == "overall",
            "actual": table[key].get("actual"),
            "days": table[key].get("days"),
            "cells": [
                (
                    percent(table[key].get(f"{m}_wape")),
                    percent(table[key].get(f"{m}_bias"), signed=True),
                )
                for m in methods
            ],
        }
        for key in keys
    ]
    return {
        "run": run,
        "methods": [METHOD_LABELS.get(m, m.replace("_", " ")) for m in methods],
        "rows": rows,
        "chosen": sorted((run.detail.get("methods") or {}).items()),
        "origins": run.detail.get("origins") or [],
        "weeks": run.detail.get("weeks"),
    }


def nightly_accuracy(store: Store) -> list[dict[str, Any]]:
    """The nightly predict runs' accuracy of the day before, newest first."""
    runs = ForecastRun.objects.filter(
        store=store,
        kind=RunKind.PREDICT,
        origin__gte=_local_today(store) - dt.timedelta(days=NIGHTLY_DAYS),
    ).order_by("-origin", "-started_at")
    rows, seen = [], set()
    for run in runs:
        if run.origin in seen:
            continue
        seen.add(run.origin)
        measured = (run.detail or {}).get("accuracy", {}).get("day")
        rows.append(
            {
                "run": run,
                "day": measured or (run.origin - dt.timedelta(days=1)).isoformat(),
                "wape": percent(run.accuracy_wape),
                "bias": percent(run.accuracy_bias, signed=True),
            }
        )
    return rows


# --- The admins ---------------------------------------------------------------


class ForecastReadOnly(StoreScopedAdmin):
    read_only = True

    def has_module_permission(self, request: HttpRequest) -> bool:
        ids = managed_store_ids(request)
        return ids is None or bool(ids)


@admin.register(ForecastRun)
class ForecastRunAdmin(ForecastReadOnly):
    """Every predict, refit and backtest: counts, seconds and accuracy."""

    list_display = (
        "started_at",
        "store",
        "kind",
        "origin",
        "state",
        "series",
        "fallbacks",
        "failures",
        "seconds",
        "wape",
        "bias",
    )
    list_select_related = ("store",)
    list_filter = (StoreFilter, "kind", "state")
    date_hierarchy = "started_at"
    fields = (
        "store",
        "kind",
        "origin",
        "state",
        "started_at",
        "finished_at",
        "seconds",
        "series",
        "fallbacks",
        "failures",
        "wape",
        "bias",
        "detail",
    )
    readonly_fields = fields
    change_list_template = "admin/inventory/forecastrun/change_list.html"

    @admin.display(description="WAPE", ordering="accuracy_wape")
    def wape(self, obj: ForecastRun) -> str:
        return percent(obj.accuracy_wape)

    @admin.display(description="bias", ordering="accuracy_bias")
    def bias(self, obj: ForecastRun) -> str:
        return percent(obj.accuracy_bias, signed=True)

    def get_urls(self):
        return [
            path(
                "accuracy/",
                self.admin_site.admin_view(self.accuracy_view),
                name="inventory_forecast_accuracy",
            ),
            *super().get_urls(),
        ]

    def accuracy_view(self, request: HttpRequest) -> HttpResponse:
        """The accuracy table of one store (``?store=<id>``, default the first
        the user may see)."""
        stores = list(_visible_stores(request).order_by("code"))
        chosen = request.GET.get("store", "")
        if chosen:
            if not chosen.isdigit():
                raise Http404("No such store.")
            store = get_object_or_404(Store, pk=int(chosen))
            _check_store(request, store.pk)
        elif stores:
            store = stores[0]
        else:
            raise PermissionDenied
        backtest = (
            ForecastRun.objects.filter(
                store=store, kind=RunKind.BACKTEST, state=RunState.DONE
            )
            .order_by("-started_at", "-pk")
            .first()
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Forecast accuracy of {store}",
            "opts": self.opts,
            "store": store,
            "stores": stores,
            "backtest": backtest_table(backtest) if backtest else None,
            "nightly": nightly_accuracy(store),
            "nightly_days": NIGHTLY_DAYS,
        }
        return TemplateResponse(
            request, "admin/inventory/forecast/accuracy.html", context
        )


@admin.register(DemandForecast)
class DemandForecastAdmin(ForecastReadOnly):
    """The latest forecast of each product and day (a rerun replaces it)."""

    store_lookup = "store_product__store"
    list_display = (
        "day",
        "store_product",
        "quantity_shown",
        "band",
        "method",
        "made_on",
        "chart_link",
    )
    list_select_related = ("store_product__store", "store_product__product")
    list_filter = (LedgerStoreFilter, "method", "day")
    date_hierarchy = "day"
    search_fields = ("store_product__product__sku", "store_product__product__name")
    ordering = ("-day", "store_product")
    fields = (
        "store_product",
        "day",
        "quantity_shown",
        "band",
        "method",
        "made_on",
        "run",
    )
    readonly_fields = fields
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related(*self.list_select_related)

    @admin.display(description="forecast", ordering="quantity")
    def quantity_shown(self, obj: DemandForecast) -> str:
        return display.quantity(obj.quantity, obj.store_product.product.sale_unit)

    @admin.display(description="80% interval")
    def band(self, obj: DemandForecast) -> str:
        unit = obj.store_product.product.sale_unit
        return (
            f"{display.quantity(obj.lower, unit)} - {display.quantity(obj.upper, unit)}"
        )

    @admin.display(description="")
    def chart_link(self, obj: DemandForecast) -> str:
        return format_html(
            '<a href="{}">Chart</a>', forecast_chart_url(obj.store_product_id)
        )

    def get_urls(self):
        return [
            path(
                "product/<int:store_product_id>/",
                self.admin_site.admin_view(self.chart_view),
                name="inventory_forecast_chart",
            ),
            *super().get_urls(),
        ]

    def chart_view(self, request: HttpRequest, store_product_id: int) -> HttpResponse:
        """One store product's forecast against what sold."""
        store_product = store_product_in_scope(request, store_product_id)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Forecast of {store_product.product.name}",
            "subtitle": str(store_product),
            "opts": self.opts,
            "store_product": store_product,
            "store_product_url": reverse(
                "admin:inventory_storeproduct_change", args=[store_product.pk]
            ),
            "days": ACTUAL_DAYS,
            **forecast_chart_context(store_product),
        }
        return TemplateResponse(request, "admin/inventory/forecast/chart.html", context)


def forecast_chart_url(store_product_id: int) -> str:
    return reverse("admin:inventory_forecast_chart", args=[store_product_id])
