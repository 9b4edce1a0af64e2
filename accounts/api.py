"""Log-out of the API (log-in and sign-up are members' actions, in orders)."""

from django.contrib.auth import logout
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.tokens import token_revoke
from hema.schema import error_response


class LogOutApi(APIView):
    """Revoke the token this request was made with (or end the session)."""

    @extend_schema(
        summary="Log out: revoke the token in use",
        request=None,
        responses={
            204: OpenApiResponse(description="Logged out: the token is revoked."),
            401: error_response("Not signed in (`not_authenticated`)."),
        },
    )
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, Token):
            token_revoke(token=request.auth)
        else:
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)
