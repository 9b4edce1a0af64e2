"""A Redis that is gone or hung never stops the API (hema/cache.py).

Each test starts a redis-server of its own on a free port and kills or
SIGSTOPs that one; the machine's Redis is never touched.
"""

import time
from pathlib import Path

import pytest
import redis as redis_lib
from django.db import connection

from hema.cache import FailOpenRedisCache
from tests.conftest import requires_postgres
from tests.hema.faults import (
    DjangoProcess,
    base_env,
    database_url,
    redis_server,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 0.25

pytestmark = pytest.mark.slow


def fail_open_cache(url: str, breaker_seconds: float) -> FailOpenRedisCache:
    return FailOpenRedisCache(
        url,
        {
            "OPTIONS": {
                "socket_connect_timeout": TIMEOUT,
                "socket_timeout": TIMEOUT,
                "breaker_seconds": breaker_seconds,
            }
        },
    )


def timed(call):
    started = time.perf_counter()
    value = call()
    return value, time.perf_counter() - started


def test_a_killed_redis_is_a_miss_and_a_dropped_write_then_comes_back(tmp_path):
    with redis_server(tmp_path) as redis:
        cache = fail_open_cache(redis.url, breaker_seconds=0.5)
        cache.set("apples", 3)
        assert cache.get("apples") == 3
        failures = cache.breaker.failures

        redis.stop()

        assert cache.get("apples", "missing") == "missing"
        cache.set("apples", 4)  # dropped, no error
        assert cache.add("pears", 1) is False
        assert cache.get_many(["apples"]) == {}
        with pytest.raises(ValueError, match="not found"):
            cache.incr("apples")
        assert cache.breaker.failures == failures + 1  # then skipped while open
        assert cache.breaker.state()["open"] is True
        assert cache.breaker.skipped >= 4
        assert cache.ping() is False

    with redis_server(tmp_path) as redis:
        cache = fail_open_cache(redis.url, breaker_seconds=0.5)
        cache.set("apples", 5)
        assert cache.get("apples") == 5


def test_a_hung_redis_costs_one_short_timeout_per_breaker_window(tmp_path):
    with redis_server(tmp_path) as redis:
        cache = fail_open_cache(redis.url, breaker_seconds=1.0)
        cache.set("apples", 3)
        redis.hang()
        try:
            first, first_seconds = timed(lambda: cache.get("apples", "missing"))
            rest = [timed(lambda: cache.get("apples", "missing")) for _ in range(20)]

            assert first == "missing"
            assert TIMEOUT * 0.8 <= first_seconds < 0.5
            assert {value for value, _ in rest} == {"missing"}
            assert max(seconds for _, seconds in rest) < 0.01

            time.sleep(1.05)  # the window passes: one more try, one more timeout
            _, retry_seconds = timed(lambda: cache.set("apples", 4))
            assert TIMEOUT * 0.8 <= retry_seconds < 0.5
        finally:
            redis.resume()
        time.sleep(1.05)
        assert cache.get("apples") == 3


@pytest.mark.parametrize(
    "refusal",
    [
        # Full, with no eviction: every write is refused with an OOM error.
        {"maxmemory": "1", "maxmemory-policy": "noeviction"},
        # A replica after a failover: every write is refused as read-only.
        {"replica-read-only": "yes", "replicaof": "127.0.0.1 9"},
    ],
    ids=["out-of-memory", "read-only"],
)
def test_a_redis_that_refuses_writes_is_failed_open_too(tmp_path, refusal):
    """Redis answering an error is as unusable as Redis gone: the throttle's
    counter is unknown (the request goes through), a write is dropped."""
    with redis_server(tmp_path) as redis:
        cache = fail_open_cache(redis.url, breaker_seconds=0.5)
        cache.set("apples", 3)
        client = redis_lib.Redis.from_url(redis.url)
        for name, value in refusal.items():
            if name == "replicaof":
                client.execute_command("REPLICAOF", *value.split())
            else:
                client.config_set(name, value)

        assert cache.count("throttle:1", 60) is None
        cache.set("apples", 4)  # dropped, no error
        assert cache.add("pears", 1) is False
        assert cache.breaker.failures == 1
        assert cache.breaker.last_error in {"OutOfMemoryError", "ReadOnlyError"}
        client.close()


def api_process(redis_url: str, **env: str) -> DjangoProcess:
    """The real settings (throttles on, Redis as the cache) in a process of its own."""
    return DjangoProcess(
        base_env(
            DJANGO_SETTINGS_MODULE="hema.settings",
            DEBUG="True",
            DATABASE_URL=database_url(connection.settings_dict),
            REDIS_URL=redis_url,
            HEMA_HEALTH_PROBE_SECONDS="0",
            CACHE_BREAKER_SECONDS="1",
            **env,
        ),
        cwd=REPO_ROOT,
    )


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_the_api_keeps_answering_when_redis_dies_or_hangs(tmp_path):
    with redis_server(tmp_path) as redis:
        api = api_process(redis.url, THROTTLE_ANON="3/min")
        try:
            answers = [api.request("GET", "/api/v1/stores/") for _ in range(4)]
            # Redis up: the anonymous throttle counts in it.
            assert [a["status"] for a in answers] == [200, 200, 200, 429]
            health = api.request("GET", "/healthz")
            assert health["status"] == 200
            assert '"cache": "ok"' in health["body"]

            redis.hang()
            hung = [api.request("GET", "/api/v1/stores/") for _ in range(10)]
            # Throttles fail open: answered, each at most one short timeout.
            assert [a["status"] for a in hung] == [200] * 10
            assert max(a["seconds"] for a in hung) < 0.5
            assert sum(a["seconds"] for a in hung) < 1.0

            redis.stop()
            time.sleep(1.1)  # past the breaker: Redis is tried again, refused
            gone = [api.request("GET", "/api/v1/stores/") for _ in range(5)]
            assert [a["status"] for a in gone] == [200] * 5
            health = api.request("GET", "/healthz")
            assert health["status"] == 200
            assert health["body"] == (
                '{"status": "degraded", "database": "ok", "cache": "error", '
                '"broker": "ok"}'
            )
        finally:
            log = api.stderr()
    # Logged: the failure, with what failed.
    assert "cache redis://127.0.0.1:" in log
    assert "unavailable" in log
    assert "failing open" in log
