"""The project's admin site: Django's, with a header that says which time zone
the page's times are in (``inventory.middleware.AdminTimeZoneMiddleware``) and
no "View site" link (the project has no public site of its own to view: the
shop is the app, the API is documented at /api/docs/)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest


class HemaAdminSite(admin.AdminSite):
    site_header = "Hema administration"
    site_title = "Hema admin"
    site_url = None

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        note = getattr(request, "admin_time_zone_note", "")
        if note:
            context["site_header"] = f"{self.site_header} \u00b7 {note}"
        return context


class HemaAdminConfig(AdminConfig):
    default_site = "hema.admin_site.HemaAdminSite"
