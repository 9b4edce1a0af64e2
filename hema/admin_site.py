"""The project's admin site: Django's, with a header that says which time zone
the page's times are in (``inventory.middleware.AdminTimeZoneMiddleware``) and
no "View site" link (the project has no public site of its own to view: the
shop is the app, the API is documented at /api/docs/). Its first page is the
store manager's dashboard (``hema.dashboard``), above the list of models."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path


class HemaAdminSite(admin.AdminSite):
    site_header = "Hema administration"
    site_title = "Hema admin"
    site_url = None
    index_template = "hema/dashboard/index.html"

    def index(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Imported here: the site is built while the apps load.
        from hema.dashboard.views import dashboard_context

        return super().index(
            request, {**dashboard_context(request), **(extra_context or {})}
        )

    def get_urls(self) -> list[URLPattern | URLResolver]:
        from hema.dashboard.chart_views import delivery_chart, product_chart
        from hema.dashboard.views import dashboard_data

        return [
            path(
                "dashboard/product/<int:store_product_id>/chart/",
                self.admin_view(product_chart),
                name="dashboard_product_chart",
            ),
            path(
                "dashboard/<str:code>/deliveries/",
                self.admin_view(delivery_chart),
                name="dashboard_delivery_chart",
            ),
            path(
                "dashboard/<str:code>/data/",
                self.admin_view(dashboard_data),
                name="dashboard_data",
            ),
            *super().get_urls(),
        ]

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        note = getattr(request, "admin_time_zone_note", "")
        if note:
            context["site_header"] = f"{self.site_header} \u00b7 {note}"
        return context


class HemaAdminConfig(AdminConfig):
    default_site = "hema.admin_site.HemaAdminSite"
