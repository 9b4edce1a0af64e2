from django.urls import re_path

from delivery import api

STORE = r"^stores/(?P<store_code>[^/]+)/"
TASK = STORE + r"pick-tasks/(?P<task_id>[0-9]+)/"
ORDER = STORE + r"fulfilments/(?P<reference>[^/]+)/"

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
]
