"""The staff API: pickers, packers and the counter, each only at a store where
they hold that role (``inventory.StoreStaff``); anyone else gets 403 and sees
nothing of the store. Every write takes an ``Idempotency-Key`` (the shopper's
rules, ``hema.idempotency``): hand-held scanners retry on bad Wi-Fi. The rail
controller posts its signed events to its own endpoint.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from delivery import packing, picking, rail
from delivery.errors import StaffForbidden
from delivery.models import PickTask, StaffIdempotencyKey
from delivery.serializers import (
    BagInput,
    BagOnRailOutput,
    ClaimInput,
    CollectInput,
    ConfirmInput,
    FulfilmentOutput,
    LineResultOutput,
    RailEventInput,
    RailEventOutput,
    ShortInput,
    TaskOutput,
    fulfilment_data,
    line_data,
    task_data,
)
from hema.idempotency import IdempotencyGuard
from hema.schema import error_response
from inventory.models import StaffRole, Store

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
