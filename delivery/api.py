"""The staff API: pickers, packers and the counter, each only at a store where
they hold that role (``inventory.StoreStaff``); anyone else gets 403 and sees
nothing of the store. Every write takes an ``Idempotency-Key`` (the shopper's
rules, ``hema.idempotency``): hand-held scanners retry on bad Wi-Fi. The rail
controller posts its signed events to its own endpoint.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from delivery import packing, picking, rail, riders
from delivery.errors import StaffForbidden
from delivery.models import PickTask, StaffIdempotencyKey
from delivery.promise import quote, quote_data
from delivery.serializers import (
    BagInput,
    BagOnRailOutput,
    ClaimInput,
    CollectInput,
    ConfirmInput,
    FailedInput,
    FulfilmentOutput,
    LineResultOutput,
    PositionInput,
    QuoteOutput,
    RailEventInput,
    RailEventOutput,
    ShiftOutput,
    ShortInput,
    StopOutput,
    TaskOutput,
    TripOutput,
    fulfilment_data,
    line_data,
    shift_data,
    stop_data,
    task_data,
    trip_data,
)
from hema.idempotency import IdempotencyGuard
from hema.schema import error_response
from inventory import selectors as store_selectors
from inventory.models import StaffRole, Store
from inventory.serializers import LocationQuery

guard = IdempotencyGuard(StaffIdempotencyKey, b"delivery.staff")

REFUSED = error_response("Refused: the error names the reason.")
FORBIDDEN = {403: error_response("Not staff with this role here.")}


def staff_store(request: Request, store_code: str, role: str) -> Store:
    """The store, if the user holds ``role`` there (active); else 403, the same
    for a store that does not exist, so that nothing of it shows."""
    store = (
        Store.objects.filter(
            code=(store_code or "").upper(),
            is_active=True,
            staff__user=request.user,
            staff__role=role,
            staff__is_active=True,
        )
        .distinct()
        .first()
    )
    if store is None:
        raise StaffForbidden(
            f"Only a {role} of {store_code} may do this.",
            {"field": "store", "role": role},
        )
    return store


def _task(store: Store, task_id: Any, user: Any) -> PickTask:
    return picking.task_for_picker(store=store, task_id=task_id, picker=user)


def _valid(serializer_class: type, request: Request) -> dict:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


# --- Pickers --------------------------------------------------------------------------


class PickTaskClaimApi(APIView):
    @extend_schema(
        request=ClaimInput,
        responses={200: TaskOutput, 204: None, 400: REFUSED, **FORBIDDEN},
        summary="Claim the next pick task of a zone (204 when none waits)",
    )
    def post(self, request: Request, store_code: str) -> Response:
        store = staff_store(request, store_code, StaffRole.PICKER)
        return self._claim(request, store=store)

    @guard.idempotent
    def _claim(self, request: Request, *, store: Store) -> Response:
        zone = picking.zone_get(
            store=store, zone_code=_valid(ClaimInput, request)["zone"]
        )
        try:
            task = picking.pick_task_claim(store=store, zone=zone, picker=request.user)
        except picking.NothingToClaim:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(TaskOutput(task_data(task)).data)


class PickTaskDetailApi(APIView):
    @extend_schema(
        summary="Read a pick task: its lines in shelf order and hang station",
        responses={200: TaskOutput, 404: REFUSED, **FORBIDDEN},
    )
    def get(self, request: Request, store_code: str, task_id: str) -> Response:
        store = staff_store(request, store_code, StaffRole.PICKER)
        return Response(TaskOutput(task_data(_task(store, task_id, request.user))).data)


class PickLineConfirmApi(APIView):
    @extend_schema(
        request=ConfirmInput,
        responses={200: LineResultOutput, 409: REFUSED, 422: REFUSED, **FORBIDDEN},
        summary="Confirm a line by its shelf QR (and weight)",
    )
    def post(
        self, request: Request, store_code: str, task_id: str, line_id: str
    ) -> Response:
        store = staff_store(request, store_code, StaffRole.PICKER)
        return self._confirm(request, store=store, task_id=task_id, line_id=line_id)

    @guard.idempotent
    def _confirm(
        self, request: Request, *, store: Store, task_id: str, line_id: str
    ) -> Response:
        data = _valid(ConfirmInput, request)
        task = _task(store, task_id, request.user)
        line = picking.pick_line_confirm(
            task=task,
            line_id=line_id,
            code=data["code"],
            picker=request.user,
            weight_kg=data.get("weight_kg"),
            quantity=data.get("quantity"),
        )
        return Response(
            LineResultOutput({"line": line_data(line), "task": task_data(task)}).data
        )


class PickLineShortApi(APIView):
    @extend_schema(
        request=ShortInput,
        responses={200: LineResultOutput, 409: REFUSED, **FORBIDDEN},
        summary="Report a line the shelf cannot fill",
    )
    def post(
        self, request: Request, store_code: str, task_id: str, line_id: str
    ) -> Response:
        store = staff_store(request, store_code, StaffRole.PICKER)
        return self._short(request, store=store, task_id=task_id, line_id=line_id)

    @guard.idempotent
    def _short(
        self, request: Request, *, store: Store, task_id: str, line_id: str
    ) -> Response:
        data = _valid(ShortInput, request)
        task = _task(store, task_id, request.user)
        line = picking.pick_line_short(
            task=task,
            line_id=line_id,
            picker=request.user,
            reason=data.get("reason", ""),
        )
        task.refresh_from_db()
        return Response(
            LineResultOutput({"line": line_data(line), "task": task_data(task)}).data
        )


class PickTaskBagApi(APIView):
    @extend_schema(
        request=BagInput,
        responses={200: TaskOutput, 409: REFUSED, 422: REFUSED, **FORBIDDEN},
        summary="Put the picked task in a bag to hang at the zone's station",
    )
    def post(self, request: Request, store_code: str, task_id: str) -> Response:
        store = staff_store(request, store_code, StaffRole.PICKER)
        return self._bag(request, store=store, task_id=task_id)

    @guard.idempotent
    def _bag(self, request: Request, *, store: Store, task_id: str) -> Response:
        data = _valid(BagInput, request)
        task = _task(store, task_id, request.user)
        task = picking.pick_task_bag(
            task=task, bag_code=data["bag"], picker=request.user
        )
        return Response(TaskOutput(task_data(task)).data)


# --- Packers and the counter ---------------------------------------------------------


class RailBagsApi(APIView):
    @extend_schema(
        summary="Where each bag on the rail is, when it arrives, and if it is late",
        responses={200: BagOnRailOutput(many=True), **FORBIDDEN},
    )
    def get(self, request: Request, store_code: str) -> Response:
        store = staff_store(request, store_code, StaffRole.PACKER)
        return Response(BagOnRailOutput(rail.bags_on_rail(store=store), many=True).data)


class PackingReadyApi(APIView):
    @extend_schema(
        summary="Orders ready to pack: every bag arrived, or packed at the counter",
        responses={200: FulfilmentOutput(many=True), **FORBIDDEN},
    )
    def get(self, request: Request, store_code: str) -> Response:
        store = staff_store(request, store_code, StaffRole.PACKER)
        ready = packing.ready_to_pack(store=store)
        return Response(
            FulfilmentOutput([fulfilment_data(f) for f in ready], many=True).data
        )


class FulfilmentPackApi(APIView):
    @extend_schema(
        request=None,
        responses={200: FulfilmentOutput, 409: REFUSED, **FORBIDDEN},
        summary="Pack an order whose bags have all arrived",
    )
    def post(self, request: Request, store_code: str, reference: str) -> Response:
        store = staff_store(request, store_code, StaffRole.PACKER)
        return self._pack(request, store=store, reference=reference)

    @guard.idempotent
    def _pack(self, request: Request, *, store: Store, reference: str) -> Response:
        fulfilment = packing.fulfilment_pack(
            store=store, reference=reference, packer=request.user
        )
        return Response(FulfilmentOutput(fulfilment_data(fulfilment)).data)


class FulfilmentCollectApi(APIView):
    @extend_schema(
        request=CollectInput,
        responses={200: FulfilmentOutput, 409: REFUSED, 422: REFUSED, **FORBIDDEN},
        summary="Hand a pickup order over against its collection code",
    )
    def post(self, request: Request, store_code: str, reference: str) -> Response:
        store = staff_store(request, store_code, StaffRole.PACKER)
        return self._collect(request, store=store, reference=reference)

    @guard.idempotent
    def _collect(self, request: Request, *, store: Store, reference: str) -> Response:
        data = _valid(CollectInput, request)
        fulfilment = packing.fulfilment_collect(
            store=store, reference=reference, code=data["code"], staff=request.user
        )
        return Response(FulfilmentOutput(fulfilment_data(fulfilment)).data)


# --- The rail controller --------------------------------------------------------------


class RailEventApi(APIView):
    """Signed by the store's controller (``Rail-Device`` and ``Rail-Signature``
    headers); see ``delivery/rail.py``."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        request=RailEventInput,
        responses={200: RailEventOutput, 400: REFUSED, 401: REFUSED, 409: REFUSED},
        summary="A bag event from the rail controller",
    )
    def post(self, request: Request) -> Response:
        body = request._request.body
        controller = rail.controller_authenticate(
            device_id=request.headers.get("Rail-Device", ""),
            body=body,
            signature=request.headers.get("Rail-Signature", ""),
        )
        task = rail.rail_event_record(controller=controller, body=body)
        bag = getattr(task, "bag", None)
        return Response(
            RailEventOutput(
                {
                    "result": "recorded",
                    "bag": bag.code if bag else "",
                    "location": task.location.code if task.location else None,
                    "expected_at": task.expected_at,
                    "arrived_at": task.arrived_at,
                }
            ).data
        )


# --- Pickers' duty --------------------------------------------------------------------


class PickerShiftApi(APIView):
    @extend_schema(
        request=None,
        responses={204: None, **FORBIDDEN},
        summary="Go on duty as a picker (the promise counts pickers on duty)",
    )
    def post(self, request: Request, store_code: str) -> Response:
        store = staff_store(request, store_code, StaffRole.PICKER)
        return self._start(request, store=store)

    @guard.idempotent
    def _start(self, request: Request, *, store: Store) -> Response:
        riders.picker_shift_start(store=store, picker=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PickerShiftEndApi(APIView):
    @extend_schema(
        request=None,
        responses={204: None, **FORBIDDEN},
        summary="Go off duty as a picker",
    )
    def post(self, request: Request, store_code: str) -> Response:
        store = staff_store(request, store_code, StaffRole.PICKER)
        return self._end(request, store=store)

    @guard.idempotent
    def _end(self, request: Request, *, store: Store) -> Response:
        riders.picker_shift_end(store=store, picker=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Riders ---------------------------------------------------------------------------


class RiderShiftApi(APIView):
    @extend_schema(
        request=None,
        responses={200: ShiftOutput, **FORBIDDEN},
        summary="Go on shift as a rider at this store",
    )
    def post(self, request: Request, store_code: str) -> Response:
        store = staff_store(request, store_code, StaffRole.RIDER)
        return self._start(request, store=store)

    @guard.idempotent
    def _start(self, request: Request, *, store: Store) -> Response:
        shift = riders.rider_shift_start(store=store, rider=request.user)
        return Response(ShiftOutput(shift_data(shift)).data)


class RiderShiftEndApi(APIView):
    @extend_schema(
        request=None,
        responses={200: ShiftOutput, 409: REFUSED, **FORBIDDEN},
        summary="Go off shift (refused while a trip is in hand)",
    )
    def post(self, request: Request, store_code: str) -> Response:
        store = staff_store(request, store_code, StaffRole.RIDER)
        return self._end(request, store=store)

    @guard.idempotent
    def _end(self, request: Request, *, store: Store) -> Response:
        shift = riders.rider_shift_end(store=store, rider=request.user)
        return Response(ShiftOutput(shift_data(shift)).data)


class RiderPositionApi(APIView):
    @extend_schema(
        request=PositionInput,
        responses={200: ShiftOutput, 400: REFUSED, 409: REFUSED, **FORBIDDEN},
        summary="Report the rider's position from the phone",
    )
    def post(self, request: Request, store_code: str) -> Response:
        store = staff_store(request, store_code, StaffRole.RIDER)
        return self._position(request, store=store)

    @guard.idempotent
    def _position(self, request: Request, *, store: Store) -> Response:
        data = _valid(PositionInput, request)
        shift = riders.rider_position_update(
            store=store, rider=request.user, latitude=data["lat"], longitude=data["lng"]
        )
        return Response(ShiftOutput(shift_data(shift)).data)


class RiderTripApi(APIView):
    @extend_schema(
        summary="The rider's trip in hand: its stops in order, each deadline "
        "(204 when none)",
        responses={200: TripOutput, 204: None, **FORBIDDEN},
    )
    def get(self, request: Request, store_code: str) -> Response:
        store = staff_store(request, store_code, StaffRole.RIDER)
        trip = riders.trip_current(store=store, rider=request.user)
        if trip is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(TripOutput(trip_data(trip)).data)


def _trip_answer(trip: Any) -> Response:
    trip = type(trip).objects.prefetch_related("stops__fulfilment").get(pk=trip.pk)
    return Response(TripOutput(trip_data(trip)).data)


class TripPickUpApi(APIView):
    @extend_schema(
        request=None,
        responses={200: TripOutput, 404: REFUSED, 409: REFUSED, **FORBIDDEN},
        summary="Collected at the store: every order on the trip is out for delivery",
    )
    def post(self, request: Request, store_code: str, trip_id: str) -> Response:
        store = staff_store(request, store_code, StaffRole.RIDER)
        return self._pick_up(request, store=store, trip_id=trip_id)

    @guard.idempotent
    def _pick_up(self, request: Request, *, store: Store, trip_id: str) -> Response:
        trip = riders.trip_pick_up(store=store, rider=request.user, trip_id=trip_id)
        return _trip_answer(trip)


class StopDeliveredApi(APIView):
    @extend_schema(
        request=PositionInput,
        responses={
            200: StopOutput,
            400: REFUSED,
            404: REFUSED,
            409: REFUSED,
            **FORBIDDEN,
        },
        summary="Handed over at the door (with the phone's position)",
    )
    def post(
        self, request: Request, store_code: str, trip_id: str, stop_id: str
    ) -> Response:
        store = staff_store(request, store_code, StaffRole.RIDER)
        return self._delivered(request, store=store, trip_id=trip_id, stop_id=stop_id)

    @guard.idempotent
    def _delivered(
        self, request: Request, *, store: Store, trip_id: str, stop_id: str
    ) -> Response:
        data = _valid(PositionInput, request)
        stop = riders.stop_delivered(
            store=store,
            rider=request.user,
            trip_id=trip_id,
            stop_id=stop_id,
            latitude=data["lat"],
            longitude=data["lng"],
        )
        return Response(StopOutput(stop_data(stop)).data)


class StopFailedApi(APIView):
    @extend_schema(
        request=FailedInput,
        responses={200: StopOutput, 404: REFUSED, 409: REFUSED, **FORBIDDEN},
        summary="Could not deliver, with a reason (refunded or delivered again)",
    )
    def post(
        self, request: Request, store_code: str, trip_id: str, stop_id: str
    ) -> Response:
        store = staff_store(request, store_code, StaffRole.RIDER)
        return self._failed(request, store=store, trip_id=trip_id, stop_id=stop_id)

    @guard.idempotent
    def _failed(
        self, request: Request, *, store: Store, trip_id: str, stop_id: str
    ) -> Response:
        data = _valid(FailedInput, request)
        stop = riders.stop_failed(
            store=store,
            rider=request.user,
            trip_id=trip_id,
            stop_id=stop_id,
            reason=data["reason"],
        )
        return Response(StopOutput(stop_data(stop)).data)


# --- The delivery quote (shoppers) ----------------------------------------------------


class DeliveryQuoteApi(APIView):
    """What the store can promise a place now: express with a deadline, or why
    not and the earliest windows it can keep. Each offer's token is booked at
    checkout (``delivery_quote``)."""

    permission_classes = (AllowAny,)

    @extend_schema(
        summary="Quote delivery to a place: express, or the earliest windows",
        parameters=[
            OpenApiParameter("lat", float, required=True, description="Latitude."),
            OpenApiParameter("lng", float, required=True, description="Longitude."),
        ],
        responses={
            200: QuoteOutput,
            400: REFUSED,
            404: REFUSED,
            422: error_response(
                "Outside the store's radius: `extra` names the distance and the "
                "radius and offers pickup."
            ),
        },
    )
    def get(self, request: Request, store_code: str) -> Response:
        store = store_selectors.store_get(code=store_code)
        location = LocationQuery(data=request.query_params)
        location.is_valid(raise_exception=True)
        result = quote(
            store=store,
            latitude=location.validated_data["lat"],
            longitude=location.validated_data["lng"],
            line_count=1,
            at=timezone.now(),
        )
        return Response(QuoteOutput(quote_data(result)).data)
