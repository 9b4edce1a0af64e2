"""The managers' screens of the shop floor: the rail layout, bags, the rail
controller, fulfilments with their 10-minute timers (orders at risk now, the
day's median and 90th percentile per store), pick tasks and the recount list.

Scoped like every store's rows (``inventory.admin.StoreScopedAdmin``): a manager
sees and changes only their stores. Fulfilments, tasks and rail events change
only through the staff API's services: they are read-only here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from delivery import selectors
from delivery.models import (
    Bag,
    DeliverySettings,
    DeliverySlot,
    DispatchRun,
    Fulfilment,
    PickTask,
    RailController,
    RailSegment,
    RailStation,
    RecountRequest,
    RiderShift,
    Trip,
    TripStop,
)
from delivery.picking import bag_token
from inventory.admin import StoreScopedAdmin, managed_store_ids
from inventory.models import Store


@admin.register(RailStation)
class RailStationAdmin(StoreScopedAdmin):
    list_display = ("code", "name", "store", "kind", "zone", "is_active")
    list_filter = ("store", "kind", "is_active")
    manager_can_add = True
    manager_can_delete = True


@admin.register(RailSegment)
class RailSegmentAdmin(StoreScopedAdmin):
    list_display = ("from_station", "to_station", "travel_seconds", "store")
    list_filter = ("store",)
    manager_can_add = True
    manager_can_delete = True

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in ("from_station", "to_station"):
            ids = managed_store_ids(request)
            stations = RailStation.objects.select_related("store")
            kwargs["queryset"] = (
                stations if ids is None else stations.filter(store_id__in=ids)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Bag)
class BagAdmin(StoreScopedAdmin):
    list_display = ("code", "store", "task", "is_active")
    list_filter = ("store", "is_active")
    search_fields = ("code",)
    readonly_fields = ("task", "qr_token")
    fields = ("store", "code", "is_active", "task", "qr_token")
    manager_can_add = True

    @admin.display(description="QR token (print on the bag)")
    def qr_token(self, bag: Bag) -> str:
        return bag_token(bag) if bag.pk else "-"


@admin.register(RailController)
class RailControllerAdmin(StoreScopedAdmin):
    """The device's secret is never shown: it is printed once when issued
    (``seed_demo_layout`` or ``delivery.rail.controller_create``)."""

    list_display = ("device_id", "store", "is_active")
    fields = ("store", "device_id", "is_active")
    read_only = True


class AtRiskFilter(admin.SimpleListFilter):
    title = "10-minute target"
    parameter_name = "timer"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("at_risk", "At risk now (7+ minutes, not packed)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "at_risk":
            at_risk = selectors.fulfilments_at_risk()
            return queryset.filter(pk__in=at_risk.values("pk"))
        return queryset


@admin.register(Fulfilment)
class FulfilmentAdmin(StoreScopedAdmin):
    list_display = (
        "reference",
        "store",
        "mode",
        "state",
        "paid_at",
        "deadline",
        "to_first_pick",
        "to_rail",
        "to_packed",
        "at_risk",
    )
    list_filter = (AtRiskFilter, "store", "state", "mode")
    search_fields = ("reference",)
    date_hierarchy = "paid_at"
    read_only = True
    change_list_template = "admin/delivery/fulfilment/change_list.html"

    @admin.display(description="first pick (min)")
    def to_first_pick(self, fulfilment: Fulfilment) -> float | None:
        return selectors.fulfilment_timers(fulfilment)["first_pick"]

    @admin.display(description="last bag on rail (min)")
    def to_rail(self, fulfilment: Fulfilment) -> float | None:
        return selectors.fulfilment_timers(fulfilment)["on_rail"]

    @admin.display(description="packed (min)")
    def to_packed(self, fulfilment: Fulfilment) -> float | None:
        return selectors.fulfilment_timers(fulfilment)["packed"]

    @admin.display(description="at risk", boolean=True)
    def at_risk(self, fulfilment: Fulfilment) -> bool:
        return (
            fulfilment.state in selectors.IN_PROGRESS
            and not fulfilment.skips_picking
            and timezone.now() - fulfilment.paid_at >= selectors.AT_RISK_AFTER
        )

    def changelist_view(self, request: HttpRequest, extra_context=None):
        ids = managed_store_ids(request)
        stores = Store.objects.filter(is_active=True)
        if ids is not None:
            stores = stores.filter(pk__in=ids)
        rows = []
        for store in stores.order_by("code"):
            row = selectors.pack_times_of_day(store=store)
            row["at_risk"] = selectors.fulfilments_at_risk(stores=[store.pk]).count()
            rows.append(row)
        extra_context = {
            **(extra_context or {}),
            "timer_stats": rows,
            "target_minutes": int(selectors.PACK_TARGET.total_seconds() // 60),
        }
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(PickTask)
class PickTaskAdmin(StoreScopedAdmin):
    list_display = (
        "pk",
        "fulfilment",
        "zone",
        "state",
        "picker",
        "deadline",
        "hung_at",
        "location",
        "expected_at",
        "arrived_at",
    )
    list_filter = ("store", "state", "zone")
    read_only = True


@admin.register(RecountRequest)
class RecountRequestAdmin(StoreScopedAdmin):
    """Shelves a picker found short: count them again (Count correction on the
    store product), then mark them done here."""

    list_display = (
        "store_product",
        "store",
        "reason",
        "reported_by",
        "created_at",
        "resolved_at",
    )
    list_filter = ("store", ("resolved_at", admin.EmptyFieldListFilter))
    readonly_fields = ("store", "store_product", "reason", "reported_by", "resolved_at")
    actions = ("mark_recounted",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Mark the selected shelves recounted")
    def mark_recounted(self, request: HttpRequest, queryset: QuerySet) -> None:
        done = queryset.filter(resolved_at__isnull=True).update(
            resolved_at=timezone.now()
        )
        self.message_user(request, f"{done} recount(s) marked done.", messages.SUCCESS)


# --- Delivery: settings, riders, slots, trips and the dispatcher's record -------------


@admin.register(DeliverySettings)
class DeliverySettingsAdmin(StoreScopedAdmin):
    """The store's travel model (speed, road factor, handover), bags per trip,
    windows and the floor's default times, and what a failed delivery becomes."""

    list_display = (
        "store",
        "rider_speed_kmh",
        "road_factor",
        "handover_seconds",
        "rider_capacity_bags",
        "slot_minutes",
        "orders_per_rider_slot",
        "failed_delivery",
    )
    manager_can_add = True


@admin.register(RiderShift)
class RiderShiftAdmin(StoreScopedAdmin):
    list_display = (
        "rider",
        "store",
        "started_at",
        "ended_at",
        "capacity_bags",
        "latitude",
        "longitude",
        "position_at",
    )
    list_filter = ("store", ("ended_at", admin.EmptyFieldListFilter))
    read_only = True


@admin.register(DeliverySlot)
class DeliverySlotAdmin(StoreScopedAdmin):
    list_display = ("store", "kind", "starts", "ends", "booked", "capacity")
    list_filter = ("store", "kind")
    read_only = True


class TripStopInline(admin.TabularInline):
    model = TripStop
    fields = (
        "sequence",
        "fulfilment",
        "deadline",
        "planned_arrival",
        "arrived_at",
        "state",
        "failure_reason",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True  # the trip's page is scoped to the manager's stores already

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Trip)
class TripAdmin(StoreScopedAdmin):
    """Each trip with its stops: the promise (deadline), the plan and what
    happened."""

    list_display = (
        "pk",
        "store",
        "rider",
        "state",
        "planned_departure",
        "picked_up_at",
        "planned_return",
        "finished_at",
    )
    list_filter = ("store", "state")
    inlines = (TripStopInline,)
    read_only = True


@admin.register(DispatchRun)
class DispatchRunAdmin(StoreScopedAdmin):
    """Every dispatcher tick: the solver, its time and cost, the stops pooled,
    and for each trip why this rider."""

    list_display = (
        "started_at",
        "store",
        "solver",
        "solver_seconds",
        "cost",
        "stops_considered",
        "riders_considered",
        "trips_created",
        "stops_pooled",
    )
    list_filter = ("store", "solver")
    read_only = True
