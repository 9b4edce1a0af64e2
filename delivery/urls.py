from django.urls import re_path

from delivery import api

STORE = r"^stores/(?P<store_code>[^/]+)/"
TASK = STORE + r"pick-tasks/(?P<task_id>[0-9]+)/"
ORDER = STORE + r"fulfilments/(?P<reference>[^/]+)/"
RIDER = STORE + r"rider/"
TRIP = RIDER + r"trips/(?P<trip_id>[0-9]+)/"
STOP = TRIP + r"stops/(?P<stop_id>[0-9]+)/"

# Staff scanners post without a trailing slash as often as with one; both are
# accepted (a redirect would lose a POST's body).
urlpatterns = [
    re_path(
        STORE + r"pick-tasks/claim/?$",
        api.PickTaskClaimApi.as_view(),
        name="pick-task-claim",
    ),
    re_path(TASK + r"?$", api.PickTaskDetailApi.as_view(), name="pick-task-detail"),
    re_path(
        TASK + r"lines/(?P<line_id>[0-9]+)/confirm/?$",
        api.PickLineConfirmApi.as_view(),
        name="pick-line-confirm",
    ),
    re_path(
        TASK + r"lines/(?P<line_id>[0-9]+)/short/?$",
        api.PickLineShortApi.as_view(),
        name="pick-line-short",
    ),
    re_path(TASK + r"bag/?$", api.PickTaskBagApi.as_view(), name="pick-task-bag"),
    re_path(STORE + r"rail/bags/?$", api.RailBagsApi.as_view(), name="rail-bags"),
    re_path(STORE + r"packing/?$", api.PackingReadyApi.as_view(), name="packing-ready"),
    re_path(
        ORDER + r"pack/?$", api.FulfilmentPackApi.as_view(), name="fulfilment-pack"
    ),
    re_path(
        ORDER + r"collect/?$",
        api.FulfilmentCollectApi.as_view(),
        name="fulfilment-collect",
    ),
    re_path(r"^rail/events/?$", api.RailEventApi.as_view(), name="rail-events"),
    re_path(
        STORE + r"picker/shift/?$", api.PickerShiftApi.as_view(), name="picker-shift"
    ),
    re_path(
        STORE + r"picker/shift/end/?$",
        api.PickerShiftEndApi.as_view(),
        name="picker-shift-end",
    ),
    re_path(RIDER + r"shift/?$", api.RiderShiftApi.as_view(), name="rider-shift"),
    re_path(
        RIDER + r"shift/end/?$", api.RiderShiftEndApi.as_view(), name="rider-shift-end"
    ),
    re_path(
        RIDER + r"position/?$", api.RiderPositionApi.as_view(), name="rider-position"
    ),
    re_path(RIDER + r"trip/?$", api.RiderTripApi.as_view(), name="rider-trip"),
    re_path(TRIP + r"pick-up/?$", api.TripPickUpApi.as_view(), name="trip-pick-up"),
    re_path(
        STOP + r"delivered/?$", api.StopDeliveredApi.as_view(), name="stop-delivered"
    ),
    re_path(STOP + r"failed/?$", api.StopFailedApi.as_view(), name="stop-failed"),
    re_path(
        STORE + r"delivery-quote/?$",
        api.DeliveryQuoteApi.as_view(),
        name="delivery-quote",
    ),
]
