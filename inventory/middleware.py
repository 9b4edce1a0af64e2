"""The admin reads times in the local time of the stores the user works in.

Stores keep their own time zone (the demo's are Asia/Shanghai) while the
database and the API speak UTC. Under ``/admin/`` this middleware activates the
zone of the stores the signed-in staff user may see, so Django renders every
datetime, and builds ``date_hierarchy`` and date filters, in it: "the 25th" is
the store's 25th, as its order numbers and trading day are.

* A manager: the zone of the stores they manage.
* A superuser (or chain staff without a store): the zone of the store the list
  is filtered by (``?store=`` or ``?store__id__exact=``), else of every store.
* Stores in several zones: UTC, and the page header says so
  (``request.admin_time_zone_note``, read by ``hema.admin_site``).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from inventory import selectors
from inventory.models import Store

ADMIN_PREFIX = "/admin/"
STORE_PARAMETERS = ("store", "store__id__exact")
UTC = zoneinfo.ZoneInfo("UTC")


def admin_time_zone(request: HttpRequest) -> tuple[zoneinfo.ZoneInfo, str]:
    """The zone the admin page shows times in, and the header's note on it."""
    user = request.user
    stores = Store.objects.all()
    if not user.is_superuser:
        managed = selectors.store_ids_managed_by(user=user)
        if managed:
            stores = stores.filter(pk__in=managed)
    chosen = next(
        (
            request.GET[name]
            for name in STORE_PARAMETERS
            if request.GET.get(name, "").isdigit()
        ),
        None,
    )
    if chosen is not None and stores.filter(pk=chosen).exists():
        stores = stores.filter(pk=chosen)
    zones = sorted(set(stores.values_list("time_zone", flat=True)))
    if len(zones) == 1:
        return zoneinfo.ZoneInfo(zones[0]), f"Times in {zones[0]}"
    if not zones:
        return UTC, "Times in UTC"
    several = ", ".join(zones)
    return UTC, f"Times in UTC: the stores are in several time zones ({several})"


class AdminTimeZoneMiddleware:
    """Activates ``admin_time_zone`` for the admin's pages (after the
    authentication middleware); other URLs keep UTC."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            not request.path.startswith(ADMIN_PREFIX)
            or user is None
            or not user.is_authenticated
            or not user.is_staff
        ):
            return self.get_response(request)
        zone, note = admin_time_zone(request)
        request.admin_time_zone = zone
        request.admin_time_zone_note = note
        with timezone.override(zone):
            return self.get_response(request)
