"""The dashboard as the admin's first page, and its JSON.

Who sees which store: a superuser any active store; another staff user the
stores they manage (``inventory.admin.managed_store_ids``); asking for a store
out of scope answers 403, page or JSON alike. A staff user who manages no
store (a chain operator) gets the admin's plain index.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone

from hema.dashboard.figures import PANELS, dashboard_figures
from inventory.admin import managed_store_ids
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


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    """The index page's extra context: empty when the user has no store."""
    stores = stores_in_scope(request)
    if not stores:
        return {}
    store = pick_store(request, stores, request.GET.get("store"))
    return {
        "dashboard": dashboard_figures(store=store, now=timezone.now()),
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
    figures = dashboard_figures(store=store, now=timezone.now())
    panels = {
        name: render_to_string(
            f"hema/dashboard/panel_{name}.html", {"dashboard": figures}, request
        )
        for name in PANELS
    }
    return JsonResponse(
        {"figures": figures, "panels": panels}, encoder=DjangoJSONEncoder
    )
