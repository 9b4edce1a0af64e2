"""Django's 403 handler: the admin's own page with a way back; JSON under /api/."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults

from hema.api import is_api, status_response

ADMIN_PREFIX = "/admin/"


def permission_denied(
    request: HttpRequest, exception: Exception | None = None
) -> HttpResponse:
    """A refusal in the admin (another store's row, a screen the role does not
    include) answers in the admin's style, with links to the admin's index and
    back to the page the user came from; the API keeps its error shape; other
    URLs keep Django's page."""
    if is_api(request):
        return status_response(request, 403)
    user = getattr(request, "user", None)
    if not request.path.startswith(ADMIN_PREFIX) or not (
        user is not None and user.is_active and user.is_staff
    ):
        return defaults.permission_denied(request, exception)
    index = reverse("admin:index")
    back = request.headers.get("Referer", "")
    if (
        not back
        or back == request.build_absolute_uri()
        or not (
            url_has_allowed_host_and_scheme(
                back,
                allowed_hosts={request.get_host()},
                require_https=request.is_secure(),
            )
        )
    ):
        back = ""
    context = {
        **admin.site.each_context(request),
        "title": "Not one of your pages",
        "index_url": index,
        "back_url": back,
    }
    return render(request, "admin/403.html", context, status=403)
