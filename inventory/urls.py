from django.urls import path, re_path

from inventory import api, catalogue, shelf

urlpatterns = [
    path("stores/", api.StoreListApi.as_view(), name="store-list"),
    path("stores/<str:store_code>/", api.StoreDetailApi.as_view(), name="store-detail"),
    path(
        "stores/<str:store_code>/catalogue/",
        catalogue.CatalogueApi.as_view(),
        name="store-catalogue",
    ),
    path(
        "stores/<str:store_code>/products/<str:sku>/qr.<str:fmt>",
        api.ProductQrApi.as_view(),
        name="product-qr",
    ),
    re_path(
        r"^stores/(?P<store_code>[^/]+)/scan/(?P<code>.+)$",
        api.ScanApi.as_view(),
        name="scan",
    ),
]

# Outside /api/v1: the URL printed in the shelf QR code, which the app opens; a
# phone without the app gets the product page (JSON clients the scan read).
qr_urlpatterns = [
    path("q/<str:store_code>/<str:sku>", shelf.qr_landing, name="qr-landing"),
]
