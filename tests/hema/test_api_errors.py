"""Every 4xx of the API has one shape: {"error": code, "message": text, "extra": {}}.

Domain errors, DRF's own errors (authentication, permission, method, parsing,
throttling, validation), Django's ``Http404``/``PermissionDenied``/
``ValidationError`` and unknown URLs under /api/ all come out the same way. The
views below exist only for these tests (this module is the URLconf of its tests,
on top of the real one).
"""

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.urls import path
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from hema.urls import urlpatterns as project_urlpatterns
from inventory.errors import InsufficientStock

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


class QuantitySerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1)
    note = serializers.CharField(max_length=5, required=False)


class PrivateApi(APIView):
    """The project default: authenticated users only."""

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        serializer = QuantitySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class StaffApi(APIView):
    permission_classes = (IsAdminUser,)

    def get(self, request):
        return Response({"ok": True})


class OncePerMinute(AnonRateThrottle):
    rate = "1/min"
    scope = "test-once"


class RaisingApi(APIView):
    permission_classes = (AllowAny,)
    throttle_classes = ()
    errors = {
        "domain": lambda: InsufficientStock(
            "Not enough stock for APL001: 1.000 available.",
            {"lines": [{"sku": "APL001", "requested": "3", "available": "1.000"}]},
        ),
        "django-validation": lambda: DjangoValidationError(
            {"phone": ["Enter a valid phone number."]}
        ),
        "django-validation-plain": lambda: DjangoValidationError("Bad value."),
        "http404": lambda: Http404("gone"),
        "django-permission": lambda: DjangoPermissionDenied("nope"),
    }

    def get(self, request, kind):
        raise self.errors[kind]()


class ThrottledApi(APIView):
    permission_classes = (AllowAny,)
    throttle_classes = (OncePerMinute,)

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("test-errors/private/", PrivateApi.as_view()),
    path("test-errors/staff/", StaffApi.as_view()),
    path("test-errors/raise/<str:kind>/", RaisingApi.as_view()),
    path("test-errors/throttled/", ThrottledApi.as_view()),
    *project_urlpatterns,
]
handler404 = "hema.api.not_found"


def body(response) -> dict:
    assert response["Content-Type"].startswith("application/json")
    data = response.json()
    assert set(data) == {"error", "message", "extra"}
    return data


@pytest.fixture
def signed_in(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_anonymous_request_to_a_private_endpoint_is_401(api_client):
    response = api_client.get("/test-errors/private/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert body(response) == {
        "error": "not_authenticated",
        "message": "Authentication credentials were not provided.",
        "extra": {},
    }


def test_bad_token_is_401_even_on_a_public_endpoint(api_client):
    response = api_client.get("/api/v1/stores/", HTTP_AUTHORIZATION="Token nonsense")

    assert response.status_code == 401
    assert body(response) == {
        "error": "authentication_failed",
        "message": "Invalid token.",
        "extra": {},
    }


def test_a_valid_token_is_accepted(api_client, user):
    token = Token.objects.create(user=user)

    response = api_client.get(
        "/test-errors/private/", HTTP_AUTHORIZATION=f"Token {token.key}"
    )

    assert (response.status_code, response.json()) == (200, {"ok": True})


def test_signed_in_user_without_permission_is_403(signed_in):
    response = signed_in.get("/test-errors/staff/")

    assert response.status_code == 403
    assert body(response) == {
        "error": "permission_denied",
        "message": "You do not have permission to perform this action.",
        "extra": {},
    }


def test_session_post_without_csrf_token_is_403(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post("/test-errors/private/", {"quantity": 1}, format="json")

    assert response.status_code == 403
    assert body(response) == {
        "error": "permission_denied",
        "message": "CSRF Failed: CSRF cookie not set.",
        "extra": {},
    }


def test_wrong_method_is_405(api_client, store):
    response = api_client.post("/api/v1/stores/", {}, format="json")

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert body(response) == {
        "error": "method_not_allowed",
        "message": 'Method "POST" not allowed.',
        "extra": {},
    }


def test_invalid_fields_are_400_naming_each_field(signed_in):
    """``extra.field`` names the first field at fault, as every other refusal
    names its field; ``extra.fields`` lists them all."""
    response = signed_in.post(
        "/test-errors/private/", {"quantity": 0, "note": "too long"}, format="json"
    )

    assert response.status_code == 400
    assert body(response) == {
        "error": "invalid_input",
        "message": "quantity: Ensure this value is greater than or equal to 1.",
        "extra": {
            "field": "quantity",
            "fields": {
                "quantity": ["Ensure this value is greater than or equal to 1."],
                "note": ["Ensure this field has no more than 5 characters."],
            },
        },
    }


def test_missing_field_is_400(signed_in):
    response = signed_in.post("/test-errors/private/", {}, format="json")

    assert response.status_code == 400
    assert body(response)["extra"] == {
        "field": "quantity",
        "fields": {"quantity": ["This field is required."]},
    }


def test_malformed_json_is_400(signed_in):
    response = signed_in.post(
        "/test-errors/private/", "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    data = body(response)
    assert data["error"] == "parse_error"
    assert data["message"].startswith("JSON parse error")
    assert data["extra"] == {}


def test_unsupported_media_type_is_415(signed_in):
    response = signed_in.post(
        "/test-errors/private/", "quantity=1", content_type="text/plain"
    )

    assert response.status_code == 415
    assert body(response) == {
        "error": "unsupported_media_type",
        "message": 'Unsupported media type "text/plain" in request.',
        "extra": {},
    }


def test_unacceptable_accept_header_is_406(api_client, store):
    response = api_client.get("/api/v1/stores/", HTTP_ACCEPT="application/xml")

    assert response.status_code == 406
    assert body(response)["error"] == "not_acceptable"


def test_throttled_is_429_with_retry_after(api_client):
    assert api_client.get("/test-errors/throttled/").status_code == 200

    response = api_client.get("/test-errors/throttled/")

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    data = body(response)
    assert data["error"] == "throttled"
    assert data["message"].startswith("Request was throttled.")


def test_domain_error_keeps_its_code_status_and_extra(api_client):
    response = api_client.get("/test-errors/raise/domain/")

    assert response.status_code == 409
    assert body(response) == {
        "error": "insufficient_stock",
        "message": "Not enough stock for APL001: 1.000 available.",
        "extra": {"lines": [{"sku": "APL001", "requested": "3", "available": "1.000"}]},
    }


def test_django_validation_error_is_400_naming_the_field(api_client):
    response = api_client.get("/test-errors/raise/django-validation/")

    assert response.status_code == 400
    assert body(response) == {
        "error": "invalid_input",
        "message": "phone: Enter a valid phone number.",
        "extra": {
            "field": "phone",
            "fields": {"phone": ["Enter a valid phone number."]},
        },
    }


def test_django_validation_error_without_a_field(api_client):
    response = api_client.get("/test-errors/raise/django-validation-plain/")

    assert response.status_code == 400
    assert body(response)["extra"] == {
        "field": "non_field_errors",
        "fields": {"non_field_errors": ["Bad value."]},
    }


def test_http404_and_django_permission_denied(api_client):
    not_found = api_client.get("/test-errors/raise/http404/")
    denied = api_client.get("/test-errors/raise/django-permission/")

    assert not_found.status_code == 404
    assert body(not_found) == {
        "error": "not_found",
        "message": "Not found.",
        "extra": {},
    }
    assert denied.status_code == 403
    assert body(denied) == {
        "error": "permission_denied",
        "message": "You do not have permission to perform this action.",
        "extra": {},
    }


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/nothing-here/",
        "/api/v1/stores/SH01/products/APL001/qr",
        "/api/v2/stores/",
    ],
)
def test_unknown_api_url_is_404_in_the_same_shape(api_client, url):
    response = api_client.get(url)

    assert response.status_code == 404
    assert body(response) == {
        "error": "not_found",
        "message": "Not found.",
        "extra": {"path": url},
    }


def test_unknown_url_outside_the_api_keeps_the_html_page(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
