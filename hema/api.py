"""The /api/v1 router and the one exception handler of the API.

Every error leaves the API as ``{"error": code, "message": text, "extra": {...}}``:
domain errors with their own status, DRF's validation errors as 400 naming the
first field at fault in ``extra.field`` (as domain errors do) and every field in
``extra.fields``, so clients handle one shape. ``hema.schema`` documents it.
"""

import logging
import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import exception_handler as drf_exception_handler

from hema.errors import ApplicationError

logger = logging.getLogger(__name__)

router = DefaultRouter()


def error_body(code: str, message: str, extra: dict[str, Any] | None = None) -> dict:
    return {"error": code, "message": message, "extra": extra or {}}


def invalid_input_body(errors: dict[str, Any]) -> dict:
    """A validation refusal: ``extra.field`` names the first field at fault (as
    every other 4xx names its field), ``extra.fields`` maps every field to its
    reasons, so a client shows the first and a form can mark them all."""
    field = next(iter(errors), "non_field_errors")
    reasons = errors.get(field)
    first = _first_reason(reasons)
    message = f"{field}: {first}" if first else "Invalid input."
    return error_body("invalid_input", message, {"field": field, "fields": errors})


def _first_reason(reasons: Any) -> str:
    """The first message in a DRF error tree (a list, a dict, nested)."""
    if isinstance(reasons, dict):
        reasons = list(reasons.values())
    if isinstance(reasons, list | tuple):
        for reason in reasons:
            found = _first_reason(reason)
            if found:
                return found
        return ""
    return str(reasons) if reasons else ""


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApplicationError):
        response = Response(
            error_body(exc.code, exc.message, exc.extra), status=exc.status_code
        )
        # A refusal that ends after a while (a log-in lock-out) says when.
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response["Retry-After"] = str(retry_after)
        return response
    if isinstance(exc, DjangoValidationError):
        fields = (
            exc.message_dict
            if hasattr(exc, "error_dict")
            else {"non_field_errors": exc.messages}
        )
        return Response(invalid_input_body(fields), status=status.HTTP_400_BAD_REQUEST)
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
        response.data = invalid_input_body(detail)
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response.data = error_body(code, str(exc.detail))
    return response


# --- Errors no view handled (see hema.middleware.ApiErrorMiddleware) -------------

API_PREFIX = "/api/"
DATABASE_GONE = (OperationalError, InterfaceError)

# What an HTML error page of a given status becomes under /api/.
STATUS_ERRORS = {
    400: ("bad_request", "Bad request."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    413: ("request_too_large", "The request body is too large."),
    503: ("service_unavailable", "The service is unavailable: try again shortly."),
}


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def unavailable_response() -> JsonResponse:
    """503 while the database is gone; clients retry after ``Retry-After``."""
    code, message = STATUS_ERRORS[503]
    response = JsonResponse(error_body(code, message), status=503)
    response["Retry-After"] = str(settings.HEMA_RETRY_AFTER_SECONDS)
    return response


def too_large_response() -> JsonResponse:
    code, message = STATUS_ERRORS[413]
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return JsonResponse(error_body(code, message, {"limit_bytes": limit}), status=413)


def api_error_response(exc: BaseException | None) -> JsonResponse | None:
    """The JSON answer for an exception no view handled, or None for a plain 500."""
    if isinstance(exc, DATABASE_GONE):
        logger.warning("database unavailable, answering 503: %s", exc)
        return unavailable_response()
    if isinstance(exc, RequestDataTooBig):
        return too_large_response()
    if isinstance(exc, TooManyFieldsSent):
        return JsonResponse(
            error_body("bad_request", "Too many fields in the request."), status=400
        )
    return None


def status_response(request: HttpRequest, status: int) -> JsonResponse:
    """The error shape for a bare status code (unknown codes say what they are)."""
    if status >= 500:
        code, message = "server_error", "Internal server error."
        if status == 503:
            code, message = STATUS_ERRORS[503]
    else:
        code, message = STATUS_ERRORS.get(status, ("error", "Request refused."))
    extra = {"path": request.path} if status == 404 else {}
    return JsonResponse(error_body(code, message, extra), status=status)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 handler: an unknown URL under /api/ answers in the API's shape.

    Other URLs (the admin, the shelf-code landing) keep Django's page.
    """
    if is_api(request):
        return JsonResponse(
            error_body("not_found", "Not found.", {"path": request.path}), status=404
        )
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500 handler: JSON under /api/, a 503 while the database is gone."""
    if not is_api(request):
        return defaults.server_error(request)
    return api_error_response(sys.exc_info()[1]) or status_response(request, 500)


def bad_request(
    request: HttpRequest, exception: Exception | None = None
) -> HttpResponse:
    """Django's 400 handler (a refused body, a bad host): JSON under /api/."""
    if not is_api(request):
        return defaults.bad_request(request, exception)
    return api_error_response(exception) or status_response(request, 400)
