"""The ceiling rail: the controller's bag events, where each bag is, when it
should arrive at packing, and which bags are late.

The controller is a device with its own id and secret, one per store. It signs
each event like a payment provider signs a webhook: ``Rail-Signature:
t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with its secret, sent with
``Rail-Device: <device id>``. An unknown device, a bad signature, a signature
older than five minutes, an event id seen before, a bag that is not this
store's or carries no task, or an unknown station is refused, and nothing
changes.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import heapq
import hmac
import json
import secrets
import time
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from delivery.errors import RailControllerUnknown, RailEventRefused
from delivery.fulfilment import packing_station_for
from delivery.models import (
    Bag,
    Fulfilment,
    PickTask,
    PickTaskState,
    RailController,
    RailEvent,
    RailEventKind,
    RailSegment,
    RailStation,
    StationKind,
)
from hema.errors import Conflict

SIGNATURE_TOLERANCE_SECONDS = 300
# A bag this much past its expected arrival is flagged late.
LATE_GRACE = dt.timedelta(seconds=30)


class RailEventReplayed(Conflict):
    code = "rail_event_replayed"


def controller_create(*, store: Any) -> tuple[RailController, str]:
    """A store's controller credentials (a new secret replaces the old one).
    Returns the controller and its secret, to configure the device with."""
    secret = secrets.token_urlsafe(32)
    controller, _ = RailController.objects.update_or_create(
        store=store,
        defaults={
            "device_id": f"rail-{store.code.lower()}-{secrets.token_hex(4)}",
            "secret": secret,
            "is_active": True,
        },
    )
    return controller, secret


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _verify(controller: RailController, body: bytes, header: str) -> None:
    parts = dict(
        item.split("=", 1) for item in (header or "").split(",") if "=" in item
    )
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        raise RailControllerUnknown(
            "Missing or malformed Rail-Signature.", {"field": "Rail-Signature"}
        ) from None
    expected = sign(controller.secret, body, timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, parts.get("v1", "")):
        raise RailControllerUnknown(
            "The event's signature does not match this device.",
            {"field": "Rail-Signature"},
        )
    if abs(time.time() - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        raise RailEventReplayed(
            "The signature is too old: a replayed event.", {"field": "Rail-Signature"}
        )


def controller_authenticate(*, device_id: str, body: bytes, signature: str):
    controller = (
        RailController.objects.select_related("store")
        .filter(device_id=(device_id or "").strip(), is_active=True)
        .first()
    )
    if controller is None:
        raise RailControllerUnknown("Unknown rail device.", {"field": "Rail-Device"})
    _verify(controller, body, signature)
    return controller


def seconds_to_packing(station: RailStation, packing: RailStation | None) -> int | None:
    """Shortest travel time along the rail's segments (Dijkstra on a few dozen
    stations), or None when the layout has no way there."""
    if packing is None:
        return None
    edges: dict[int, list[tuple[int, int]]] = {}
    for a, b, seconds in (
        RailSegment.objects.filter(store_id=station.store_id)
        .order_by()  # any order: no join of the stations to sort them
        .values_list("from_station_id", "to_station_id", "travel_seconds")
    ):
        edges.setdefault(a, []).append((b, seconds))
    best = {station.pk: 0}
    queue = [(0, station.pk)]
    while queue:
        cost, node = heapq.heappop(queue)
        if node == packing.pk:
            return cost
        if cost > best.get(node, cost):
            continue
        for target, seconds in edges.get(node, []):
            if cost + seconds < best.get(target, cost + seconds + 1):
                best[target] = cost + seconds
                heapq.heappush(queue, (cost + seconds, target))
    return None


def _parse_event(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise RailEventRefused("The body is not JSON.", {"field": "body"}) from None
    if not isinstance(data, dict):
        raise RailEventRefused("Send one event object.", {"field": "body"})
    for field in ("id", "type", "bag", "station"):
        if not isinstance(data.get(field), str) or not data[field].strip():
            raise RailEventRefused(f"{field} is required.", {"field": field})
    if data["type"] not in RailEventKind.values:
        raise RailEventRefused(
            f"Unknown event type {data['type']!r}.",
            {"field": "type", "allowed": list(RailEventKind.values)},
        )
    if len(data["id"]) > 64:
        raise RailEventRefused("The id is too long.", {"field": "id"})
    at = data.get("at")
    when = parse_datetime(at) if isinstance(at, str) else None
    if at is not None and (when is None or when.tzinfo is None):
        raise RailEventRefused(
            "at must be an ISO time with its offset.", {"field": "at"}
        )
    data["at"] = when or timezone.now()
    return data


@transaction.atomic
def rail_event_record(*, controller: RailController, body: bytes) -> PickTask:
    """Record one controller event and move the bag's task along the rail.

    ``hung``: the bag is on the rail at its zone's station; its expected arrival
    is that time plus the travel time to the fulfilment's packing station (the
    fulfilment's last bag hung stops its "on the rail" timer). ``passed``: the
    bag is at that station; its arrival is re-estimated from there.
    ``arrived``: the bag is at a packing station.
    """
    data = _parse_event(body)
    store = controller.store
    # Codes are unique: ordered by the key, the lock takes the bag's row
    # alone, not the store's too through a join to sort by it.
    bag = (
        Bag.objects.select_for_update()
        .filter(store=store, code=data["bag"].strip())
        .order_by("pk")
        .first()
    )
    if bag is None or bag.task_id is None:
        raise RailEventRefused(
            f"No bag {data['bag']!r} is on a task at {store.code}.",
            {"field": "bag"},
        )
    station = (
        RailStation.objects.filter(store=store, code=data["station"].strip().upper())
        .order_by("pk")
        .first()
    )
    if station is None:
        raise RailEventRefused(
            f"{store.code} has no rail station {data['station']!r}.",
            {"field": "station"},
        )
    kind, at = data["type"], data["at"]
    if kind == RailEventKind.ARRIVED and station.kind != StationKind.PACKING:
        raise RailEventRefused(
            f"{station.code} is not a packing station.", {"field": "station"}
        )
    task = PickTask.objects.select_for_update().get(pk=bag.task_id)
    if task.state != PickTaskState.BAGGED:
        raise RailEventRefused(
            f"Bag {bag.code}'s task is {task.state}.", {"field": "bag"}
        )
    event = RailEvent(
        controller=controller,
        event_id=data["id"].strip(),
        kind=kind,
        bag=bag,
        task=task,
        station=station,
        occurred_at=at,
        received_at=timezone.now(),
    )
    if not _event_recorded(event):
        raise RailEventReplayed(
            f"Event {data['id']!r} was already recorded.", {"field": "id"}
        )
    fulfilment = Fulfilment.objects.select_related("packing_station").get(
        pk=task.fulfilment_id
    )
    if fulfilment.packing_station is None:
        fulfilment.packing_station = packing_station_for(store)
        Fulfilment.objects.filter(pk=fulfilment.pk).update(
            packing_station=fulfilment.packing_station
        )
    changes: dict[str, Any] = {"location": station, "updated_at": timezone.now()}
    if kind == RailEventKind.ARRIVED:
        changes["arrived_at"] = at
    else:
        if kind == RailEventKind.HUNG and task.hung_at is None:
            changes["hung_at"] = at
        seconds = seconds_to_packing(station, fulfilment.packing_station)
        changes["expected_at"] = (
            None if seconds is None else at + dt.timedelta(seconds=seconds)
        )
    PickTask.objects.filter(pk=task.pk).update(**changes)
    if kind == RailEventKind.HUNG:
        _last_bag_hung(fulfilment)
    # The row is locked and was read above: what changed is set on it (times
    # in UTC, as the database gives them back), not read back.
    for name, value in changes.items():
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC)
        setattr(task, name, value)
    return task


_RAIL_EVENT_COLUMNS = (
    "controller_id",
    "event_id",
    "kind",
    "bag_id",
    "task_id",
    "station_id",
    "occurred_at",
    "received_at",
)
_RAIL_EVENT_INSERT_SQL = """
INSERT INTO {table} (controller_id, event_id, kind, bag_id, task_id, station_id,
                     occurred_at, received_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (controller_id, event_id) DO NOTHING
RETURNING id
"""


@functools.cache
def _rail_event_insert_sql() -> str:
    # Only the model's table name is formatted in; the values are bound.
    return _RAIL_EVENT_INSERT_SQL.format(
        table=connection.ops.quote_name(RailEvent._meta.db_table)
    )


def _event_recorded(event: RailEvent) -> bool:
    """Insert the event unless its controller sent its id before; False then.

    PostgreSQL: one ``INSERT ... ON CONFLICT DO NOTHING`` on the event's
    unique key, so that a replay is told apart without the savepoint a caught
    IntegrityError needs (two statements fewer for every bag that moves).
    Elsewhere the INSERT in a savepoint, its IntegrityError the replay."""
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                event.save(force_insert=True)
        except IntegrityError:
            return False
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            _rail_event_insert_sql(),
            [getattr(event, column) for column in _RAIL_EVENT_COLUMNS],
        )
        row = cursor.fetchone()
    if row is None:
        return False
    event.pk = row[0]
    event._state.adding = False
    event._state.db = connection.alias
    return True


def _last_bag_hung(fulfilment: Fulfilment) -> None:
    """Once every task of the fulfilment is bagged and hung (none left to pick),
    the time the last went up is the fulfilment's "on the rail" mark."""
    tasks = PickTask.objects.filter(fulfilment=fulfilment).exclude(
        state=PickTaskState.CANCELLED
    )
    seen = tasks.aggregate(
        not_bagged=Count("pk", filter=~Q(state=PickTaskState.BAGGED)),
        not_hung=Count("pk", filter=Q(hung_at__isnull=True)),
        last=Max("hung_at"),
    )
    if seen["not_bagged"] or seen["not_hung"]:
        return
    Fulfilment.objects.filter(pk=fulfilment.pk).update(last_hung_at=seen["last"])


def bags_on_rail(*, store: Any, now: dt.datetime | None = None) -> list[dict]:
    """Every bag carrying a task of the store: where it is, when it should
    arrive, and whether it is late (past its expected arrival by 30 s)."""
    now = now or timezone.now()
    tasks = (
        PickTask.objects.filter(store=store, state=PickTaskState.BAGGED)
        .select_related("bag", "location", "fulfilment", "zone")
        .order_by("expected_at", "pk")
    )
    rows = []
    for task in tasks:
        bag = getattr(task, "bag", None)
        late = (
            task.arrived_at is None
            and task.expected_at is not None
            and now > task.expected_at + LATE_GRACE
        )
        rows.append(
            {
                "bag": bag.code if bag else None,
                "task": task.pk,
                "order": task.fulfilment.reference,
                "zone": task.zone.code if task.zone else None,
                "location": task.location.code if task.location else None,
                "hung_at": task.hung_at,
                "expected_at": task.expected_at,
                "arrived_at": task.arrived_at,
                "late": late,
            }
        )
    return rows
