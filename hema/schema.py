"""The API schema (drf-spectacular): what every operation shares, said once.

A client reads ``/api/schema/`` and trusts it, and a fuzzer holds the server to
it (``tests/hema/test_schema_fuzz.py``), so the refusals that can happen on
every operation are added here rather than on each view:

* 401 wherever a token is read (a bad or expired token is refused even where
  no sign-in is needed), 403 on writes that a browser session could send
  without its CSRF token;
* 429 wherever a throttle counts (every operation but the providers' webhooks);
* every 4xx answers the one ``Error`` component.

Operations are grouped by tag from their path (the tags are listed in
``SPECTACULAR_SETTINGS``), and the token
scheme's description says how to fill in Swagger's *Authorize* box.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.drainage import get_override
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView

from hema.serializers import StrictInputSerializer

# Path fragments (after /api/v1/) to tags; the first that matches wins.
_TAG_BY_PATH = (
    ("/scan/", "scan"),
    ("/pick-tasks/", "picking"),
    ("/rail/", "rail"),
    ("rail/", "rail"),
    ("/packing/", "packing"),
    ("/fulfilments/", "packing"),
    ("/prices/", "prices"),
    ("auth/", "auth"),
    ("stores/", "stores"),
    ("me/", "members"),
    ("wallet/", "wallet"),
    ("carts/", "carts"),
    ("orders/", "orders"),
    ("payments/webhooks/", "webhooks"),
)

AUTHORIZE_HELP = (
    "An API token. Get one from `POST /api/v1/auth/signup/` or "
    "`POST /api/v1/auth/login/`, then send the header "
    "`Authorization: Token <token>`: in the *Authorize* box type the word "
    "`Token`, a space and the token (for example "
    "`Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b`). Tokens expire after "
    "`HEMA_TOKEN_TTL_DAYS` (30) days; then 401, log in again."
)


@extend_schema_field(
    {
        "type": "object",
        "description": "Details of the refusal. `field` names the input at fault "
        "(a body field, a query parameter, a path part or a header); on invalid "
        "input (`invalid_input`) it is the first field at fault and `fields` maps "
        "every field at fault to its reasons. Other keys depend on the `error`.",
        "properties": {
            "field": {"type": "string", "description": "The input at fault."},
            "fields": {
                "type": "object",
                "description": "Only on `invalid_input`: every field at fault, "
                "with its reasons (a list of messages, or the same map for a "
                "nested object).",
                "additionalProperties": {},
            },
        },
        "additionalProperties": {},
    }
)
class ErrorExtraField(serializers.DictField):
    pass


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API: every 4xx (and 503) answers it."""

    error = serializers.CharField(help_text="A stable machine-readable code.")
    message = serializers.CharField(help_text="What went wrong, for people.")
    extra = ErrorExtraField()


def error_response(description: str) -> OpenApiResponse:
    """A documented refusal in the one error shape."""
    return OpenApiResponse(ErrorSerializer, description=description)


RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def _explicitly_unthrottled(view: APIView) -> bool:
    """Whether the view's own class (not the settings) turns throttles off.

    Settings differ between deployments (the tests run without throttles); the
    schema describes production, where every other view is throttled.
    """
    for klass in type(view).__mro__:
        if klass is APIView:
            return False
        if "throttle_classes" in vars(klass):
            return not vars(klass)["throttle_classes"]
    return False


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's AutoSchema with the refusals every operation shares."""

    def get_tags(self) -> list[str]:
        path = self.path.removeprefix("/api/v1/")
        for fragment, tag in _TAG_BY_PATH:
            inside = fragment.startswith("/") and fragment in path
            if inside or path.startswith(fragment):
                return [tag]
        return super().get_tags()

    def _get_response_bodies(self, direction: Any = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        shared: dict[str, str] = {}
        authenticators = self.view.get_authenticators()
        if authenticators:
            shared["401"] = (
                "Not signed in, or the token is unknown or expired: send "
                "`Authorization: Token <token>` (`not_authenticated`, "
                "`authentication_failed`)."
            )
            unsafe = self.method in ("POST", "PUT", "PATCH", "DELETE")
            if unsafe and any(
                isinstance(a, SessionAuthentication) for a in authenticators
            ):
                shared["403"] = (
                    "A browser session's request without its CSRF token, or "
                    "an account not allowed to do this (`permission_denied`)."
                )
        if "{" in self.path:
            # Every path parameter names something that may not exist (or not
            # for this user): the URL resolver and the views answer 404 then.
            shared["404"] = (
                "Nothing by that name or number here, or not yours to see "
                "(`not_found`)."
            )
        if not _explicitly_unthrottled(self.view):
            shared["429"] = (
                "Too many requests (`throttled`, or `log_in_locked_out` after "
                "failed log-ins): wait `Retry-After` seconds."
            )
        for code, description in shared.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    error_response(description), code, direction=direction
                )
        if "429" in responses:
            responses["429"]["headers"] = RETRY_AFTER
        return dict(sorted(responses.items()))

    def _get_serializer_field_meta(self, field: Any, direction: Any) -> dict:
        meta = super()._get_serializer_field_meta(field, direction)
        # A field whose own schema sets its length (a new password's 8) keeps it
        # over the "not blank" minLength 1 added for every required string.
        annotation = get_override(field, "field")
        if isinstance(annotation, dict) and "minLength" in annotation:
            meta.pop("minLength", None)
        return meta

    def _map_basic_serializer(self, serializer: Any, direction: Any) -> dict:
        schema = super()._map_basic_serializer(serializer, direction)
        if isinstance(serializer, StrictInputSerializer):
            # The server refuses unknown fields (400 naming them): say so.
            schema["additionalProperties"] = False
        return schema


class ExpiringTokenScheme(OpenApiAuthenticationExtension):
    """The token scheme, described so that the Authorize box can be filled in."""

    target_class = "accounts.authentication.ExpiringTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": AUTHORIZE_HELP,
        }
