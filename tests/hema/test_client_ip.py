"""Throttles count the client's address, not a header the client made up
(hema.net.client_ip and DRF's NUM_PROXIES, both from HEMA_TRUSTED_PROXY_COUNT)."""

from pathlib import Path

import pytest
from django.test import RequestFactory
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from hema.net import client_ip
from hema.throttling import AddressRateThrottle
from hema.urls import urlpatterns as project_urlpatterns


class OncePerMinute(AddressRateThrottle):
    rate = "1/min"
    scope = "test-client-ip"


class ThrottledApi(APIView):
    permission_classes = (AllowAny,)
    throttle_classes = (OncePerMinute,)

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("test-ip/", ThrottledApi.as_view()), *project_urlpatterns]


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, None, "10.0.0.1"),
        (0, "203.0.113.7", "10.0.0.1"),
        (1, None, "10.0.0.1"),
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "1.2.3.4, 203.0.113.7", "203.0.113.7"),
        (2, "1.2.3.4, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        (2, "203.0.113.7", "203.0.113.7"),
        (1, " , ", "10.0.0.1"),
    ],
)
def test_client_ip_trusts_only_the_configured_proxies(
    settings, proxies, forwarded, expected
):
    settings.HEMA_TRUSTED_PROXY_COUNT = proxies
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", **extra)

    assert client_ip(request) == expected


@pytest.mark.urls(__name__)
def test_a_made_up_forwarded_for_does_not_escape_the_throttle():
    client = APIClient(REMOTE_ADDR="10.0.0.1")

    first = client.get("/test-ip/", HTTP_X_FORWARDED_FOR="198.51.100.1")
    second = client.get("/test-ip/", HTTP_X_FORWARDED_FOR="198.51.100.2")

    assert (first.status_code, second.status_code) == (200, 429)


@pytest.mark.urls(__name__)
def test_behind_one_proxy_the_throttle_counts_the_address_it_saw(settings):
    settings.HEMA_TRUSTED_PROXY_COUNT = 1
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = APIClient(REMOTE_ADDR="10.0.0.1")

    first = proxy.get("/test-ip/", HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.7")
    again = proxy.get("/test-ip/", HTTP_X_FORWARDED_FOR="8.8.8.8, 203.0.113.7")
    other = proxy.get("/test-ip/", HTTP_X_FORWARDED_FOR="203.0.113.8")

    assert [r.status_code for r in (first, again, other)] == [200, 429, 200]


def test_the_settings_agree():
    from django.conf import settings

    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == settings.HEMA_TRUSTED_PROXY_COUNT
    assert settings.HEMA_TRUSTED_PROXY_COUNT == 0


def test_nginx_sets_the_forwarded_for_header_and_the_app_trusts_one_proxy():
    deploy = Path(__file__).resolve().parents[2] / "deploy"
    nginx = (deploy / "nginx.conf").read_text()
    compose = (deploy / "compose.yaml").read_text()

    assert "$proxy_add_x_forwarded_for" not in nginx
    assert nginx.count("proxy_set_header X-Forwarded-For $remote_addr;") == (
        nginx.count("proxy_pass ")
    )
    assert 'HEMA_TRUSTED_PROXY_COUNT: "1"' in compose
