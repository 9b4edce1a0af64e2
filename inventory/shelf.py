"""The page a phone camera opens from a shelf label's QR code (``/q/<store>/<sku>``).

The code on every label encodes ``HEMA_QR_BASE_URL/q/<store>/<sku>``. The app
opens that URL itself (it registers the host as an app link); a camera without
the app lands here. A browser gets a small server-rendered product page: the
name in the store's language and in English, the price now per piece or per kg,
origin, freshness and the oldest best-before on the shelf, whether it is in
stock, and a link that opens the app. API clients (``Accept: application/json``)
are sent to the scan read, whose JSON is the API's contract.

The page reads the same row as the scan (``selectors.scan_read``: one query; a
refusal costs a second), renders a template with no inline style or script (the
Content-Security-Policy allows neither) and loads only its own stylesheet and
placeholder picture. It follows the browser's language (English or Simplified
Chinese, ``hema.i18n``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.translation import get_language

from inventory import selectors
from inventory.display import money
from inventory.errors import InvalidScanCode, ProductNotFound, StoreNotFound
from inventory.models import SaleUnit
from inventory.selectors import ScanRead

JSON = "application/json"
HTML = "text/html"


def wants_json(request: HttpRequest) -> bool:
    """An API client: it prefers JSON to HTML (a browser sends ``text/html`` first,
    a client sending ``*/*`` or nothing gets the page)."""
    return request.get_preferred_type([HTML, JSON]) == JSON


def app_link(read: ScanRead) -> str:
    """The deep link the Hema app handles: ``hema://store/<code>/product/<sku>``."""
    store, sku = quote(read.store_code, safe=""), quote(read.sku, safe="")
    return f"hema://store/{store}/product/{sku}"


def page_context(read: ScanRead) -> dict[str, Any]:
    """What the template shows, from the scan read alone (no other query)."""
    local_first = bool(read.name_local) and (get_language() or "").startswith("zh")
    title, subtitle = (
        (read.name_local, read.name) if local_first else (read.name, read.name_local)
    )
    return {
        "read": read,
        "title": title,
        "subtitle": subtitle,
        "title_is_local": local_first,
        "price": money(read.shelf_price, read.currency),
        "per_kg": read.sale_unit == SaleUnit.KILOGRAM,
        "list_price": (
            money(read.list_price, read.currency)
            if read.list_price > read.shelf_price
            else None
        ),
        "in_stock": read.available > 0,
        "app_link": app_link(read),
        "app_download_url": settings.HEMA_APP_DOWNLOAD_URL,
    }


def qr_landing(request: HttpRequest, store_code: str, sku: str) -> HttpResponse:
    """The URL in every shelf code: the product page, or the scan JSON for clients."""
    if wants_json(request):
        url = reverse("scan", kwargs={"store_code": store_code, "code": sku})
        response: HttpResponse = HttpResponseRedirect(url)
    else:
        try:
            read = selectors.scan_read(store_code=store_code, code=sku)
        except (StoreNotFound, ProductNotFound, InvalidScanCode):
            response = render(
                request,
                "inventory/shelf/not_found.html",
                {"store_code": store_code, "sku": sku},
                status=404,
            )
        else:
            response = render(
                request, "inventory/shelf/product.html", page_context(read)
            )
            # The price moves by the hour and the stock by the minute.
            patch_cache_control(response, no_cache=True)
    patch_vary_headers(response, ["Accept"])
    return response
