"""The API's throttles: one counter per client and fixed window, one throttle per
request (the account when signed in, else the address), 429 past the rate."""

import pytest
from django.core.cache import cache
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from hema.throttling import AccountRateThrottle, AddressRateThrottle
from hema.urls import urlpatterns as project_urlpatterns
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


class ThreeByAddress(AddressRateThrottle):
    rate = "3/min"
    scope = "test-address"


class TwoByAccount(AccountRateThrottle):
    rate = "2/min"
    scope = "test-account"


class ThrottledApi(APIView):
    permission_classes = (AllowAny,)
    throttle_classes = (ThreeByAddress, TwoByAccount)

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("test-throttle/", ThrottledApi.as_view()), *project_urlpatterns]


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


@pytest.fixture
def clock(monkeypatch):
    """The throttles' clock, set by the test: 10 s into a minute."""
    now = {"t": 1_800_000_010.0}
    for throttle in (ThreeByAddress, TwoByAccount):
        monkeypatch.setattr(throttle, "timer", lambda self: now["t"])
    return now


def statuses(client: APIClient, count: int, **extra) -> list[int]:
    return [client.get("/test-throttle/", **extra).status_code for _ in range(count)]


def test_an_address_gets_its_rate_then_429_with_the_seconds_left(clock):
    client = APIClient()

    assert statuses(client, 3, REMOTE_ADDR="10.0.0.1") == [200, 200, 200]
    refused = client.get("/test-throttle/", REMOTE_ADDR="10.0.0.1")

    assert refused.status_code == 429
    assert refused.json()["error"] == "throttled"
    assert refused["Retry-After"] == "50"  # 10 s into the minute
    # Another address is counted on its own.
    assert statuses(client, 1, REMOTE_ADDR="10.0.0.2") == [200]


def test_a_new_window_counts_from_zero(clock):
    client = APIClient()
    assert statuses(client, 4, REMOTE_ADDR="10.0.0.1") == [200, 200, 200, 429]

    clock["t"] += 50  # the next minute

    assert statuses(client, 4, REMOTE_ADDR="10.0.0.1") == [200, 200, 200, 429]


def test_a_signed_in_shopper_is_counted_by_account_not_by_the_shared_address(clock):
    # Shoppers on the store's Wi-Fi share one address.
    first, second = APIClient(), APIClient()
    first.force_authenticate(UserFactory())
    second.force_authenticate(UserFactory())

    assert statuses(first, 3, REMOTE_ADDR="10.0.0.1") == [200, 200, 429]
    # The same address: the other account and the anonymous shopper still pass.
    assert statuses(second, 2, REMOTE_ADDR="10.0.0.1") == [200, 200]
    assert statuses(APIClient(), 3, REMOTE_ADDR="10.0.0.1") == [200, 200, 200]


def test_one_counter_entry_per_client_and_window(clock):
    """Not DRF's list of every request time, rewritten on each request."""
    client = APIClient()
    statuses(client, 3, REMOTE_ADDR="10.0.0.1")

    key = f"throttle_test-address_10.0.0.1:{int(clock['t'] // 60)}"
    assert cache.get(key) == 3
