"""Redis cache telemetry reaches a real collector (rotel) from a real redis-server.

The cache hooks record metrics only (no spans: a cache lookup is too small and
too frequent to be worth one), so the metrics are what is proven here.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

import watchkit
import watchkit.cache
from tests.support.redis_server import redis_server  # noqa: F401 - the fixture

pytestmark = [pytest.mark.collector]

OPS = "watchkit.cache.operations"


def _last(points: list[Any]) -> dict[tuple[Any, ...], Any]:
    """The latest point of each series (cumulative points are re-sent every export)."""
    return {tuple(sorted(p.attributes.items())): p for p in points}


def test_redis_cache_metrics_at_the_collector(  # type: ignore[no-untyped-def]
    rotel_collector,
    otlp_receiver,
    redis_server,  # noqa: F811
) -> None:
    """Hits, misses, writes and the server's INFO stats counters arrive through rotel."""
    watchkit.configure(
        service_name="menus", exporter="otlp", endpoint=rotel_collector.http_endpoint
    )
    client = watchkit.cache.instrument_redis(
        redis.Redis(host="127.0.0.1", port=redis_server.port), name="menus"
    )
    watchkit.cache.redis_server_stats(redis.Redis(host="127.0.0.1", port=redis_server.port))
    client.set("menu:restaurant-9", "pizza")
    client.get("menu:restaurant-9")
    client.get("menu:restaurant-9")
    client.get("menu:restaurant-404")
    assert watchkit.force_flush()

    def arrived(receiver: Any) -> dict[tuple[Any, ...], Any] | None:
        series = _last(receiver.metrics(OPS))
        results = {dict(key).get("cache.result") for key in series}
        return series if {"hit", "miss", None} <= results else None

    series = otlp_receiver.wait_for(arrived)
    by_result = {dict(key).get("cache.result"): point for key, point in series.items()}
    assert by_result["hit"].value == 2
    assert by_result["miss"].value == 1
    assert by_result[None].attributes == {"cache.name": "menus", "cache.operation": "set"}
    assert by_result["hit"].is_monotonic
    assert by_result["hit"].resource_attributes["service.name"] == "menus"
    assert "restaurant" not in str([p.attributes for p in series.values()])
    duration = otlp_receiver.wait_for(lambda r: r.metrics("watchkit.cache.operation.duration"))[-1]
    assert duration.unit == "s"
    server = {"cache.server": f"127.0.0.1:{redis_server.port}"}
    for name in ("keyspace_hits", "keyspace_misses", "evicted_keys"):
        point = otlp_receiver.wait_for(
            lambda r, name=name: [
                p for p in r.metrics(f"watchkit.cache.redis.{name}") if p.attributes == server
            ]
        )[-1]
        assert point.is_monotonic
        assert point.value >= (1 if name != "evicted_keys" else 0)
