"""Coverage and the delivery promise (3 km / 30 minutes by default, per store).

This is the first estimate: inside the radius, the store's promise from now.
The capacity-aware promise (slots, riders, closing express when full) replaces
the estimate behind the same ``quote`` function when the dispatcher arrives.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core import signing

from delivery.errors import InvalidQuoteToken, OutsideDeliveryArea
from inventory.geo import distance_km_decimal
from inventory.models import Store

QUOTE_SALT = "delivery.quote"
QUOTE_MAX_AGE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Quote:
    store_code: str
    mode: str  # "express" (within the promise) or "slot"
    distance_km: Decimal
    deadline: dt.datetime
    token: str
    refused_reason: str = ""


def coverage_check(*, store: Store, latitude: Decimal, longitude: Decimal) -> Decimal:
    """The distance to the store, or a refusal naming distance and radius."""
    distance = distance_km_decimal(store.latitude, store.longitude, latitude, longitude)
    if distance > store.delivery_radius_km:
        raise OutsideDeliveryArea(
            f"{distance} km from {store.code}: the store delivers within "
            f"{store.delivery_radius_km} km. Pickup in store is available.",
            {
                "field": "address",
                "distance_km": str(distance),
                "radius_km": str(store.delivery_radius_km),
                "alternatives": ["pickup"],
            },
        )
    return distance


def quote(
    *,
    store: Store,
    latitude: Decimal,
    longitude: Decimal,
    line_count: int,
    at: dt.datetime,
) -> Quote:
    """The promise for an order placed ``at``: express within the store's minutes."""
    distance = coverage_check(store=store, latitude=latitude, longitude=longitude)
    deadline = at + dt.timedelta(minutes=store.delivery_promise_minutes)
    token = signing.dumps(
        {
            "store": store.code,
            "lat": str(latitude),
            "lng": str(longitude),
            "deadline": deadline.isoformat(),
            "mode": "express",
        },
        salt=QUOTE_SALT,
        compress=True,
    )
    return Quote(
        store_code=store.code,
        mode="express",
        distance_km=distance,
        deadline=deadline,
        token=token,
    )


def quote_read(token: str) -> dict:
    """A quote's content, if the token is ours and still fresh."""
    try:
        return signing.loads(token, salt=QUOTE_SALT, max_age=QUOTE_MAX_AGE)
    except signing.SignatureExpired:
        raise InvalidQuoteToken(
            "The delivery quote has expired; ask for a new one.", {"field": "quote"}
        ) from None
    except signing.BadSignature:
        raise InvalidQuoteToken(
            "Not a valid delivery quote.", {"field": "quote"}
        ) from None
