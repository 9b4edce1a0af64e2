"""The admin's chart pages: a store product's four weeks, and a store's
delivery times for a day.

Scoped like the dashboard: a superuser sees any store; a manager only the
stores they manage (another store's product or deliveries answer 403).
"""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from delivery.models import Fulfilment
from hema.dashboard.delivery_times import delivery_chart_svg, delivery_day
from hema.dashboard.product_chart import product_chart_svg
from hema.dashboard.product_history import WINDOW_DAYS, product_history
from hema.dashboard.views import pick_store, stores_in_scope
from inventory import display
from inventory.forecast.admin_forecast import store_product_in_scope
from inventory.forecast.days import trading_day
from inventory.models import SaleUnit


def product_chart(request: HttpRequest, store_product_id: int) -> HttpResponse:
    """Sales, stock on hand, shelf price and forecast of the last four weeks."""
    store_product = store_product_in_scope(request, store_product_id)
    store, unit = store_product.store, store_product.product.sale_unit
    history = product_history(store_product=store_product, now=timezone.now())
    unit_label = "kg" if unit == SaleUnit.KILOGRAM else "pieces"
    chart = product_chart_svg(
        history,
        unit=unit_label,
        currency=store.currency,
        title=f"{store_product}: sales, stock, price and forecast",
    )

    def shown(value):
        return "-" if value is None else display.quantity(value, unit)

    rows = [
        {
            "day": f.day,
            "sold": shown(f.sold),
            "sold_out": f.sold_out,
            "on_hand": shown(f.on_hand),
            "forecast": shown(f.forecast),
            "ahead": f.day > history.today,
        }
        for f in reversed(history.days)
    ]
    tz = store.tz
    prices = [
        {"at": moment.astimezone(tz), "price": display.money(price, store.currency)}
        for moment, price in reversed(history.prices)
    ]
    context = {
        **admin.site.each_context(request),
        "title": f"Four weeks of {store_product.product.name}",
        "subtitle": str(store_product),
        "store_product": store_product,
        "store_product_url": reverse(
            "admin:inventory_storeproduct_change", args=[store_product.pk]
        ),
        "forecast_url": reverse(
            "admin:inventory_forecast_chart", args=[store_product.pk]
        ),
        "chart": chart,
        "history": history,
        "days": WINDOW_DAYS,
        "rows": rows,
        "prices": prices,
        "time_zone": store.time_zone,
    }
    return TemplateResponse(request, "hema/dashboard/product_chart.html", context)


def delivery_chart(request: HttpRequest, code: str) -> HttpResponse:
    """Promised against actual times of the deliveries of one trading day
    (``?day=YYYY-MM-DD``, today by default)."""
    stores = stores_in_scope(request)
    if not stores:
        raise PermissionDenied("You manage no store.")
    store = pick_store(request, stores, code)
    today = trading_day(store, timezone.now())
    asked = request.GET.get("day")
    if asked:
        try:
            day = dt.date.fromisoformat(asked)
        except ValueError:
            return HttpResponseBadRequest(
                f"day: {asked!r} is not a date (YYYY-MM-DD).",
                content_type="text/plain",
            )
    else:
        day = today
    figures = delivery_day(store=store, day=day)
    context = {
        **admin.site.each_context(request),
        "title": f"Delivery times at {store.code}",
        "store": store,
        "day": figures,
        "chart": delivery_chart_svg(figures),
        "previous_day": day - dt.timedelta(days=1),
        "next_day": day + dt.timedelta(days=1) if day < today else None,
        "today": today,
        "time_zone": store.time_zone,
        "fulfilment_opts": Fulfilment._meta,
    }
    return TemplateResponse(request, "hema/dashboard/delivery_chart.html", context)
