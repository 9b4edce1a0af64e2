"""HTTP face of the inventory app: stores, the scan read and shelf QR codes."""

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory import qr, selectors
from inventory.errors import InvalidScanCode
from inventory.serializers import ErrorSerializer, ScanResultSerializer, StoreSerializer

NOT_FOUND = OpenApiResponse(ErrorSerializer, description="Unknown store or product.")
BAD_CODE = OpenApiResponse(ErrorSerializer, description="Malformed code.")


class StoreListApi(generics.ListAPIView):
    """The chain's open stores."""

    permission_classes = (AllowAny,)
    serializer_class = StoreSerializer

    def get_queryset(self):
        return selectors.stores_active().order_by("code")


class StoreDetailApi(generics.RetrieveAPIView):
    permission_classes = (AllowAny,)
    serializer_class = StoreSerializer

    @extend_schema(responses={200: StoreSerializer, 404: NOT_FOUND})
    def get(self, request: Request, store_code: str) -> Response:
        store = selectors.store_get(code=store_code)
        return Response(StoreSerializer(store).data)


class ScanApi(APIView):
    """What a shopper sees after scanning a shelf label: price now, stock, origin."""

    permission_classes = (AllowAny,)

    @extend_schema(
        responses={200: ScanResultSerializer, 400: BAD_CODE, 404: NOT_FOUND},
        description="`code` is the QR payload (a URL ending in /q/<store>/<sku>) "
        "or a bare SKU.",
    )
    def get(self, request: Request, store_code: str, code: str) -> Response:
        store = selectors.store_get(code=store_code)
        store_product = selectors.store_product_for_scan(store=store, code=code)
        context = {"oldest_lot": selectors.oldest_lot(store_product)}
        return Response(ScanResultSerializer(store_product, context=context).data)


class ProductQrApi(APIView):
    """The shelf label's QR code as PNG or SVG."""

    permission_classes = (AllowAny,)
    formats = {"png": "image/png", "svg": "image/svg+xml"}

    @extend_schema(
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            (200, "image/svg+xml"): OpenApiTypes.BINARY,
            400: BAD_CODE,
            404: NOT_FOUND,
        }
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


def qr_landing(request: HttpRequest, store_code: str, sku: str) -> HttpResponse:
    """The URL in every shelf code; a browser without the app lands on the scan read."""
    url = reverse("scan", kwargs={"store_code": store_code, "code": sku})
    return HttpResponseRedirect(url)
