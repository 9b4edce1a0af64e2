"""The dashboard as the admin's first page, and its JSON.

Who sees which store: a superuser any active store; another staff user the
stores they manage (``inventory.admin.managed_store_ids``); asking for a store
out of scope answers 403, page or JSON alike. A staff user who manages no
store (a chain operator) gets the admin's plain index.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import BadRequest, PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone

from hema.dashboard.figures import PANELS, dashboard_figures
from inventory.admin import managed_store_ids
from inventory.forecast.days import TradingCalendar
from inventory.models import Store


def stores_in_scope(request: HttpRequest) -> list[Store]:
    """The stores the user may pick, by code."""
    scope = managed_store_ids(request)
    stores = Store.objects.filter(is_active=True).order_by("code")
    if scope is not None:
        stores = stores.filter(pk__in=scope)
    return list(stores)


def pick_store(request: HttpRequest, stores: list[Store], code: str | None) -> Store:
    """The store named by ``code`` (any case), or the first one; 403 when the
    code names no store in scope."""
    if not code:
        return stores[0]
    for store in stores:
        if store.code.lower() == code.lower():
            return store
    raise PermissionDenied(f"Store {code} is not one of the stores you manage.")


def as_of(request: HttpRequest, store: Store) -> tuple[dt.datetime, dt.date | None]:
    """The moment the figures are for: now, or with ``?day=YYYY-MM-DD`` the
    end of that trading day (a day looked back on, or a simulated day: `make
    demo` keeps the days it simulates). A malformed day is a 400 naming it."""
    now = timezone.now()
    raw = request.GET.get("day")
    if not raw:
        return now, None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"day: {raw!r} is not a date (use YYYY-MM-DD).") from None
    calendar = TradingCalendar(store)
    if day == calendar.day_of(now):
        return now, day
    end = calendar.start_of(day + dt.timedelta(days=1))
    return end - dt.timedelta(microseconds=1), day


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    """The index page's extra context: empty when the user has no store."""
    stores = stores_in_scope(request)
    if not stores:
        return {}
    store = pick_store(request, stores, request.GET.get("store"))
    moment, day = as_of(request, store)
    return {
        "dashboard": dashboard_figures(store=store, now=moment),
        "dashboard_day": day,
        "dashboard_stores": stores,
        "dashboard_store": store,
        "dashboard_panels": PANELS,
    }


def dashboard_data(request: HttpRequest, code: str) -> JsonResponse:
    """The figures of one store as JSON, with each panel rendered, for the
    page to swap in every minute."""
    stores = stores_in_scope(request)
    if not stores:
        raise PermissionDenied("You manage no store.")
    store = pick_store(request, stores, code)
    moment, _ = as_of(request, store)
    figures = dashboard_figures(store=store, now=moment)
    panels = {
        name: render_to_string(
            f"hema/dashboard/panel_{name}.html", {"dashboard": figures}, request
        )
        for name in PANELS
    }
    return JsonResponse(
        {"figures": figures, "panels": panels}, encoder=DjangoJSONEncoder
    )
