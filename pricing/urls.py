from django.urls import path

from pricing import api

urlpatterns = [
    path(
        "stores/<str:store_code>/prices/",
        api.PriceFeedApi.as_view(),
        name="store-prices",
    ),
]
