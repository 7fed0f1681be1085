"""Cache telemetry: manual lookups, memoize, and real redis-py clients (sync, asyncio)."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio

import watchkit.cache
from tests.support.redis_server import redis_server  # noqa: F401 - the fixture
from watchkit.testing import TelemetryCapture

OPS = "watchkit.cache.operations"


def _count(telemetry: TelemetryCapture, **attributes: str) -> float:
    return telemetry.counter(OPS, {f"cache.{k}": v for k, v in attributes.items()})


def test_manual_lookup(telemetry: TelemetryCapture) -> None:
    """hit(), miss(), the default miss, and an exception as error (re-raised)."""
    with watchkit.cache.lookup("pricing") as c:
        c.hit()
    with watchkit.cache.lookup("pricing") as c:
        c.miss()
    with watchkit.cache.lookup("pricing"):
        pass
    with pytest.raises(KeyError), watchkit.cache.lookup("pricing"):
        raise KeyError("sku")
    assert _count(telemetry, name="pricing", result="hit") == 1
    assert _count(telemetry, name="pricing", result="miss") == 2
    assert _count(telemetry, name="pricing", result="error") == 1
    assert (
        telemetry.histogram("watchkit.cache.operation.duration", {"cache.name": "pricing"}).count
        == 4
    )


def test_memoize_counts_cached_none_as_hit(telemetry: TelemetryCapture) -> None:
    """memoize: first call misses, later ones hit, a cached None is a hit; LRU bounds it."""
    calls: list[str] = []

    @watchkit.cache.memoize("zones", maxsize=2)
    def zone(code: str) -> str | None:
        calls.append(code)
        return None if code == "none" else code[:2]

    assert zone("75011") == "75"
    assert zone("75011") == "75"
    assert zone("none") is None
    assert zone("none") is None
    assert calls == ["75011", "none"]
    zone("69001")  # evicts 75011
    zone("75011")
    assert calls == ["75011", "none", "69001", "75011"]
    assert _count(telemetry, name="zones", result="hit") == 2
    assert _count(telemetry, name="zones", result="miss") == 4


@pytest.mark.parametrize(("kwargs", "match"), [({"maxsize": 0}, "maxsize"), ({"ttl": -1}, "ttl")])
def test_bad_memoize_arguments(kwargs: dict[str, float], match: str) -> None:
    """Invalid options fail at decoration time, naming the parameter."""
    with pytest.raises(ValueError, match=match):
        watchkit.cache.memoize("x", **kwargs)  # type: ignore[arg-type]


def test_redis_client(telemetry: TelemetryCapture, redis_server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """GET hit and miss, MGET per key, SET/DEL without result; keys never recorded."""
    client = watchkit.cache.instrument_redis(
        redis.Redis(host="127.0.0.1", port=redis_server.port), name="sessions"
    )
    assert watchkit.cache.instrument_redis(client, name="sessions") is client
    client.set("session:user-42", "x")
    assert client.get("session:user-42") == b"x"
    assert client.get("session:missing") is None
    assert client.mget(["session:user-42", "nope", "nope2"]) == [b"x", None, None]
    client.delete("session:user-42")
    client.incr("counter")  # not a cache operation
    assert _count(telemetry, name="sessions", operation="get", result="hit") == 1
    assert _count(telemetry, name="sessions", operation="get", result="miss") == 1
    assert _count(telemetry, name="sessions", operation="get_many", result="miss") == 2
    assert _count(telemetry, name="sessions", operation="set") == 1
    assert _count(telemetry, name="sessions", operation="delete") == 1
    everything = str([p.attributes for p in telemetry.metric_points(OPS)])
    assert "user-42" not in everything and "incr" not in everything


async def test_redis_asyncio_client(telemetry: TelemetryCapture, redis_server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """redis.asyncio clients are recorded the same way."""
    client = watchkit.cache.instrument_redis(
        redis.asyncio.Redis(host="127.0.0.1", port=redis_server.port), name="carts"
    )
    await client.set("cart:1", "[]")
    assert await client.get("cart:1") == b"[]"
    assert await client.get("cart:2") is None
    await client.aclose()
    assert _count(telemetry, name="carts", result="hit") == 1
    assert _count(telemetry, name="carts", result="miss") == 1


def test_redis_server_stats(telemetry: TelemetryCapture, redis_server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """INFO stats hits and misses as observable counters tagged with the server."""
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    watchkit.cache.redis_server_stats(client)
    before = telemetry.counter("watchkit.cache.redis.keyspace_misses")
    client.get("never-set")
    server = {"cache.server": f"127.0.0.1:{redis_server.port}"}
    assert telemetry.counter("watchkit.cache.redis.keyspace_misses", server) == before + 1
    assert telemetry.metric_points("watchkit.cache.redis.evicted_keys", server)


def test_redis_server_stats_one_process_per_host(telemetry: TelemetryCapture, redis_server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """While another process holds the server's lock it reports, not this one; then this one."""
    import subprocess
    import sys

    from watchkit.integrations.redis import lock_path

    server = {"cache.server": f"127.0.0.1:{redis_server.port}"}
    path = lock_path(server["cache.server"])
    from watchkit.integrations.redis import _SERVERS

    for _, attributes, lock in _SERVERS.clients:  # an earlier test's election in this process
        if attributes == server:
            lock.release()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        watchkit.cache.redis_server_stats(redis.Redis(host="127.0.0.1", port=redis_server.port))
        assert not telemetry.metric_points("watchkit.cache.redis.keyspace_hits", server)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
        assert holder.stdout is not None
        holder.stdout.close()
    # The holder exited: the kernel released its lock, and this process takes over.
    assert telemetry.metric_points("watchkit.cache.redis.keyspace_hits", server)
