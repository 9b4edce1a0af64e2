"""Under /api/ every answer is JSON in the error shape, in every mode, even when
Django itself refuses (a body too large, an unknown URL under DEBUG), a view
crashes, or the database is gone (a 503 with Retry-After).

This module is the URLconf of its in-process tests, on top of the real one.
"""

import hashlib
import hmac
import json
import socket
import threading
import time
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.db import OperationalError, connection
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.models import User
from hema.urls import urlpatterns as project_urlpatterns
from orders.models import WebhookEvent
from tests.conftest import requires_postgres
from tests.hema.faults import DjangoProcess, TcpProxy, base_env, database_url

REPO_ROOT = Path(__file__).resolve().parents[2]


class CrashingApi(APIView):
    permission_classes = (AllowAny,)
    throttle_classes = ()

    def get(self, request, kind):
        if kind == "database":
            raise OperationalError("connection to server at 127.0.0.1 refused")
        raise RuntimeError("a bug")


class DatabaseGoneMiddleware:
    """Fails the way SessionMiddleware does when it saves with the database gone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.endswith("/fail-after/"):
            raise OperationalError("server closed the connection unexpectedly")
        return response


urlpatterns = [
    path("api/test-crash/<str:kind>/", CrashingApi.as_view()),
    path("test-crash/<str:kind>/", CrashingApi.as_view()),
    *project_urlpatterns,
]
handler400 = "hema.api.bad_request"
handler404 = "hema.api.not_found"
handler500 = "hema.api.server_error"

local_urls = pytest.mark.urls(__name__)


def shape(response) -> dict:
    assert response["Content-Type"] == "application/json"
    data = json.loads(response.content)
    assert set(data) == {"error", "message", "extra"}
    return data


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.fixture
def quiet_client() -> APIClient:
    """A client that returns Django's 500 answer instead of raising the error."""
    return APIClient(raise_request_exception=False)


@pytest.mark.django_db
def test_an_unknown_api_url_is_json_in_debug_too(api_client, debug):
    response = api_client.get("/api/v1/nothing-here/")

    assert response.status_code == 404
    # What the other middleware added stays on the rewritten answer.
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("default-src 'self'")
    assert shape(response) == {
        "error": "not_found",
        "message": "Not found.",
        "extra": {"path": "/api/v1/nothing-here/"},
    }


@pytest.mark.django_db
def test_an_unknown_url_outside_the_api_stays_html(client, debug):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@local_urls
@pytest.mark.django_db
def test_a_crash_under_the_api_is_a_json_500(quiet_client, debug):
    response = quiet_client.get("/api/test-crash/bug/")

    assert response.status_code == 500
    assert shape(response) == {
        "error": "server_error",
        "message": "Internal server error.",
        "extra": {},
    }


@local_urls
@pytest.mark.django_db
def test_a_crash_outside_the_api_keeps_djangos_page(quiet_client, debug):
    response = quiet_client.get("/test-crash/bug/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/")


@local_urls
@pytest.mark.django_db
def test_a_database_error_under_the_api_is_a_503_with_retry_after(api_client, debug):
    response = api_client.get("/api/test-crash/database/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert shape(response) == {
        "error": "service_unavailable",
        "message": "The service is unavailable: try again shortly.",
        "extra": {},
    }


@pytest.mark.django_db
def test_a_database_error_outside_any_view_is_a_503_too(quiet_client, settings, debug):
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "tests.hema.test_api_failures.DatabaseGoneMiddleware",
    ]

    response = quiet_client.get("/api/v1/fail-after/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert shape(response)["error"] == "service_unavailable"


TWENTY_MB = 20 * 1024 * 1024


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/api/v1/auth/login/", "/api/v1/payments/webhooks/sandbox/"]
)
def test_a_20_mb_body_is_a_json_413_and_changes_nothing(api_client, debug, url):
    body = b'{"login": "' + b"a" * TWENTY_MB + b'"}'

    response = api_client.post(url, body, content_type="application/json")

    assert response.status_code == 413
    assert shape(response) == {
        "error": "request_too_large",
        "message": "The request body is too large.",
        "extra": {"limit_bytes": django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
    }
    assert WebhookEvent.objects.count() == 0


def signed(body: bytes) -> str:
    timestamp = int(time.time())
    key = django_settings.HEMA_PAYMENT_PROVIDERS["sandbox"].encode()
    mac = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@pytest.mark.django_db
def test_a_signed_but_deeply_nested_webhook_body_is_a_400(api_client):
    body = (
        b'{"id": "evt_1", "type": "payment.succeeded", "data": '
        + (b"[" * 100_000)
        + b"]" * 100_000
        + b"}"
    )

    response = api_client.post(
        "/api/v1/payments/webhooks/sandbox/",
        body,
        content_type="application/json",
        HTTP_HEMA_SIGNATURE=signed(body),
    )

    assert response.status_code == 400
    assert shape(response) == {
        "error": "webhook_rejected",
        "message": "The body is nested too deeply.",
        "extra": {"field": "body"},
    }
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/v1/auth/login/", "/api/v1/auth/signup/"])
def test_a_deeply_nested_json_body_is_a_400_on_every_endpoint(quiet_client, url):
    """Python's JSON decoder recurses once per level: 100,000 levels raise
    RecursionError, which the parser must answer as bad input, not a 500."""
    body = b'{"login": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    response = quiet_client.post(url, body, content_type="application/json")

    assert response.status_code == 400
    assert shape(response) == {
        "error": "parse_error",
        "message": "JSON parse error - the body is nested too deeply.",
        "extra": {},
    }
    assert User.objects.count() == 0
    assert AccessAttempt.objects.count() == 0


# --- The database gone for real ----------------------------------------------------


def database_cut_process(proxy: TcpProxy, debug: bool) -> DjangoProcess:
    """The real settings in a process of its own, its database behind ``proxy``."""
    env = base_env(
        DJANGO_SETTINGS_MODULE="hema.settings",
        DATABASE_URL=database_url(connection.settings_dict, port=proxy.port),
        DEBUG=str(debug),
        HEMA_HEALTH_PROBE_SECONDS="0",
    )
    if not debug:
        env |= {"SECRET_KEY": "x" * 50, "SECURE_SSL_REDIRECT": "False"}
    return DjangoProcess(env, cwd=REPO_ROOT)


@requires_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
def test_with_the_database_gone_the_api_answers_503_json_then_recovers(debug):
    host = connection.settings_dict.get("HOST") or "127.0.0.1"
    proxy = TcpProxy(host, int(connection.settings_dict.get("PORT") or 5432))
    api = database_cut_process(proxy, debug)
    try:
        assert api.request("GET", "/api/v1/stores/")["status"] == 200

        proxy.cut()
        answers = [
            api.request("GET", "/api/v1/stores/"),
            api.request(
                "POST",
                "/api/v1/auth/login/",
                data={"login": "a@hema.test", "password": "pw-123456789"},
                content_type="application/json",
            ),
            api.request(
                "GET", "/api/v1/orders/", HTTP_AUTHORIZATION="Token " + "a" * 40
            ),
        ]
        health = api.request("GET", "/healthz")

        proxy.restore()
        back = api.request("GET", "/api/v1/stores/")
    finally:
        proxy.stop()
        log = api.stderr()

    for answer in answers:
        assert answer["status"] == 503, answer
        assert answer["headers"]["Content-Type"] == "application/json"
        assert answer["headers"]["Retry-After"] == "5"
        assert json.loads(answer["body"]) == {
            "error": "service_unavailable",
            "message": "The service is unavailable: try again shortly.",
            "extra": {},
        }
    assert health["status"] == 503
    assert json.loads(health["body"])["database"] == "error"
    assert back["status"] == 200
    assert "database unavailable, answering 503" in log


@requires_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_database_that_accepts_but_never_answers_is_a_503_within_seconds():
    """A database host that hangs (a failover, a full accept queue, a network
    that drops the replies): connecting must give up after a few seconds and
    the API answer 503, not wait until the worker is killed."""
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)  # the kernel accepts connections; nobody ever answers
    port = hung.getsockname()[1]
    env = base_env(
        DJANGO_SETTINGS_MODULE="hema.settings",
        DATABASE_URL=database_url(connection.settings_dict, port=port),
        DEBUG="True",
        HEMA_HEALTH_PROBE_SECONDS="0",
    )
    api = DjangoProcess(env, cwd=REPO_ROOT)
    answers: list[dict] = []
    asking = threading.Thread(
        target=lambda: answers.append(api.request("GET", "/api/v1/stores/")),
        daemon=True,
    )
    try:
        asking.start()
        asking.join(20)
        hung_up = asking.is_alive()
    finally:
        api.process.kill()
        api.process.wait(timeout=10)
        hung.close()

    assert not hung_up, "the request waited for the hung database for 20 s"
    [answer] = answers
    assert answer["status"] == 503, answer
    assert answer["headers"]["Retry-After"] == "5"
    assert answer["seconds"] < 10
