"""Input and output shapes of the staff API (pickers, packers, the counter) and
the rail controller's endpoint."""

from rest_framework import serializers

from delivery.models import Fulfilment, FulfilmentLine, PickTask
from delivery.picking import hang_station, task_lines


class ClaimInput(serializers.Serializer):
    zone = serializers.CharField(max_length=16)


class ConfirmInput(serializers.Serializer):
    code = serializers.CharField(max_length=512, help_text="The shelf QR, or a SKU.")
    weight_kg = serializers.DecimalField(
        max_digits=9, decimal_places=3, required=False, allow_null=True
    )
    quantity = serializers.DecimalField(
        max_digits=12, decimal_places=3, required=False, allow_null=True
    )


class ShortInput(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)


class BagInput(serializers.Serializer):
    bag = serializers.CharField(max_length=512, help_text="The bag's QR token.")


class CollectInput(serializers.Serializer):
    code = serializers.CharField(max_length=16)


def line_data(line: FulfilmentLine) -> dict:
    product = line.store_product.product
    return {
        "id": line.pk,
        "sku": product.sku,
        "name": product.name,
        "shelf_location": line.store_product.shelf_location,
        "sale_unit": product.sale_unit,
        "quantity": str(line.quantity),
        "weight_tolerance": str(line.weight_tolerance) if product.is_weighed else None,
        "state": line.state,
        "quantity_picked": (
            None if line.quantity_picked is None else str(line.quantity_picked)
        ),
    }


def task_data(task: PickTask) -> dict:
    station = hang_station(task)
    bag = getattr(task, "bag", None)
    return {
        "id": task.pk,
        "order": task.fulfilment.reference,
        "zone": task.zone.code if task.zone else None,
        "deadline": task.deadline,
        "state": task.state,
        "hang_station": station.code if station else None,
        "bag": bag.code if bag else None,
        "lines": [line_data(line) for line in task_lines(task)],
    }


def fulfilment_data(fulfilment: Fulfilment) -> dict:
    return {
        "order": fulfilment.reference,
        "mode": fulfilment.mode,
        "state": fulfilment.state,
        "deadline": fulfilment.deadline,
        "paid_at": fulfilment.paid_at,
        "first_pick_at": fulfilment.first_pick_at,
        "last_hung_at": fulfilment.last_hung_at,
        "packed_at": fulfilment.packed_at,
        "packing_station": (
            fulfilment.packing_station.code if fulfilment.packing_station else None
        ),
    }


class LineOutput(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    shelf_location = serializers.CharField()
    sale_unit = serializers.CharField()
    quantity = serializers.CharField()
    weight_tolerance = serializers.CharField(allow_null=True)
    state = serializers.CharField()
    quantity_picked = serializers.CharField(allow_null=True)


class TaskOutput(serializers.Serializer):
    id = serializers.IntegerField()
    order = serializers.CharField()
    zone = serializers.CharField(allow_null=True)
    deadline = serializers.DateTimeField()
    state = serializers.CharField()
    hang_station = serializers.CharField(allow_null=True)
    bag = serializers.CharField(allow_null=True)
    lines = LineOutput(many=True)


class LineResultOutput(serializers.Serializer):
    line = LineOutput()
    task = TaskOutput()


class FulfilmentOutput(serializers.Serializer):
    order = serializers.CharField()
    mode = serializers.CharField()
    state = serializers.CharField()
    deadline = serializers.DateTimeField()
    paid_at = serializers.DateTimeField()
    first_pick_at = serializers.DateTimeField(allow_null=True)
    last_hung_at = serializers.DateTimeField(allow_null=True)
    packed_at = serializers.DateTimeField(allow_null=True)
    packing_station = serializers.CharField(allow_null=True)


class BagOnRailOutput(serializers.Serializer):
    bag = serializers.CharField(allow_null=True)
    task = serializers.IntegerField()
    order = serializers.CharField()
    zone = serializers.CharField(allow_null=True)
    location = serializers.CharField(allow_null=True)
    hung_at = serializers.DateTimeField(allow_null=True)
    expected_at = serializers.DateTimeField(allow_null=True)
    arrived_at = serializers.DateTimeField(allow_null=True)
    late = serializers.BooleanField()


class RailEventInput(serializers.Serializer):
    id = serializers.CharField(max_length=64)
    type = serializers.ChoiceField(choices=["hung", "passed", "arrived"])
    bag = serializers.CharField(max_length=32)
    station = serializers.CharField(max_length=16)
    at = serializers.DateTimeField(required=False)


class RailEventOutput(serializers.Serializer):
    result = serializers.CharField()
    bag = serializers.CharField()
    location = serializers.CharField(allow_null=True)
    expected_at = serializers.DateTimeField(allow_null=True)
    arrived_at = serializers.DateTimeField(allow_null=True)


# --- Riders ---------------------------------------------------------------------------


class PositionInput(serializers.Serializer):
    """Read as text so that the service names a bad value (400, ``field``)."""

    lat = serializers.CharField(max_length=32, help_text="Latitude, degrees.")
    lng = serializers.CharField(max_length=32, help_text="Longitude, degrees.")


class FailedInput(serializers.Serializer):
    reason = serializers.CharField(max_length=255)


class ShiftOutput(serializers.Serializer):
    id = serializers.IntegerField()
    store = serializers.CharField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    capacity_bags = serializers.IntegerField()
    lat = serializers.CharField(allow_null=True)
    lng = serializers.CharField(allow_null=True)
    position_at = serializers.DateTimeField(allow_null=True)


class StopOutput(serializers.Serializer):
    id = serializers.IntegerField()
    sequence = serializers.IntegerField()
    order = serializers.CharField()
    lat = serializers.CharField(allow_null=True)
    lng = serializers.CharField(allow_null=True)
    deadline = serializers.DateTimeField()
    planned_arrival = serializers.DateTimeField()
    arrived_at = serializers.DateTimeField(allow_null=True)
    state = serializers.CharField()
    failure_reason = serializers.CharField()


class TripOutput(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    planned_departure = serializers.DateTimeField()
    planned_return = serializers.DateTimeField()
    picked_up_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    stops = StopOutput(many=True)


def _text(value) -> str | None:
    return None if value is None else str(value)


def shift_data(shift) -> dict:
    return {
        "id": shift.pk,
        "store": shift.store.code,
        "started_at": shift.started_at,
        "ended_at": shift.ended_at,
        "capacity_bags": shift.capacity_bags,
        "lat": _text(shift.latitude),
        "lng": _text(shift.longitude),
        "position_at": shift.position_at,
    }


def stop_data(stop) -> dict:
    fulfilment = stop.fulfilment
    return {
        "id": stop.pk,
        "sequence": stop.sequence,
        "order": fulfilment.reference,
        "lat": _text(fulfilment.latitude),
        "lng": _text(fulfilment.longitude),
        "deadline": stop.deadline,
        "planned_arrival": stop.planned_arrival,
        "arrived_at": stop.arrived_at,
        "state": stop.state,
        "failure_reason": stop.failure_reason,
    }


def trip_data(trip) -> dict:
    stops = sorted(trip.stops.all(), key=lambda stop: stop.sequence)
    return {
        "id": trip.pk,
        "state": trip.state,
        "planned_departure": trip.planned_departure,
        "planned_return": trip.planned_return,
        "picked_up_at": trip.picked_up_at,
        "finished_at": trip.finished_at,
        "stops": [stop_data(stop) for stop in stops],
    }


# --- The delivery quote ---------------------------------------------------------------


class OfferOutput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["express", "window"])
    starts = serializers.DateTimeField()
    ends = serializers.DateTimeField(help_text="The deadline of this promise.")
    available = serializers.IntegerField(help_text="Places left in this window.")
    token = serializers.CharField(
        help_text="Send as `delivery_quote` at checkout to book this offer."
    )


class QuoteOutput(serializers.Serializer):
    store = serializers.CharField()
    mode = serializers.ChoiceField(
        choices=["express", "slot", "unavailable"],
        help_text="`express` within the store's promise; `slot` when express is "
        "refused (`refused_reason` says why) and windows are offered; "
        "`unavailable` when nothing can be promised (pickup only).",
    )
    express = serializers.BooleanField()
    distance_km = serializers.CharField()
    deadline = serializers.CharField(allow_null=True)
    token = serializers.CharField(help_text="The first offer's token ('' if none).")
    refused_reason = serializers.CharField()
    estimated_arrival = serializers.CharField(allow_null=True)
    offers = OfferOutput(many=True)
    alternatives = serializers.ListField(child=serializers.CharField())
