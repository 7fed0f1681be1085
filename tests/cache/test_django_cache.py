"""Django's cache framework: LocMemCache and RedisCache backends as watchkit caches.

The test app (``tests.integrations.apps.django_app``) has a LocMemCache as its
default cache and ``WatchkitMiddleware`` in ``MIDDLEWARE``, which installs the hook.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integrations.apps import django_app
from tests.integrations.servers import WsgiThread, free_port
from tests.support.redis_server import redis_server  # noqa: F401 - the fixture
from watchkit.integrations import _django_cache
from watchkit.integrations.django import instrument_caches
from watchkit.testing import TelemetryCapture

from django.core.cache import caches  # isort: skip
from django.test.utils import override_settings  # isort: skip

OPS = "watchkit.cache.operations"


def _count(telemetry: TelemetryCapture, name: str, operation: str, result: str | None) -> float:
    attributes = {"cache.name": name, "cache.operation": operation}
    if result is not None:
        attributes["cache.result"] = result
    points = [
        p for p in telemetry.metric_points(OPS, attributes)
        if result is not None or "cache.result" not in p.attributes
    ]  # fmt: skip
    return sum(p.value for p in points)


@pytest.fixture
def redis_caches(redis_server: Any) -> Iterator[None]:  # noqa: F811
    """CACHES with the app's LocMemCache, a RedisCache on the fixture and one on a dead port."""
    django_app.application  # noqa: B018 - Django configured, the middleware installed the hook
    with override_settings(
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "sessions": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_server.url,
            },
            "dead": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
                "OPTIONS": {"socket_connect_timeout": 0.5},
            },
        }
    ):
        caches["sessions"].clear()
        yield
        for alias in ("default", "sessions", "dead"):
            caches[alias].close()


@pytest.mark.parametrize("alias", ["default", "sessions"])
def test_get_miss_hit_and_cached_none(
    telemetry: TelemetryCapture, redis_caches: None, alias: str
) -> None:
    """An absent key (the default returned) is a miss; a cached None a hit; writes: no result."""
    cache = caches[alias]
    assert cache.get("user:42:menu", "fallback") == "fallback"
    cache.set("user:42:menu", None)
    assert cache.get("user:42:menu", "fallback") is None
    cache.set("user:42:cart", ["pizza"])
    assert cache.get("user:42:cart") == ["pizza"]
    assert cache.get_many(["user:42:cart", "user:42:menu", "nope"]) == {
        "user:42:cart": ["pizza"],
        "user:42:menu": None,
    }
    cache.delete("user:42:cart")
    assert _count(telemetry, alias, "get", "miss") == 1
    assert _count(telemetry, alias, "get", "hit") == 2
    assert _count(telemetry, alias, "get_many", "hit") == 2
    assert _count(telemetry, alias, "get_many", "miss") == 1
    assert _count(telemetry, alias, "set", None) == 2
    assert _count(telemetry, alias, "delete", None) == 1
    everything = str([p.attributes for p in telemetry.metric_points(OPS)])
    assert "user:42" not in everything
    assert (
        telemetry.histogram(
            "watchkit.cache.operation.duration", {"cache.name": alias, "cache.operation": "get"}
        ).count
        == 3
    )


@pytest.mark.parametrize("alias", ["default", "sessions"])
def test_get_or_set_is_one_lookup(
    telemetry: TelemetryCapture, redis_caches: None, alias: str
) -> None:
    """get_or_set (sync and async) is one get: miss, then hit; nested calls are not counted."""
    cache = caches[alias]
    assert cache.get_or_set("zone:75011", lambda: "paris") == "paris"
    assert cache.get_or_set("zone:75011", "other") == "paris"
    assert asyncio.run(cache.aget_or_set("zone:75011", "other")) == "paris"
    assert asyncio.run(cache.aget("zone:missing", "none")) == "none"
    cache.set("n", 1)
    cache.decr("n")  # BaseCache's decr calls incr: one operation
    assert _count(telemetry, alias, "get", "miss") == 2
    assert _count(telemetry, alias, "get", "hit") == 2
    assert _count(telemetry, alias, "add", None) == 0
    assert _count(telemetry, alias, "decr", None) == 1
    assert _count(telemetry, alias, "incr", None) == 0


def test_redis_down_counts_errors(telemetry: TelemetryCapture, redis_caches: None) -> None:
    """A Redis cache whose server is unreachable: the error reaches the caller and is counted."""
    import redis

    with pytest.raises(redis.ConnectionError):
        caches["dead"].get("user:42:menu")
    with pytest.raises(redis.ConnectionError):
        caches["dead"].set("user:42:menu", 1)
    assert _count(telemetry, "dead", "get", "error") == 1
    assert _count(telemetry, "dead", "set", "error") == 1


def test_request_through_a_real_server(telemetry: TelemetryCapture) -> None:
    """The app's view reads and fills the default cache on other threads: miss, then hit."""
    caches["default"].clear()
    before_hit = _count(telemetry, "default", "get", "hit")
    before_miss = _count(telemetry, "default", "get", "miss")
    from django.db import connections

    from tests.db.test_django import _ensure_table

    connections.close_all()
    _ensure_table()
    try:
        with WsgiThread(django_app.application) as server:
            assert httpx.get(f"{server.url}/kinds", timeout=10).status_code == 200
            assert httpx.get(f"{server.url}/kinds", timeout=10).status_code == 200
    finally:
        connections.close_all()
    assert _count(telemetry, "default", "get", "miss") >= before_miss + 1
    assert _count(telemetry, "default", "get", "hit") >= before_hit + 1


def test_aliases_option_and_uninstall(telemetry: TelemetryCapture, redis_caches: None) -> None:
    """instrument_caches(["sessions"]) leaves the other aliases alone; uninstall stops recording."""
    _django_cache.uninstall()
    try:
        instrument_caches(["sessions"])
        caches["default"].get("a")
        caches["sessions"].get("a")
        assert _count(telemetry, "default", "get", "miss") == 0
        assert _count(telemetry, "sessions", "get", "miss") == 1
        _django_cache.uninstall()
        caches["sessions"].get("a")
        assert _count(telemetry, "sessions", "get", "miss") == 1
    finally:
        instrument_caches()
    with pytest.raises(ValueError, match="'nope'"):
        instrument_caches(["nope"])
    with pytest.raises(ValueError, match="list of cache aliases"):
        instrument_caches("default")  # type: ignore[arg-type]
