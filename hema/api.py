"""The /api/v1 router and the one exception handler of the API.

Every error leaves the API as ``{"error": code, "message": text, "extra": {...}}``:
domain errors with their own status, DRF's validation errors as 400 naming the
fields, so clients handle one shape.
"""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import exception_handler as drf_exception_handler

from hema.errors import ApplicationError

router = DefaultRouter()


def error_body(code: str, message: str, extra: dict[str, Any] | None = None) -> dict:
    return {"error": code, "message": message, "extra": extra or {}}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(
            error_body(exc.code, exc.message, exc.extra), status=exc.status_code
        )
    if isinstance(exc, DjangoValidationError):
        fields = (
            exc.message_dict
            if hasattr(exc, "error_dict")
            else {"non_field_errors": exc.messages}
        )
        return Response(
            error_body("invalid_input", "Invalid input.", {"fields": fields}),
            status=status.HTTP_400_BAD_REQUEST,
        )
    # Django's own refusals become DRF's, so they get the shape below as well.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = (
            exc.detail
            if isinstance(exc.detail, dict)
            else {"non_field_errors": exc.detail}
        )
        response.data = error_body(
            "invalid_input", "Invalid input.", {"fields": detail}
        )
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response.data = error_body(code, str(exc.detail))
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 handler: an unknown URL under /api/ answers in the API's shape.

    Other URLs (the admin, the shelf-code landing) keep Django's page.
    """
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body("not_found", "Not found.", {"path": request.path}), status=404
        )
    return defaults.page_not_found(request, exception)
