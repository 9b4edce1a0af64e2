"""Project-wide middleware: JSON errors under /api/ and the security headers.

``ApiErrorMiddleware`` keeps the API's promise that every answer under /api/ is
JSON in the one error shape, in every mode:

- a database that is gone (``OperationalError``/``InterfaceError`` out of a
  view) is a 503 with ``Retry-After``, logged as a warning;
- a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a 413;
- whatever else Django answers with an HTML page (its debug pages under
  ``DEBUG``, ``handler400``/``handler500``, a 500 raised in another middleware)
  is rewritten to the same status in the error shape. An exception Django
  handled as a 500 is remembered on the request (``got_request_exception``), so
  a database error raised outside a view is a 503 too.

``SecurityHeadersMiddleware`` adds the Content-Security-Policy and the
Permissions-Policy of the settings to every response that has none.
"""

import sys
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import got_request_exception
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from hema.api import api_error_response, is_api, status_response

# What a rewritten error page does not keep from the page it replaces.
REPLACED_HEADERS = {"content-type", "content-length"}


@receiver(got_request_exception, dispatch_uid="hema.middleware.remember_exception")
def remember_exception(sender: Any, request: HttpRequest | None = None, **kwargs):
    """Django is handling an uncaught exception: keep it for ApiErrorMiddleware."""
    if request is not None:
        request._hema_exception = sys.exc_info()[1]


class ApiErrorMiddleware:
    """Every error answer under /api/ is JSON in the error shape (see above)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not is_api(request)
            or "json" in response.get("Content-Type", "")
        ):
            return response
        exc = getattr(request, "_hema_exception", None)
        rewritten = (
            api_error_response(exc) if response.status_code >= 500 else None
        ) or status_response(request, response.status_code)
        # Keep what the other middleware added (security headers, Allow,
        # Retry-After, cookies); only the body and its type change.
        for header, value in response.items():
            if header.lower() not in REPLACED_HEADERS and header not in rewritten:
                rewritten[header] = value
        rewritten.cookies = response.cookies
        return rewritten

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponse | None:
        if not is_api(request):
            return None
        return api_error_response(exception)


class SecurityHeadersMiddleware:
    """Content-Security-Policy and Permissions-Policy on every response.

    ``HEMA_CONTENT_SECURITY_POLICY`` maps directives to sources;
    ``HEMA_CONTENT_SECURITY_POLICY_PATHS`` replaces some directives under a path
    prefix (the Swagger UI page has one inline ``<style>`` block). A response
    that already carries a policy keeps it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        base = dict(settings.HEMA_CONTENT_SECURITY_POLICY)
        self.policy = self.serialize(base)
        self.path_policies = [
            (prefix, self.serialize({**base, **overrides}))
            for prefix, overrides in settings.HEMA_CONTENT_SECURITY_POLICY_PATHS.items()
        ]
        self.permissions_policy = settings.HEMA_PERMISSIONS_POLICY

    @staticmethod
    def serialize(policy: dict[str, str]) -> str:
        return "; ".join(
            f"{directive} {sources}".strip() for directive, sources in policy.items()
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = next(
            (p for prefix, p in self.path_policies if request.path.startswith(prefix)),
            self.policy,
        )
        if policy:
            response.headers.setdefault("Content-Security-Policy", policy)
        if self.permissions_policy:
            response.headers.setdefault("Permissions-Policy", self.permissions_policy)
        return response
