"""End to end: watchkit -> real rotel collector (OTLP/gRPC and OTLP/HTTP) -> receiver."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

import watchkit
from tests.helpers import run_python
from tests.support.receiver import OtlpReceiver
from tests.support.rotel import RotelCollector
from watchkit._internal.state import get_logger, get_meter, get_tracer

pytestmark = [pytest.mark.collector]

RESOURCE_KEYS = (
    "service.name",
    "service.version",
    "deployment.environment.name",
    "service.instance.id",
    "host.name",
    "process.pid",
    "telemetry.sdk.name",
    "telemetry.sdk.language",
    "telemetry.sdk.version",
)


def _endpoint(collector: RotelCollector, protocol: str) -> str:
    return collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_spans_metrics_and_logs_arrive_with_the_resource(
    protocol: str,
    rotel_collector: RotelCollector,
    otlp_receiver: OtlpReceiver,
    clean_env: object,
) -> None:
    """All three signals reach the collector's downstream, decoded by opentelemetry-proto."""
    watchkit.configure(
        service_name="orders-api",
        service_version="1.2.3",
        environment="ci",
        exporter="otlp",
        endpoint=_endpoint(rotel_collector, protocol),
        protocol=protocol,
        compression="gzip",
    )
    tracer, meter, logger = get_tracer(), get_meter(), get_logger()
    duration = meter.create_histogram(
        "orders.duration", unit="s", explicit_bucket_boundaries_advisory=[0.1, 0.2, 0.3]
    )
    with tracer.start_as_current_span("place_order", attributes={"order.items": 2}) as span:
        meter.create_counter("orders.placed").add(1, {"payment.method": "card"})
        duration.record(0.25, {"payment.method": "card"})
        logger.emit(body="order placed", attributes={"order.items": 2}, severity_text="INFO")
        trace_id = format(span.get_span_context().trace_id, "032x")
    assert watchkit.force_flush(timeout=10)

    spans = otlp_receiver.wait_for(lambda r: [s for s in r.spans() if s.name == "place_order"])
    assert spans[0].trace_id == trace_id
    assert spans[0].attributes["order.items"] == 2
    points = otlp_receiver.wait_for(lambda r: [m for m in r.metrics() if m.name == "orders.placed"])
    assert points[-1].value == 1 and points[-1].attributes == {"payment.method": "card"}
    hist = otlp_receiver.wait_for(lambda r: [m for m in r.metrics() if m.name == "orders.duration"])
    assert hist[-1].explicit_bounds == (0.1, 0.2, 0.3) and hist[-1].unit == "s"
    logs = otlp_receiver.wait_for(lambda r: [x for x in r.logs() if x.body == "order placed"])
    assert logs[0].trace_id == trace_id

    for item in (spans[0], points[-1], logs[0]):
        resource: dict[str, Any] = dict(item.resource_attributes)
        for key in RESOURCE_KEYS:
            assert key in resource, (key, resource)
        assert resource["service.name"] == "orders-api"
        assert resource["service.version"] == "1.2.3"
        assert resource["deployment.environment.name"] == "ci"
        assert resource["process.pid"] == os.getpid()
        assert resource["telemetry.sdk.language"] == "python"


def test_environment_alone_configures_otlp(
    rotel_collector: RotelCollector, otlp_receiver: OtlpReceiver
) -> None:
    """OTEL_* variables alone route telemetry to the collector (otlp becomes the default)."""
    run_python(
        """
        import watchkit
        from watchkit._internal.state import get_tracer
        watchkit.configure()
        with get_tracer().start_as_current_span("from-env"):
            pass
        """,
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": rotel_collector.grpc_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_SERVICE_NAME": "env-service",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=staging,team=couriers",
        },
    )
    span = otlp_receiver.wait_for(lambda r: [s for s in r.spans() if s.name == "from-env"])[0]
    assert span.resource_attributes["service.name"] == "env-service"
    assert span.resource_attributes["deployment.environment.name"] == "staging"
    assert span.resource_attributes["team"] == "couriers"


def test_pending_telemetry_is_flushed_at_interpreter_exit(
    rotel_collector: RotelCollector, otlp_receiver: OtlpReceiver
) -> None:
    """No explicit shutdown: the atexit hook exports what is queued."""
    run_python(
        f"""
        import watchkit
        from watchkit._internal.state import get_tracer
        watchkit.configure(exporter="otlp", endpoint="{rotel_collector.http_endpoint}")
        for i in range(25):
            with get_tracer().start_as_current_span("exit-" + str(i)):
                pass
        """
    )
    otlp_receiver.wait_for(
        lambda r: len({s.name for s in r.spans() if s.name.startswith("exit-")}) == 25
    )


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_forked_child_exports_its_own_spans_with_its_own_instance_id(
    protocol: str, rotel_collector: RotelCollector, otlp_receiver: OtlpReceiver
) -> None:
    """Configured before fork (gunicorn --preload): each child exports, with a new instance id."""
    result = run_python(
        f"""
        import json, os, sys
        import watchkit
        from watchkit._internal.state import get_tracer
        watchkit.configure(service_name="preforked", exporter="otlp",
                           endpoint="{_endpoint(rotel_collector, protocol)}",
                           protocol="{protocol}")
        with get_tracer().start_as_current_span("in-parent"):
            pass
        watchkit.force_flush()
        children = []
        for n in range(2):
            pid = os.fork()
            if pid == 0:
                with get_tracer().start_as_current_span("in-child-" + str(n)):
                    pass
                ok = watchkit.shutdown(timeout=10)
                os._exit(0 if ok else 3)
            children.append(pid)
        codes = [os.waitpid(pid, 0)[1] for pid in children]
        print(json.dumps({{"parent": os.getpid(), "children": children, "codes": codes}}))
        """,
        timeout=60,
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["codes"] == [0, 0], result.stderr
    spans = otlp_receiver.wait_for(
        lambda r: (
            found
            if len(found := {s.name: s for s in r.spans() if s.name.startswith("in-")}) == 3
            else None
        )
    )
    ids = {name: span.resource_attributes["service.instance.id"] for name, span in spans.items()}
    pids = {name: span.resource_attributes["process.pid"] for name, span in spans.items()}
    assert len(set(ids.values())) == 3, ids
    assert pids["in-parent"] == out["parent"]
    assert {pids["in-child-0"], pids["in-child-1"]} == set(out["children"])


def test_collector_outage_then_recovery(
    rotel_collector: RotelCollector, otlp_receiver: OtlpReceiver, clean_env: object
) -> None:
    """While the collector is down nothing raises; once it is back, new telemetry arrives."""
    watchkit.configure(
        exporter="otlp", endpoint=rotel_collector.http_endpoint, timeout=0.5, shutdown_timeout=2
    )
    rotel_collector.stop()
    for _ in range(10):
        with get_tracer().start_as_current_span("during-outage"):
            pass
    watchkit.force_flush(timeout=3)
    rotel_collector.start()
    with get_tracer().start_as_current_span("after-outage"):
        pass
    assert watchkit.force_flush(timeout=5)
    otlp_receiver.wait_for(lambda r: [s for s in r.spans() if s.name == "after-outage"])
    from watchkit._configure import current

    handle = current()
    assert handle is not None
    assert handle.export_stats()["spans"].dropped >= 10


def test_parent_and_forked_children_export_concurrently_without_corruption(
    rotel_collector: RotelCollector, otlp_receiver: OtlpReceiver
) -> None:
    """Exporters are rebuilt per process: no interleaved bytes on an inherited HTTP connection.

    Without the rebuild, parent and children share the parent's keep-alive socket and the
    collector sees corrupted requests (HTTP 400) and loses spans.
    """
    result = run_python(
        f"""
        import json, os
        import watchkit
        from watchkit._internal.state import get_tracer
        watchkit.configure(exporter="otlp", endpoint="{rotel_collector.http_endpoint}",
                           shutdown_timeout=10)
        with get_tracer().start_as_current_span("warm"):
            pass
        watchkit.force_flush()
        def work(prefix):
            for i in range(300):
                with get_tracer().start_as_current_span(prefix + str(i)):
                    pass
                if i % 10 == 0:
                    watchkit.force_flush()
        kids = []
        for n in range(4):
            pid = os.fork()
            if pid == 0:
                work("c" + str(n) + "-")
                os._exit(0 if watchkit.shutdown(timeout=10) else 3)
            kids.append(pid)
        work("p-")
        codes = [os.waitpid(pid, 0)[1] for pid in kids]
        print(json.dumps(codes))
        """,
        timeout=90,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [0, 0, 0, 0]
    otlp_receiver.wait_for(lambda r: len({s.name for s in r.spans()}) == 1 + 5 * 300)


def test_child_forked_while_the_parent_exports_metrics_still_exports_its_own(
    rotel_collector: RotelCollector, otlp_receiver: OtlpReceiver
) -> None:
    """A fork in the middle of the parent's metric export leaves the child able to export.

    The SDK's periodic reader holds a lock while it exports and does not renew it after a
    fork: here the parent holds it across the fork (as its reader thread does for a few
    milliseconds of every interval), and the child's metrics must still arrive.
    """
    result = run_python(
        f"""
        import json, os
        import watchkit
        watchkit.configure(service_name="fork-mid-export", exporter="otlp",
                           endpoint="{rotel_collector.http_endpoint}", shutdown_timeout=5)
        jobs = watchkit.counter("test.fork.mid_export.jobs")
        jobs.add(1, {{"side": "parent"}})
        from watchkit._internal.state import STATE
        reader = STATE.pipeline.meter_provider._metric_readers[0]
        with reader._export_lock:  # an export in flight at the moment of the fork
            pid = os.fork()
            if pid == 0:
                jobs.add(2, {{"side": "child"}})
                os._exit(0 if watchkit.shutdown(timeout=5) else 3)
        code = os.waitpid(pid, 0)[1]
        watchkit.shutdown()
        print(json.dumps({{"code": code, "child": pid}}))
        """,
        timeout=60,
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["code"] == 0, result.stderr
    points = otlp_receiver.wait_for(
        lambda r: [
            p for p in r.metrics("test.fork.mid_export.jobs") if p.attributes.get("side") == "child"
        ],
        timeout=15,
    )
    assert points[-1].value == 2
    assert points[-1].resource_attributes["process.pid"] == out["child"]


def test_child_forked_while_the_parent_exports_its_first_logs_still_exports_its_own(
    rotel_collector: RotelCollector, otlp_receiver: OtlpReceiver
) -> None:
    """A fork in the middle of an import on the export thread leaves the child able to export.

    ``requests`` imports ``netrc`` on a session's first request: a Celery worker's
    start-up lines, exported while the prefork pool forks, put the export thread
    inside that import at the fork. Here a thread of the parent is held inside
    ``import netrc`` across the fork (longer than the fork waits), and the child's
    own log line must still arrive. Without the fork hooks the child's export
    waits for ever on the import lock of a thread that does not exist there.
    """
    result = run_python(
        f"""
        import importlib.abc, importlib.machinery, json, os, sys, threading
        assert "netrc" not in sys.modules
        parent, entered, gate = os.getpid(), threading.Event(), threading.Event()

        class SlowNetrc(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name != "netrc" or os.getpid() != parent:
                    return None
                spec = importlib.machinery.PathFinder.find_spec(name, path)
                real = spec.loader

                class Loader(importlib.abc.Loader):
                    def create_module(self, spec):
                        return None

                    def exec_module(self, module):
                        entered.set()
                        gate.wait(30)
                        real.exec_module(module)

                spec.loader = Loader()
                return spec

        sys.meta_path.insert(0, SlowNetrc())
        import watchkit
        watchkit.configure(service_name="fork-mid-import", exporter="otlp",
                           endpoint="{rotel_collector.http_endpoint}", shutdown_timeout=5)
        log = watchkit.get_logger("fork")
        threading.Thread(target=lambda: __import__("netrc"), daemon=True).start()
        assert entered.wait(10)
        pid = os.fork()
        if pid == 0:
            log.info("child line")
            os._exit(0 if watchkit.shutdown(timeout=5) else 3)
        gate.set()
        code = os.waitpid(pid, 0)[1]
        log.info("parent line")
        watchkit.shutdown()
        print(json.dumps({{"code": code, "child": pid}}))
        """,
        timeout=60,
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["code"] == 0, result.stderr
    lines = otlp_receiver.wait_for(
        lambda r: r.logs("child line") if r.logs("parent line") else [], timeout=15
    )
    assert lines[-1].resource_attributes["process.pid"] == out["child"]
