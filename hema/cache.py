"""A Redis cache that fails open: a Redis that is gone, hung or refusing never
fails a request.

The cache holds only what can be lost (throttle counters, the weather), so when
Redis does not answer, a read is a miss and a write is dropped: the throttles
let the request through and the caller computes what it wanted. Each failure is
logged and counted.

A hung Redis costs at most the socket timeouts (``socket_connect_timeout`` and
``socket_timeout`` in ``CACHES[...]["OPTIONS"]``, a quarter of a second in the
settings), and then only once per ``breaker_seconds``: after a failure the
breaker opens and every call skips Redis at once until it has passed; the first
call after that tries Redis again. The breaker is shared by every thread of the
process (one per cache location).
"""

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# Redis gone (refused, reset), hung (timed out), still loading its data, or
# refusing what it is asked: full with no eviction (OOM), a read-only replica
# after a failover, MISCONF. Each is a Redis the cache cannot use right now.
UNAVAILABLE = (RedisError, OSError)
DEFAULT_BREAKER_SECONDS = 5.0


@dataclass
class Breaker:
    """Whether to skip Redis for now, and how often it failed or was skipped."""

    seconds: float
    open_until: float = 0.0
    failures: int = 0
    skipped: int = 0
    last_error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def is_open(self) -> bool:
        if time.monotonic() < self.open_until:
            with self.lock:
                self.skipped += 1
            return True
        return False

    def trip(self, location: str, exc: BaseException) -> None:
        with self.lock:
            self.failures += 1
            self.open_until = time.monotonic() + self.seconds
            self.last_error = type(exc).__name__
        logger.warning(
            "cache %s unavailable (%s: %s): failing open, skipping it for %.1f s "
            "(%d failures so far)",
            location,
            type(exc).__name__,
            exc,
            self.seconds,
            self.failures,
        )

    def reset(self) -> None:
        with self.lock:
            self.open_until = 0.0

    def state(self) -> dict[str, Any]:
        return {
            "open": time.monotonic() < self.open_until,
            "failures": self.failures,
            "skipped": self.skipped,
            "last_error": self.last_error,
        }


_breakers: dict[str, Breaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(location: str, seconds: float = DEFAULT_BREAKER_SECONDS) -> Breaker:
    with _breakers_lock:
        if location not in _breakers:
            _breakers[location] = Breaker(seconds=seconds)
        return _breakers[location]


class FailOpenRedisCache(RedisCache):
    """Django's Redis cache, failing open behind a circuit breaker.

    ``OPTIONS["breaker_seconds"]`` (default 5) is how long Redis is skipped
    after a failure; the other options go to the Redis connection pool.
    """

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS") or {})
        seconds = float(options.pop("breaker_seconds", DEFAULT_BREAKER_SECONDS))
        super().__init__(server, {**params, "OPTIONS": options})
        self.location = server
        self.breaker = breaker_for(server, seconds)

    def _guard(self, method: str, fallback: Any, *args: Any) -> Any:
        """``RedisCache.<method>(*args)``, or ``fallback`` while Redis is away."""
        if self.breaker.is_open():
            return fallback
        try:
            return getattr(super(), method)(*args)
        except UNAVAILABLE as exc:
            self.breaker.trip(self.location, exc)
            return fallback

    def ping(self) -> bool:
        """Whether Redis answers now (the breaker aside); for /healthz."""
        try:
            ok = bool(self._cache.get_client(write=False).ping())
        except UNAVAILABLE as exc:
            self.breaker.trip(self.location, exc)
            return False
        self.breaker.reset()
        return ok

    def count(self, key: str, timeout: int) -> int | None:
        """Add one to the counter ``key`` (created with ``timeout``) and return it,
        in one round trip (INCR and EXPIRE pipelined); None while Redis is away.

        Django's ``incr`` asks EXISTS first and ``add`` + ``incr`` takes three
        round trips: a throttle pays this on every request.
        """
        if self.breaker.is_open():
            return None
        redis_key = self.make_and_validate_key(key)
        try:
            pipe = self._cache.get_client(redis_key, write=True).pipeline()
            pipe.incr(redis_key)
            pipe.expire(redis_key, timeout)
            value, _ = pipe.execute()
        except UNAVAILABLE as exc:
            self.breaker.trip(self.location, exc)
            return None
        return int(value)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard("add", False, key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._guard("get", default, key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self._guard("set", None, key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard("touch", False, key, timeout, version)

    def delete(self, key, version=None):
        return self._guard("delete", False, key, version)

    def get_many(self, keys, version=None):
        return self._guard("get_many", {}, keys, version)

    def has_key(self, key, version=None):
        return self._guard("has_key", False, key, version)

    def incr(self, key, delta=1, version=None):
        # Django's API answers a missing key with ValueError; an unreachable
        # Redis is answered the same way (nothing there to count on).
        missing = object()
        value = self._guard("incr", missing, key, delta, version)
        if value is missing:
            raise ValueError(f"Key '{key}' not found (cache unavailable).")
        return value

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard("set_many", list(data), data, timeout, version)

    def delete_many(self, keys, version=None):
        return self._guard("delete_many", None, keys, version)

    def clear(self):
        return self._guard("clear", False)
