"""Request/response hooks (fail-safe) and uninstrument_* restoring the original app."""

from __future__ import annotations

import logging
import time

import httpx
import pytest
from fastapi import FastAPI, Response

import watchkit
from tests.integrations.servers import UvicornThread, WsgiThread
from watchkit import ConfigError


def _flask_app():  # type: ignore[no-untyped-def]
    from flask import Flask

    app = Flask("hooks")

    @app.get("/menu/<dish>")
    def menu(dish: str):  # type: ignore[no-untyped-def]
        return dish, 200, {"X-Kitchen": "north"}

    return app


def _fastapi_app():  # type: ignore[no-untyped-def]
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def get_order(order_id: int, response: Response) -> dict[str, int]:
        response.headers["X-Kitchen"] = "south"
        return {"id": order_id}

    return app


def _request_hook(span, request) -> None:  # type: ignore[no-untyped-def]
    tenant = request.get("HTTP_X_TENANT")  # WSGI environ
    if tenant is None:  # ASGI scope
        tenant = dict(request["headers"]).get(b"x-tenant", b"").decode()
    span.set_attribute("app.tenant", tenant)


def _response_hook(span, status, header) -> None:  # type: ignore[no-untyped-def]
    span.set_attribute("app.status_seen", status)
    span.set_attribute("app.kitchen", (header("x-kitchen") or ["?"])[0])


def test_flask_hooks_see_the_environ_status_and_headers(telemetry):
    """request_hook gets (span, environ); response_hook gets (span, status, header lookup)."""
    app = watchkit.instrument_flask(
        _flask_app(), request_hook=_request_hook, response_hook=_response_hook
    )
    with WsgiThread(app) as server:
        assert httpx.get(f"{server.url}/menu/soup", headers={"X-Tenant": "acme"}).text == "soup"
    time.sleep(0.05)
    span = telemetry.span("GET /menu/<dish>")
    assert span.attributes["app.tenant"] == "acme"
    assert span.attributes["app.status_seen"] == 200
    assert span.attributes["app.kitchen"] == "north"


def test_fastapi_hooks_see_the_scope_status_and_headers(telemetry):
    """The ASGI request hook gets the scope."""
    app = watchkit.instrument_fastapi(
        _fastapi_app(), request_hook=_request_hook, response_hook=_response_hook
    )
    with UvicornThread(app) as server:
        assert httpx.get(f"{server.url}/orders/3", headers={"X-Tenant": "acme"}).status_code == 200
        time.sleep(0.05)
    span = telemetry.span("GET /orders/{order_id}")
    assert span.attributes["app.tenant"] == "acme"
    assert span.attributes["app.status_seen"] == 200
    assert span.attributes["app.kitchen"] == "south"


def test_a_hook_that_raises_is_logged_once_and_never_breaks_the_request(telemetry, caplog):
    """Two requests, two raising hooks: 200 each time, one warning per hook, spans intact."""

    def bad_request_hook(span, request) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("request hook bug")

    def bad_response_hook(span, status, header) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("response hook bug")

    app = watchkit.instrument_flask(
        _flask_app(), request_hook=bad_request_hook, response_hook=bad_response_hook
    )
    with caplog.at_level(logging.WARNING, logger="watchkit"), WsgiThread(app) as server:
        for _ in range(2):
            assert httpx.get(f"{server.url}/menu/tea").status_code == 200
    time.sleep(0.05)
    warnings = [r for r in caplog.records if "raised" in r.getMessage()]
    assert sorted(r.getMessage().split()[2] for r in warnings) == ["request_hook", "response_hook"]
    assert all(r.exc_info is not None for r in warnings)
    spans = telemetry.spans()
    assert len(spans) == 2
    assert all(s.attributes["http.response.status_code"] == 200 for s in spans)


def test_a_hook_that_is_not_callable_fails_at_instrument_time() -> None:
    """ConfigError naming the option."""
    with pytest.raises(ConfigError, match="request_hook"):
        watchkit.instrument_flask(_flask_app(), request_hook="tenant")  # type: ignore[typeddict-item]


def test_uninstrument_flask_restores_the_original_wsgi_app(telemetry):
    """After uninstrument_flask the app records nothing; instrumenting again works."""
    app = _flask_app()
    original = app.wsgi_app
    watchkit.instrument_flask(app)
    assert app.wsgi_app is not original
    assert watchkit.uninstrument_flask(app) is app
    assert app.wsgi_app == original
    assert "watchkit" not in app.extensions
    with WsgiThread(app) as server:
        assert httpx.get(f"{server.url}/menu/soup").status_code == 200
    time.sleep(0.05)
    assert telemetry.spans() == []
    watchkit.instrument_flask(app)
    with WsgiThread(app) as server:
        assert httpx.get(f"{server.url}/menu/soup").status_code == 200
    time.sleep(0.05)
    (span,) = telemetry.spans()
    assert span.name == "GET /menu/<dish>"
    watchkit.uninstrument_flask(app)
    assert watchkit.uninstrument_flask(app) is app  # not instrumented: unchanged


def test_uninstrument_fastapi_restores_the_stack_and_native_telemetry(telemetry):
    """The middleware goes, FastAPI's own telemetry switches come back."""
    from watchkit.integrations.fastapi import native_telemetry_enabled

    app = _fastapi_app()
    before = native_telemetry_enabled(app)
    watchkit.instrument_fastapi(app)
    with UvicornThread(app) as server:  # builds the middleware stack
        assert httpx.get(f"{server.url}/orders/1").status_code == 200
        time.sleep(0.05)
        assert len(telemetry.spans()) == 1
        watchkit.uninstrument_fastapi(app)
        assert native_telemetry_enabled(app) == before
        assert "build_middleware_stack" not in app.__dict__
        assert type(app.middleware_stack).__module__.startswith("watchkit") is False
    assert watchkit.uninstrument_fastapi(app) is app


def test_uninstrument_starlette_restores_the_stack(telemetry):
    """A Starlette app built after uninstrumenting has no watchkit middleware."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("ok"))])
    watchkit.instrument_starlette(app)
    watchkit.uninstrument_starlette(app)
    with UvicornThread(app) as server:
        assert httpx.get(f"{server.url}/").text == "ok"
        time.sleep(0.05)
    assert telemetry.spans() == []


@pytest.mark.parametrize("server", ["werkzeug", "uvicorn"])
def test_client_address_ignores_forwarding_headers_from_untrusted_peers(
    telemetry, clean_env, server
):
    """By default a spoofed X-Forwarded-For does not become client.address."""
    app = watchkit.instrument_flask(_flask_app()) if server == "werkzeug" else None
    if app is None:
        app = watchkit.instrument_fastapi(_fastapi_app())
        # uvicorn's own proxy_headers (forwarded_allow_ips=127.0.0.1) would
        # rewrite the peer before watchkit sees it: off, to test watchkit's rule.
        runner = UvicornThread(app, proxy_headers=False)
        path = "/orders/1"
    else:
        runner = WsgiThread(app)
        path = "/menu/soup"
    with runner as running:
        headers = {"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.8"}
        assert httpx.get(f"{running.url}{path}", headers=headers).status_code == 200
        time.sleep(0.05)
    (span,) = telemetry.spans()
    assert span.attributes["client.address"] == "127.0.0.1"


@pytest.mark.parametrize("server", ["werkzeug", "uvicorn"])
def test_client_address_from_a_trusted_proxy(clean_env, server):
    """Loopback configured as trusted proxy: the forwarded client is client.address."""
    clean_env.setenv("WATCHKIT_TRUSTED_PROXIES", "127.0.0.0/8")
    with watchkit.testing.capture() as telemetry:  # its settings are read as it starts
        _serve_behind_a_proxy(server)
    (span,) = telemetry.spans()
    assert span.attributes["client.address"] == "203.0.113.7"


def _serve_behind_a_proxy(server: str) -> None:
    if server == "werkzeug":
        runner: object = WsgiThread(watchkit.instrument_flask(_flask_app()))
        path = "/menu/soup"
    else:
        runner = UvicornThread(watchkit.instrument_fastapi(_fastapi_app()), proxy_headers=False)
        path = "/orders/1"
    with runner as running:  # type: ignore[attr-defined]
        headers = {"X-Forwarded-For": "6.6.6.6, 203.0.113.7"}
        assert httpx.get(f"{running.url}{path}", headers=headers).status_code == 200
        time.sleep(0.05)
