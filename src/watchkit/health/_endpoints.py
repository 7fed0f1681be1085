"""Health endpoints: ``application/health+json`` responses, as plain ASGI and WSGI apps.

The body follows the IETF draft "Health Check Response Format for HTTP APIs"
(draft-inadarei-api-health-check-06): ``status`` pass|warn|fail, ``checks``
keyed ``component:measurement`` with arrays of ``{componentType,
observedValue, observedUnit, status, time, output}``. HTTP 200 for pass and
warn, 503 for fail (the draft: pass/warn 2xx-3xx, fail 4xx-5xx).

Exception text can name hosts, users or file paths, so by default a failing
check's ``output`` is only its short error type (``TimeoutError``). Details
are shown with ``expose_details=True`` or to a request that presents the
configured ``token`` as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import json
import re
import signal
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from datetime import datetime, timezone
from typing import Any

from watchkit._internal.guard import report
from watchkit._internal.semconv import HEALTH_MEDIA_TYPE
from watchkit._internal.settings import DEFAULT_EXCLUDED_URLS
from watchkit.health._core import PROBES, CheckResult, HealthRegistry, Probe, Report

__all__ = ["MOUNTED_PATHS", "HealthEndpoints", "health_paths", "render", "watch_sigterm"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_NOT_FOUND = b'{"status":"fail","output":"not found"}'
_HEADERS = (
    (b"content-type", HEALTH_MEDIA_TYPE.encode()),
    # Probes must see the current state, never a cached one.
    (b"cache-control", b"no-store"),
)
_DEFAULT_PATHS: dict[Probe, str] = {
    "livez": "/livez",
    "readyz": "/readyz",
    "healthz": "/healthz",
}

# Health endpoints mounted on paths the default excluded_urls does not cover
# (`/-/ready`): the HTTP middleware skips them at entry (no span, no request
# metrics). The default paths stay governed by excluded_urls, so a user who
# replaces that setting to trace `/healthz` gets what they asked for.
MOUNTED_PATHS: set[str] = set()
_DEFAULT_EXCLUDED = re.compile("|".join(DEFAULT_EXCLUDED_URLS))


def health_paths() -> frozenset[str]:
    """Custom health paths the HTTP middleware skips on top of ``excluded_urls``."""
    return frozenset(MOUNTED_PATHS)


def _iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, tz=timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _entry(result: CheckResult, details: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "componentType": result.component_type,
        "status": result.status,
        "time": _iso(result.time),
    }
    if result.observed_value is not None:
        entry["observedValue"] = result.observed_value
    if result.observed_unit is not None:
        entry["observedUnit"] = result.observed_unit
    if not result.critical:
        entry["critical"] = False
    if result.status != "pass":
        output = result.detail if details and result.detail else result.error_type
        if output:
            entry["output"] = output
    return entry


def render(health: Report, *, details: bool = False) -> bytes:
    """The ``application/health+json`` body of ``health``.

    Example:
        >>> from watchkit.health._core import Report
        >>> render(Report("livez", "pass", ()))
        b'{"status":"pass","checks":{}}'
    """
    checks: dict[str, list[dict[str, Any]]] = {}
    for result in health.results:
        checks.setdefault(f"{result.name}:{result.measurement}", []).append(_entry(result, details))
    body: dict[str, Any] = {"status": health.status, "checks": checks}
    if health.shutting_down:
        body["output"] = "shutting down"
    elif health.status != "pass":
        failing = [r.name for r in health.results if r.status != "pass"]
        body["output"] = f"{health.status}: {', '.join(failing)}"
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class HealthEndpoints:
    """Maps paths to probes and answers them; shared by every framework adapter.

    Args:
        registry: the checks to run (default: ``watchkit.health``'s registry).
        livez: path of the liveness probe (None: not served).
        readyz: path of the readiness probe (None: not served).
        healthz: path of the everything probe (None: not served).
        startupz: path of the startup probe (None, the default: not served).
        expose_details: show exception text and check output to everyone.
        token: show them to requests with ``Authorization: Bearer <token>``.

    Raises:
        ValueError: a path does not start with ``/``, two probes share a path,
            or ``token`` is not a non-empty string.
    """

    def __init__(
        self,
        registry: HealthRegistry | None = None,
        *,
        livez: str | None = "/livez",
        readyz: str | None = "/readyz",
        healthz: str | None = "/healthz",
        startupz: str | None = None,
        expose_details: bool = False,
        token: str | None = None,
    ) -> None:
        if registry is None:
            from watchkit.health import registry as default

            registry = default
        self.registry = registry
        paths: dict[str, Probe] = {}
        for probe, path in zip(PROBES, (livez, readyz, healthz, startupz), strict=True):
            if path is None:
                continue
            if not isinstance(path, str) or not path.startswith("/"):
                raise ValueError(f"{probe}={path!r} is invalid: use a path starting with '/'")
            if path in paths:
                raise ValueError(f"{probe}={path!r} is invalid: {paths[path]} already uses it")
            paths[path] = probe
        if not isinstance(expose_details, bool):
            raise ValueError(f"expose_details={expose_details!r} is invalid: use True or False")
        if token is not None and (not isinstance(token, str) or not token):
            raise ValueError("token is invalid: use a non-empty string or None")
        self.paths = paths
        self.expose_details = expose_details
        self._token = b"Bearer " + token.encode() if token else None
        MOUNTED_PATHS.update(p for p in paths if _DEFAULT_EXCLUDED.search(p) is None)

    def probe_for(self, path: str) -> Probe | None:
        """The probe served at ``path``, if any."""
        return self.paths.get(path) or self.paths.get(path.rstrip("/") or "/")

    def details_for(self, authorization: bytes | str | None) -> bool:
        """Whether a request with this ``Authorization`` header may see details."""
        if self.expose_details:
            return True
        if self._token is None or not authorization:
            return False
        if isinstance(authorization, str):
            authorization = authorization.encode("latin-1", "replace")
        return hmac.compare_digest(authorization, self._token)

    def respond_sync(
        self, probe: Probe, authorization: bytes | str | None = None
    ) -> tuple[int, bytes]:
        """Status code and body of ``probe``, run from synchronous code."""
        return self._respond(self.registry.run_sync(probe), authorization)

    async def respond(
        self, probe: Probe, authorization: bytes | str | None = None
    ) -> tuple[int, bytes]:
        """Status code and body of ``probe``, run on the current event loop."""
        return self._respond(await self.registry.run(probe), authorization)

    def _respond(self, health: Report, authorization: bytes | str | None) -> tuple[int, bytes]:
        return health.http_status, render(health, details=self.details_for(authorization))

    @property
    def headers(self) -> list[tuple[str, str]]:
        """Response headers, as ``str`` pairs (for WSGI and frameworks)."""
        return [(k.decode(), v.decode()) for k, v in _HEADERS]

    # Plain ASGI ---------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the probes as an ASGI app; 404 elsewhere; readiness fails at lifespan shutdown."""
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return
        probe = self.probe_for(scope.get("path", ""))
        if probe is None:
            await _send(send, 404, _NOT_FOUND)
            return
        await self.serve(probe, scope, send)

    async def serve(self, probe: Probe, scope: Scope, send: Send) -> None:
        """Answer ``probe`` on an ASGI HTTP ``scope``, whatever its path (for routers)."""
        authorization = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                authorization = value
        try:
            status, body = await self.respond(probe, authorization)
        except Exception:
            report("health endpoint")
            status, body = 503, b'{"status":"fail"}'
        await _send(send, status, body, head=scope.get("method") == "HEAD")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.registry.begin_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # Plain WSGI ---------------------------------------------------------------
    def wsgi(
        self, environ: Mapping[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Serve the probes as a WSGI app; 404 elsewhere."""
        probe = self.probe_for(environ.get("PATH_INFO", ""))
        if probe is None:
            start_response(
                "404 Not Found", [*self.headers, ("Content-Length", str(len(_NOT_FOUND)))]
            )
            return [_NOT_FOUND]
        try:
            status, body = self.respond_sync(probe, environ.get("HTTP_AUTHORIZATION"))
        except Exception:
            report("health endpoint")
            status, body = 503, b'{"status":"fail"}'
        reason = "OK" if status == 200 else "Service Unavailable"
        start_response(f"{status} {reason}", [*self.headers, ("Content-Length", str(len(body)))])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


async def _send(send: Send, status: int, body: bytes, *, head: bool = False) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


_sigterm_lock = threading.Lock()
_sigterm_installed: set[int] = set()


def watch_sigterm(registry: HealthRegistry | None = None) -> bool:
    """On SIGTERM, turn readiness to ``fail``, then run the handler that was there before.

    Servers (uvicorn, gunicorn workers) do their own graceful shutdown on
    SIGTERM; this only makes ``/readyz`` fail first, so load balancers stop
    sending traffic while in-flight requests finish. Returns False (and does
    nothing) outside the main thread, where Python cannot set signal handlers.
    """
    if registry is None:
        from watchkit.health import registry as default

        registry = default
    if threading.current_thread() is not threading.main_thread():
        return False
    with _sigterm_lock:
        if id(registry) in _sigterm_installed:
            return True
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: Any) -> None:
            registry.begin_shutdown()
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.raise_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)
        _sigterm_installed.add(id(registry))
    return True
