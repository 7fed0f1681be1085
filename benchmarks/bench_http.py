"""Per-request overhead of watchkit's HTTP middleware against the peers (issue 5).

Each framework's app is driven in-process with a prebuilt request: ASGI apps are
awaited with a scope/receive/send triple, WSGI apps called with a prebuilt
environ, the body iterated and closed (as a server does). The rows of one table
are the same app with different instrumentation; budgets compare *overheads*
(row minus the bare app).

Fair set-up: every OpenTelemetry-based variant records into the same SDK
providers, built here once: a ``TracerProvider`` (always-on sampling) with a
``BatchSpanProcessor`` whose exporter discards the batch, and a
``MeterProvider`` with one ``InMemoryMetricReader`` (never collected while
timing). watchkit is routed to them through ``STATE.set_override`` (what its
test capture uses), the contrib instrumentations get them as
``tracer_provider=`` / ``meter_provider=``, with the stable HTTP semantic
conventions (``OTEL_SEMCONV_STABILITY_OPT_IN=http``, the attributes watchkit
emits). The OpenTelemetry globals stay unset, so FastAPI's built-in telemetry
is off in every row. logfire builds its own providers (``send_to_logfire=False,
console=False``) plus the same discarding batch processor. The Prometheus peers
record into private registries (django-prometheus into the default one).
Frameworks' own error logging (Flask's ``app.logger``, ``django.request``) is
disabled in every row: it would format the same traceback in each of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")


from benchmarks._providers import Providers, discarding_processor
from benchmarks.harness import Budget, Suite, async_case

NUMBER = 1000
ROUNDS = 7


# ASGI -------------------------------------------------------------------------------
_SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.4"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "root_path": "",
    "query_string": b"",
    "headers": [
        (b"host", b"api.example.com"),
        (b"user-agent", b"bench/1.0"),
        (b"accept", b"application/json"),
    ],
    "server": ("10.0.0.1", 8000),
    "client": ("10.0.0.2", 50000),
}
_REQUEST = {"type": "http.request", "body": b"", "more_body": False}


def asgi_case(app: Any, path: str) -> Callable[[int], float]:
    scope = {**_SCOPE, "path": path, "raw_path": path.encode()}

    async def receive() -> dict[str, Any]:
        return _REQUEST

    async def send(message: Any) -> None:
        return None

    async def one() -> None:
        # The error route re-raises to the server, as designed.
        with contextlib.suppress(Exception):
            await app(dict(scope), receive, send)

    return async_case(one)


def fastapi_apps(providers: Providers) -> dict[str, Any]:
    from fastapi import FastAPI

    def make() -> FastAPI:
        # FastAPI's built-in telemetry off in every row (logfire.configure sets the
        # OpenTelemetry globals, which would switch it on for the bare app).
        app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

        @app.get("/orders/{order_id}")
        async def get_order(order_id: int) -> dict[str, int]:
            return {"order_id": order_id}

        @app.get("/boom")
        async def boom() -> None:
            raise ValueError("kitchen on fire")

        return app

    import watchkit

    apps: dict[str, Any] = {"bare FastAPI": make()}
    apps["watchkit"] = watchkit.instrument_fastapi(make())
    apps["watchkit tracing off"] = watchkit.instrument_fastapi(make(), tracing=False)

    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    contrib = make()
    FastAPIInstrumentor.instrument_app(
        contrib,
        tracer_provider=providers.tracer_provider,
        meter_provider=providers.meter_provider,
    )
    apps["contrib opentelemetry-instrumentation-fastapi"] = contrib

    import prometheus_client
    from prometheus_fastapi_instrumentator import Instrumentator

    prom = make()
    Instrumentator(registry=prometheus_client.CollectorRegistry()).instrument(prom)
    apps["prometheus-fastapi-instrumentator"] = prom

    try:
        import logfire
    except ImportError:  # pragma: no cover - the bench extra installs it
        return apps
    logfire.configure(
        send_to_logfire=False,
        console=False,
        additional_span_processors=[discarding_processor()],
    )
    lf = make()
    logfire.instrument_fastapi(lf)
    apps["logfire"] = lf
    return apps


# WSGI -------------------------------------------------------------------------------
_ENVIRON: dict[str, Any] = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "QUERY_STRING": "",
    "SERVER_NAME": "api.example.com",
    "SERVER_PORT": "8000",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "10.0.0.2",
    "HTTP_HOST": "api.example.com",
    "HTTP_USER_AGENT": "bench/1.0",
    "HTTP_ACCEPT": "application/json",
    "wsgi.url_scheme": "http",
    "wsgi.version": (1, 0),
    "wsgi.multithread": True,
    "wsgi.multiprocess": False,
    "wsgi.run_once": False,
    "wsgi.errors": io.StringIO(),
}


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return None


def wsgi_case(app: Any, path: str) -> Callable[[], object]:
    environ = {**_ENVIRON, "PATH_INFO": path}

    def one() -> None:
        env = dict(environ)
        env["wsgi.input"] = io.BytesIO(b"")
        body = app(env, _start_response)
        try:
            for _ in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    return one


def flask_apps(providers: Providers) -> dict[str, Any]:
    from flask import Flask, jsonify

    def make(name: str) -> Flask:
        app = Flask(name)
        app.logger.disabled = True

        @app.get("/orders/<int:order_id>")
        def get_order(order_id: int) -> Any:
            return jsonify(order_id=order_id)

        @app.get("/boom")
        def boom() -> Any:
            raise ValueError("kitchen on fire")

        return app

    import watchkit

    apps: dict[str, Any] = {"bare Flask": make("bare")}
    apps["watchkit"] = watchkit.instrument_flask(make("wk"))
    apps["watchkit tracing off"] = watchkit.instrument_flask(make("wk_off"), tracing=False)

    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    contrib = make("contrib")
    FlaskInstrumentor.instrument_app(
        contrib,
        tracer_provider=providers.tracer_provider,
        meter_provider=providers.meter_provider,
    )
    apps["contrib opentelemetry-instrumentation-flask"] = contrib

    import prometheus_client
    from prometheus_flask_exporter import PrometheusMetrics

    prom = make("prom")
    PrometheusMetrics(prom, registry=prometheus_client.CollectorRegistry())
    apps["prometheus-flask-exporter"] = prom
    return apps


# Django (views and urls live in this module: ROOT_URLCONF) --------------------------
def get_order(request: Any, order_id: int) -> Any:
    from django.http import JsonResponse

    return JsonResponse({"order_id": order_id})


def boom(request: Any) -> Any:
    raise ValueError("kitchen on fire")


urlpatterns: list[Any] = []


def django_apps(providers: Providers) -> dict[str, Any]:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="bench-only",
            ROOT_URLCONF=__name__,
            ALLOWED_HOSTS=["*"],
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            LOGGING_CONFIG=None,
        )
        django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings
    from django.urls import path

    urlpatterns[:] = [path("orders/<int:order_id>", get_order), path("boom", boom)]
    logging.getLogger("django.request").disabled = True

    def handler(*middleware: str) -> WSGIHandler:
        with override_settings(MIDDLEWARE=list(middleware)):
            return WSGIHandler()

    apps: dict[str, Any] = {"bare Django": handler()}
    apps["watchkit"] = handler("watchkit.integrations.django.WatchkitMiddleware")
    with override_settings(WATCHKIT={"tracing": False}):
        apps["watchkit tracing off"] = handler("watchkit.integrations.django.WatchkitMiddleware")

    from opentelemetry.instrumentation.django import DjangoInstrumentor

    DjangoInstrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    apps["contrib opentelemetry-instrumentation-django"] = handler(
        "opentelemetry.instrumentation.django.middleware.otel_middleware._DjangoMiddleware"
    )
    apps["django-prometheus"] = handler(
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    )
    return apps


# Suites -----------------------------------------------------------------------------
def _budgets(bare: str, contrib: str, prometheus: str) -> list[Budget]:
    return [
        Budget("watchkit", contrib, 0.4, overhead_of=bare),
        Budget("watchkit tracing off", prometheus, 1.0, overhead_of=bare),
    ]


def suites() -> list[Suite]:
    providers = Providers()
    providers.install()
    # Warm the per-generation binding before anything is timed.
    asyncio.run(asyncio.sleep(0))

    fastapi = fastapi_apps(providers)
    flask = flask_apps(providers)
    django = django_apps(providers)

    out: list[Suite] = []
    for title, apps, make_case, ok_path, bare, contrib, prometheus in (
        (
            "FastAPI",
            fastapi,
            asgi_case,
            "/orders/42",
            "bare FastAPI",
            "contrib opentelemetry-instrumentation-fastapi",
            "prometheus-fastapi-instrumentator",
        ),
        (
            "Flask",
            flask,
            wsgi_case,
            "/orders/42",
            "bare Flask",
            "contrib opentelemetry-instrumentation-flask",
            "prometheus-flask-exporter",
        ),
        (
            "Django",
            django,
            wsgi_case,
            "/orders/42",
            "bare Django",
            "contrib opentelemetry-instrumentation-django",
            "django-prometheus",
        ),
    ):
        for route, path in (("200 route", ok_path), ("error route", "/boom")):
            cases = {label: make_case(app, path) for label, app in apps.items()}
            out.append(
                Suite(
                    f"HTTP middleware: {title}, {route} (per request)",
                    cases,
                    budgets=_budgets(bare, contrib, prometheus),
                    number=NUMBER,
                    rounds=ROUNDS,
                )
            )
    return out
