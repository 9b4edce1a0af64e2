"""Which language a request is answered in.

Human pages (the admin, the shelf product page at ``/q/...``) follow the
browser's ``Accept-Language`` (or the language cookie): English by default,
Simplified Chinese for the Shanghai stores. The API does not: its error codes
and messages are a contract that clients and tests read, so everything under
``/api/`` answers in ``LANGUAGE_CODE`` whatever the client asks.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

from hema.api import is_api


class HumanPagesLocaleMiddleware(LocaleMiddleware):
    """Django's ``LocaleMiddleware`` for every path but the API's."""

    def process_request(self, request: HttpRequest) -> None:
        if is_api(request):
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = translation.get_language()
            return
        super().process_request(request)

    def process_response(
        self, request: HttpRequest, response: HttpResponse
    ) -> HttpResponse:
        if is_api(request):
            return response
        return super().process_response(request, response)
