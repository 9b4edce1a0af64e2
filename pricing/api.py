"""HTTP face of pricing: the feed electronic shelf label controllers poll."""

import datetime as dt

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hema.schema import ErrorSerializer
from inventory import selectors as inventory_selectors
from pricing import selectors
from pricing.errors import InvalidPriceQuery
from pricing.serializers import PriceFeedSerializer

DEFAULT_LIMIT = 1000
MAX_LIMIT = 5000
MAX_OFFSET = 10_000_000


def _parse_since(raw: str | None) -> dt.datetime | None:
    """``since`` as a UTC time; None when absent. An empty ``since=`` is refused:
    a controller that lost its ``as_of`` must not get the whole feed silently."""
    if raw is None:
        return None
    try:
        since = parse_datetime(raw.strip().replace(" ", "+"))
    except ValueError:
        since = None
    if since is None:
        raise InvalidPriceQuery(
            "since must be an ISO 8601 time, e.g. 2026-11-24T10:00:00Z.",
            {"field": "since", "value": raw},
        )
    if since.tzinfo is None:
        raise InvalidPriceQuery(
            "since needs a UTC offset (Z or +08:00): label controllers and the "
            "server may be in different time zones.",
            {"field": "since", "value": raw},
        )
    try:
        # The query and the answer use UTC; 0001-01-01T00:00+01:00 has no UTC.
        return since.astimezone(dt.UTC)
    except OverflowError:
        raise InvalidPriceQuery(
            "since is outside the calendar once converted to UTC.",
            {"field": "since", "value": raw},
        ) from None


def _parse_int(
    raw: str | None, *, field: str, default: int, low: int, high: int
) -> int:
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit():
        raise InvalidPriceQuery(
            f"{field} must be a whole number.", {"field": field, "value": raw}
        )
    value = int(raw)
    if not low <= value <= high:
        raise InvalidPriceQuery(
            f"{field} must be between {low} and {high}.",
            {"field": field, "value": raw},
        )
    return value


class PriceFeedApi(APIView):
    """Shelf prices of a store for label controllers.

    Without ``since``: every active product (the first sync). With ``since``:
    only products whose price changed at or after it. Poll again with the
    ``as_of`` of the answer; a price may arrive twice, never not at all.
    """

    permission_classes = (AllowAny,)

    @extend_schema(
        summary="Shelf prices changed since a time, for shelf label controllers",
        parameters=[
            OpenApiParameter(
                "since",
                OpenApiTypes.DATETIME,
                required=False,
                description="Only prices changed at or after this time (with a "
                "UTC offset): the `as_of` of the last answer. Absent: every "
                "price.",
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                required=False,
                description=f"Prices per page (default {DEFAULT_LIMIT}).",
            ),
            OpenApiParameter(
                "offset",
                {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                required=False,
                description="Prices to skip.",
            ),
        ],
        responses={
            200: PriceFeedSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="A parameter out of range, or `since` not an ISO "
                "8601 time with a UTC offset (`invalid_input`, "
                "`extra.field` names it).",
            ),
            404: OpenApiResponse(
                ErrorSerializer, description="Unknown store (`store_not_found`)."
            ),
        },
    )
    def get(self, request: Request, store_code: str) -> Response:
        since = _parse_since(request.query_params.get("since"))
        limit = _parse_int(
            request.query_params.get("limit"),
            field="limit",
            default=DEFAULT_LIMIT,
            low=1,
            high=MAX_LIMIT,
        )
        offset = _parse_int(
            request.query_params.get("offset"),
            field="offset",
            default=0,
            low=0,
            high=MAX_OFFSET,
        )
        store = inventory_selectors.store_get(code=store_code)
        as_of = selectors.feed_as_of(store=store)
        queryset = selectors.price_feed(store=store, since=since)
        count = queryset.count()
        page = list(queryset[offset : offset + limit])
        next_url = None
        if offset + limit < count:
            query = request.query_params.copy()
            query["offset"] = str(offset + limit)
            query["limit"] = str(limit)
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        body = {
            "store": store.code,
            "currency": store.currency,
            "as_of": as_of,
            "since": since,
            "count": count,
            "next": next_url,
            "results": page,
        }
        return Response(PriceFeedSerializer(body).data)
