"""Packing and the counter: an order whose bags have all arrived is packed; a
pickup order then waits at the counter with a collection code; an in-store
purchase sent home is packed at the counter without picking.

Each step sends its signal (``packed``, ``ready``, ``collected``) inside its
transaction, so orders moves the order in the same commit.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from delivery import signals
from delivery.errors import (
    BagsMissing,
    FulfilmentNotFound,
    FulfilmentStateRefused,
    WrongCollectionCode,
)
from delivery.fulfilment import bags_free
from delivery.models import (
    Fulfilment,
    FulfilmentLine,
    FulfilmentMode,
    FulfilmentState,
    LineState,
    PickTask,
    PickTaskState,
)
from inventory.models import Store

COLLECTION_CODE_DIGITS = 6


def fulfilment_get(*, store: Store, reference: str, for_update: bool = False):
    queryset = Fulfilment.objects.filter(store=store, reference=reference)
    if for_update:
        queryset = queryset.select_for_update()
    fulfilment = queryset.first()
    if fulfilment is None:
        raise FulfilmentNotFound(
            f"No order {reference} to fulfil at {store.code}.", {"field": "order"}
        )
    return fulfilment


def ready_to_pack(*, store: Store) -> list[Fulfilment]:
    """What the packer sees: orders being picked whose every line is picked or
    short and every bag has arrived, and in-store purchases sent home waiting at
    the counter; earliest deadline first."""
    unfinished = PickTask.objects.filter(fulfilment=OuterRef("pk")).filter(
        Q(state__in=[PickTaskState.OPEN, PickTaskState.CLAIMED])
        | Q(state=PickTaskState.BAGGED, arrived_at__isnull=True)
    )
    open_lines = FulfilmentLine.objects.filter(
        fulfilment=OuterRef("pk"), state=LineState.OPEN
    )
    picked = FulfilmentLine.objects.filter(
        fulfilment=OuterRef("pk"), state=LineState.PICKED
    )
    return list(
        Fulfilment.objects.filter(store=store)
        .filter(
            Q(state=FulfilmentState.PICKING, skips_picking=False)
            | Q(state=FulfilmentState.OPEN, skips_picking=True)
        )
        .filter(~Exists(unfinished), ~Exists(open_lines), Exists(picked))
        .order_by("deadline", "pk")
    )


def _refuse_unfinished(fulfilment: Fulfilment) -> bool:
    """Name every bag not yet at packing and every line not yet picked;
    returns whether any line was picked (read with the open ones)."""
    lines = list(
        fulfilment.lines.filter(state__in=[LineState.OPEN, LineState.PICKED])
        .order_by("pk")
        .values_list("pk", "state")
    )
    open_lines = [pk for pk, state in lines if state == LineState.OPEN]
    missing = []
    for task in (
        fulfilment.tasks.exclude(state=PickTaskState.CANCELLED)
        .select_related("bag", "zone")
        .order_by("pk")
    ):
        if task.state == PickTaskState.BAGGED and task.arrived_at is not None:
            continue
        bag = getattr(task, "bag", None)
        missing.append(
            {
                "task": task.pk,
                "zone": task.zone.code if task.zone else None,
                "state": task.state,
                "bag": bag.code if bag else None,
            }
        )
    if missing or open_lines:
        raise BagsMissing(
            f"{fulfilment.reference} is not ready to pack: {len(missing)} bag(s) "
            "have not arrived.",
            {"field": "order", "missing": missing, "open_lines": open_lines},
        )
    return any(state == LineState.PICKED for _, state in lines)


@transaction.atomic
def fulfilment_pack(*, store: Store, reference: str, packer: Any) -> Fulfilment:
    """The packer packs an order whose bags have all arrived (or the counter
    packs an in-store purchase sent home): ``packed``. A pickup order then
    becomes ready with a collection code (``ready``). A bag missing is refused,
    naming it; nothing changes."""
    fulfilment = fulfilment_get(store=store, reference=reference, for_update=True)
    if fulfilment.skips_picking:
        allowed = FulfilmentState.OPEN
    else:
        allowed = FulfilmentState.PICKING
    if fulfilment.state != allowed:
        raise FulfilmentStateRefused(
            f"{fulfilment.reference} is {fulfilment.state}: nothing to pack.",
            {"field": "order", "state": fulfilment.state},
        )
    # Bags missing or lines open are refused first, naming them; then an order
    # of which nothing was picked.
    if not fulfilment.skips_picking and not _refuse_unfinished(fulfilment):
        raise FulfilmentStateRefused(
            f"Nothing of {fulfilment.reference} was picked: nothing to pack.",
            {"field": "order", "state": fulfilment.state},
        )
    now = timezone.now()
    bags_free(fulfilment.tasks.values("pk"))  # one UPDATE, the tasks a subquery
    fulfilment.state, fulfilment.packed_at = FulfilmentState.PACKED, now
    Fulfilment.objects.filter(pk=fulfilment.pk).update(
        state=FulfilmentState.PACKED, packed_at=now, updated_at=now
    )
    signals.packed.send(sender=Fulfilment, fulfilment=fulfilment, actor=packer)
    if fulfilment.mode == FulfilmentMode.PICKUP:
        code = "".join(
            secrets.choice("0123456789") for _ in range(COLLECTION_CODE_DIGITS)
        )
        fulfilment.state, fulfilment.collection_code = FulfilmentState.READY, code
        Fulfilment.objects.filter(pk=fulfilment.pk).update(
            state=FulfilmentState.READY, collection_code=code
        )
        signals.ready.send(
            sender=Fulfilment, fulfilment=fulfilment, code=code, actor=packer
        )
    return fulfilment


@transaction.atomic
def fulfilment_collect(
    *, store: Store, reference: str, code: str, staff: Any
) -> Fulfilment:
    """The counter hands a ready pickup order over when the shopper's code
    matches (``collected``); a wrong code is refused and nothing changes."""
    fulfilment = fulfilment_get(store=store, reference=reference, for_update=True)
    if fulfilment.state != FulfilmentState.READY:
        raise FulfilmentStateRefused(
            f"{fulfilment.reference} is {fulfilment.state}, not ready for collection.",
            {"field": "order", "state": fulfilment.state},
        )
    given = str(code or "").strip()
    if not given or not hmac.compare_digest(given, fulfilment.collection_code):
        raise WrongCollectionCode(
            f"That is not the collection code of {fulfilment.reference}.",
            {"field": "code"},
        )
    now = timezone.now()
    fulfilment.state = FulfilmentState.COLLECTED
    Fulfilment.objects.filter(pk=fulfilment.pk).update(
        state=FulfilmentState.COLLECTED, closed_at=now, updated_at=now
    )
    signals.collected.send(sender=Fulfilment, fulfilment=fulfilment, actor=staff)
    return fulfilment
