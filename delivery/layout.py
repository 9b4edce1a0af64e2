"""The store's rail layout and its bags: the writes the admin and the demo
data share."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from django.db import transaction

from delivery.models import Bag, RailSegment, RailStation, StationKind
from delivery.picking import bag_token
from inventory.models import Store, Zone

# Seconds a bag takes from one zone's station to the next along the demo rail,
# and from the last zone's station to packing.
DEMO_HOP_SECONDS = 25
DEMO_TO_PACKING_SECONDS = 40


@transaction.atomic
def rail_layout_linear(
    *,
    store: Store,
    zones: Sequence[Zone],
    packing_codes: Sequence[str] = ("PACK1",),
    hop_seconds: int = DEMO_HOP_SECONDS,
    to_packing_seconds: int = DEMO_TO_PACKING_SECONDS,
) -> list[RailStation]:
    """A rail that passes every zone's hang station in walking order, then each
    packing station (the demo stores' shape). Idempotent: stations and segments
    are found by their codes and only created or re-timed."""
    stations = []
    for zone in zones:
        station, _ = RailStation.objects.update_or_create(
            store=store,
            code=f"H-{zone.code}",
            defaults={"name": zone.name, "kind": StationKind.HANG, "zone": zone},
        )
        stations.append(station)
    packing = []
    for code in packing_codes:
        station, _ = RailStation.objects.update_or_create(
            store=store,
            code=code,
            defaults={"name": f"Packing {code}", "kind": StationKind.PACKING},
        )
        packing.append(station)
    for here, there in itertools.pairwise(stations):
        RailSegment.objects.update_or_create(
            store=store,
            from_station=here,
            to_station=there,
            defaults={"travel_seconds": hop_seconds},
        )
    if stations:
        for station in packing:
            RailSegment.objects.update_or_create(
                store=store,
                from_station=stations[-1],
                to_station=station,
                defaults={"travel_seconds": to_packing_seconds},
            )
    return stations + packing


def bags_issue(*, store: Store, count: int) -> list[tuple[Bag, str]]:
    """Make sure the store has ``count`` bags (``<store>-BAG-0001`` …); returns
    each with the token its QR label prints."""
    codes = [f"{store.code}-BAG-{n:04d}" for n in range(1, count + 1)]
    # One read and one insert, not a round trip per bag: a store issues
    # thousands at once (the simulation gives each rider a dozen per zone).
    found = {bag.code: bag for bag in Bag.objects.filter(store=store, code__in=codes)}
    Bag.objects.bulk_create(
        [Bag(store=store, code=code) for code in codes if code not in found]
    )
    found = {bag.code: bag for bag in Bag.objects.filter(store=store, code__in=codes)}
    bags = []
    for code in codes:
        bag = found[code]
        bag.store = store
        bags.append((bag, bag_token(bag)))
    return bags
