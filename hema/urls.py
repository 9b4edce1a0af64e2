from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularSwaggerSplitView,
)

from accounts.api import LogOutApi
from delivery.urls import urlpatterns as delivery_urls
from hema.api import router
from hema.health import healthz
from inventory.urls import qr_urlpatterns
from inventory.urls import urlpatterns as inventory_urls
from orders.urls import urlpatterns as orders_urls
from pricing.urls import urlpatterns as pricing_urls

api_v1 = [
    path("auth/logout/", LogOutApi.as_view(), name="logout"),
    *inventory_urls,
    *pricing_urls,
    *orders_urls,
    *delivery_urls,
    *router.urls,
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's init script from a URL: no inline script,
    # so the Content-Security-Policy needs no 'unsafe-inline' for scripts.
    path(
        "api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"
    ),
    path("healthz", healthz, name="healthz"),
    *qr_urlpatterns,
]

# Under /api/ Django's own error pages answer in the API's error shape; the
# admin's 403 is a page in its style with a way back.
handler400 = "hema.api.bad_request"
handler403 = "hema.views.permission_denied"
handler404 = "hema.api.not_found"
handler500 = "hema.api.server_error"
