"""HTTP face of the inventory app: stores, the scan read and shelf QR codes."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hema.schema import ErrorSerializer
from inventory import qr, selectors
from inventory.errors import InvalidScanCode
from inventory.serializers import (
    LocationQuery,
    ScanResultSerializer,
    StoreSerializer,
    scan_result,
)

BAD_INPUT = OpenApiResponse(
    ErrorSerializer,
    description="A parameter is missing or out of range: `lat` without `lng` "
    "(or the reverse), a coordinate outside its range, a bad page "
    "(`invalid_input`, `extra.field` names it).",
)
NOT_FOUND = OpenApiResponse(
    ErrorSerializer,
    description="Unknown or closed store (`store_not_found`), or a product the "
    "store does not sell or no longer offers (`product_not_found`).",
)
STORE_NOT_FOUND = OpenApiResponse(
    ErrorSerializer, description="Unknown or closed store (`store_not_found`)."
)
BAD_CODE = OpenApiResponse(
    ErrorSerializer,
    description="Malformed code, or a label of another store (`invalid_code`; "
    "`extra.field` names the input).",
)
BAD_FORMAT = OpenApiResponse(
    ErrorSerializer,
    description="Unknown image format (`invalid_code`, `extra.field` is `format`).",
)


class FirstRendererNegotiation(BaseContentNegotiation):
    """Ignore the Accept header: the view picks its own content type.

    The QR view answers an image on success and JSON on refusal; a client that
    asks for ``Accept: image/png`` must not get a 406 before the view runs.
    """

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class StoreListApi(generics.ListAPIView):
    """The chain's open stores; with ``lat`` and ``lng``, only those that deliver
    there, nearest first, with the distance."""

    permission_classes = (AllowAny,)
    serializer_class = StoreSerializer

    @extend_schema(
        summary="List the open stores, or those that deliver to a place",
        parameters=[
            # lat and lng go together: one object, sent as ?lat=..&lng=..
            # (form style, exploded), whose two properties are both required.
            OpenApiParameter(
                "location",
                {
                    "type": "object",
                    "properties": {
                        "lat": {"type": "number", "minimum": -90, "maximum": 90},
                        "lng": {"type": "number", "minimum": -180, "maximum": 180},
                    },
                    "required": ["lat", "lng"],
                },
                style="form",
                explode=True,
                description="Where to deliver: `lat` and `lng` in degrees, sent "
                "together as `?lat=31.23&lng=121.47` (one alone is a 400).",
            ),
        ],
        responses={200: StoreSerializer(many=True), 400: BAD_INPUT},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        if "lat" not in params and "lng" not in params:
            return selectors.stores_active().order_by("code")
        location = LocationQuery(data=params)
        location.is_valid(raise_exception=True)
        return selectors.stores_covering(
            latitude=location.validated_data["lat"],
            longitude=location.validated_data["lng"],
        )


class StoreDetailApi(generics.RetrieveAPIView):
    permission_classes = (AllowAny,)
    serializer_class = StoreSerializer

    @extend_schema(
        summary="Read one store", responses={200: StoreSerializer, 404: STORE_NOT_FOUND}
    )
    def get(self, request: Request, store_code: str) -> Response:
        store = selectors.store_get(code=store_code)
        return Response(StoreSerializer(store).data)


class ScanApi(APIView):
    """What a shopper sees after scanning a shelf label: price now, stock, origin."""

    permission_classes = (AllowAny,)

    @extend_schema(
        summary="Read a scanned shelf code: price now, stock, origin, freshness",
        responses={200: ScanResultSerializer, 400: BAD_CODE, 404: NOT_FOUND},
        description="`code` is the QR payload (a URL ending in /q/<store>/<sku>, "
        "optionally percent-encoded) or a bare SKU. `price` is the shelf price now.",
    )
    def get(self, request: Request, store_code: str, code: str) -> Response:
        read = selectors.scan_read(store_code=store_code, code=code)
        return Response(scan_result(read))


class ProductQrApi(APIView):
    """The shelf label's QR code as PNG or SVG."""

    permission_classes = (AllowAny,)
    content_negotiation_class = FirstRendererNegotiation
    formats = {"png": "image/png", "svg": "image/svg+xml"}

    @extend_schema(
        operation_id="v1_stores_products_qr_retrieve",
        summary="A product's shelf QR code as PNG or SVG",
        parameters=[
            OpenApiParameter(
                "fmt",
                str,
                OpenApiParameter.PATH,
                enum=["png", "svg"],
                description="Image format.",
            )
        ],
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            (200, "image/svg+xml"): OpenApiTypes.BINARY,
            400: BAD_FORMAT,
            404: NOT_FOUND,
        },
    )
    def get(
        self, request: Request, store_code: str, sku: str, fmt: str
    ) -> HttpResponse:
        if fmt not in self.formats:
            raise InvalidScanCode(
                f"Unknown image format {fmt!r}: use png or svg.",
                {"field": "format", "allowed": sorted(self.formats)},
            )
        store = selectors.store_get(code=store_code)
        store_product = selectors.store_product_get(store=store, sku=sku)
        payload = qr.qr_payload(store_code=store.code, sku=store_product.product.sku)
        body = qr.render_png(payload) if fmt == "png" else qr.render_svg(payload)
        response = HttpResponse(body, content_type=self.formats[fmt])
        response["Cache-Control"] = "public, max-age=86400"
        return response
