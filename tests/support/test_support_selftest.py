"""Self-tests for the end-to-end test support (receiver, rotel collector, fixtures).

These use the plain OpenTelemetry SDK, not watchkit, so a failure here points
at the harness rather than at the library under test.
"""

# Pytest fixtures are imported by name and then "redefined" as test parameters.
# ruff: noqa: F811

from __future__ import annotations

import gzip
import socket
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourceProto
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

from tests.support.fixtures import otlp_receiver, rotel_collector  # noqa: F401
from tests.support.rotel import RotelCollector, RotelStartError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.support.receiver import OtlpReceiver

# Every test here serves HTTP on loopback (the receiver); the end-to-end ones
# additionally carry the ``collector`` marker.
pytestmark = pytest.mark.server

SERVICE = "support-selftest"
Protocol = Literal["grpc", "http"]


@dataclass
class SdkPipeline:
    """Plain SDK providers exporting all three signals to one collector."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider

    @classmethod
    def create(cls, protocol: Protocol, collector: RotelCollector) -> SdkPipeline:
        """Builds providers whose exporters talk ``protocol`` to ``collector``."""
        # A huge interval: metrics leave only when the test calls flush().
        interval_ms = 3_600_000
        if protocol == "grpc":
            endpoint = collector.grpc_endpoint
            spans = BatchSpanProcessor(GrpcSpanExporter(endpoint, insecure=True, timeout=5))
            reader = PeriodicExportingMetricReader(
                GrpcMetricExporter(endpoint, insecure=True, timeout=5), interval_ms
            )
            logs = BatchLogRecordProcessor(GrpcLogExporter(endpoint, insecure=True, timeout=5))
        else:
            spans = BatchSpanProcessor(HttpSpanExporter(collector.http_url("traces"), timeout=5))
            reader = PeriodicExportingMetricReader(
                HttpMetricExporter(collector.http_url("metrics"), timeout=5), interval_ms
            )
            logs = BatchLogRecordProcessor(HttpLogExporter(collector.http_url("logs"), timeout=5))
        resource = Resource.create({"service.name": SERVICE})
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(spans)
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(logs)
        return cls(tracer_provider, meter_provider, logger_provider)

    def flush(self) -> None:
        """Pushes everything buffered in the SDK towards the collector."""
        # The return values are deliberately ignored: they can be True even
        # when the export failed. Tests wait on the receiver instead.
        self.tracer_provider.force_flush()
        self.meter_provider.force_flush()
        self.logger_provider.force_flush()

    def shutdown(self) -> None:
        """Stops the SDK's export threads and closes its connections."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        self.logger_provider.shutdown()


@pytest.fixture(params=["grpc", "http"])
def sdk(request: pytest.FixtureRequest, rotel_collector: RotelCollector) -> Iterator[SdkPipeline]:
    """SDK providers exporting to the collector over OTLP/gRPC or OTLP/HTTP."""
    pipeline = SdkPipeline.create(request.param, rotel_collector)
    try:
        yield pipeline
    finally:
        pipeline.shutdown()


def _post(
    url: str, body: bytes, content_type: str = "application/x-protobuf", encoding: str = ""
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:  # Closing it avoids a ResourceWarning for its socket.
            return error.code, dict(error.headers), error.read()


def _span_request(name: str) -> bytes:
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=ResourceProto(
                    attributes=[KeyValue(key="service.name", value=AnyValue(string_value=SERVICE))]
                ),
                scope_spans=[
                    ScopeSpans(spans=[Span(name=name, trace_id=b"\x01" * 16, span_id=b"\x02" * 8)])
                ],
            )
        ]
    )
    return request.SerializeToString()


# --------------------------------------------------------------------- end to end


@pytest.mark.collector
def test_all_signals_arrive_decoded_through_the_collector(
    sdk: SdkPipeline, otlp_receiver: OtlpReceiver
) -> None:
    tracer = sdk.tracer_provider.get_tracer("selftest.tracer")
    meter = sdk.meter_provider.get_meter("selftest.meter")
    logger = sdk.logger_provider.get_logger("selftest.logger")

    parent_attributes = {"http.route": "/orders", "tags": ["a", "b"]}
    with (
        tracer.start_as_current_span("parent", kind=SpanKind.SERVER, attributes=parent_attributes),
        tracer.start_as_current_span("child") as child,
    ):
        child.add_event("cache.miss", {"key": "k1"})
        child.set_status(StatusCode.ERROR, "boom")
        # Emitted inside "child", so the record carries its trace context.
        logger.emit(
            body="order rejected",
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            attributes={"order.id": 42, "reasons": ["stock", "credit"]},
            event_name="selftest.order_rejected",
        )
    counter = meter.create_counter("selftest.requests", unit="{request}")
    counter.add(2, {"route": "/orders"})
    counter.add(1, {"route": "/orders"})
    histogram = meter.create_histogram(
        "selftest.duration", unit="ms", explicit_bucket_boundaries_advisory=[10.0, 100.0]
    )
    histogram.record(5.0)
    histogram.record(50.0)
    sdk.flush()

    otlp_receiver.wait_for(
        lambda r: (
            len(r.spans()) == 2
            and r.metrics("selftest.requests")
            and r.metrics("selftest.duration")
            and r.logs("order rejected")
        ),
        timeout=5.0,
    )

    parent = otlp_receiver.spans("parent")[0]
    child_span = otlp_receiver.spans("child")[0]
    assert parent.resource_attributes["service.name"] == SERVICE
    assert parent.scope_name == "selftest.tracer"
    assert parent.kind == "server"
    assert parent.parent_span_id == ""
    assert parent.attributes == {"http.route": "/orders", "tags": ["a", "b"]}
    assert child_span.trace_id == parent.trace_id
    assert child_span.parent_span_id == parent.span_id
    assert child_span.status_code == "error"
    assert child_span.status_message == "boom"
    assert [(e.name, e.attributes) for e in child_span.events] == [("cache.miss", {"key": "k1"})]

    requests = otlp_receiver.wait_for_metric("selftest.requests")
    assert requests.resource_attributes["service.name"] == SERVICE
    assert (requests.kind, requests.value, requests.unit) == ("sum", 3, "{request}")
    assert requests.is_monotonic is True
    assert requests.temporality == "cumulative"  # The SDK default; rotel keeps it.
    assert requests.attributes == {"route": "/orders"}

    duration = otlp_receiver.wait_for_metric("selftest.duration")
    assert duration.resource_attributes["service.name"] == SERVICE
    assert duration.kind == "histogram"
    assert (duration.count, duration.sum, duration.min, duration.max) == (2, 55.0, 5.0, 50.0)
    assert duration.explicit_bounds == (10.0, 100.0)
    assert duration.bucket_counts == (1, 1, 0)

    record = otlp_receiver.logs("order rejected")[0]
    assert record.resource_attributes["service.name"] == SERVICE
    assert (record.severity_text, record.severity_number) == ("WARN", 13)
    assert record.attributes == {"order.id": 42, "reasons": ["stock", "credit"]}
    assert record.event_name == "selftest.order_rejected"
    assert (record.trace_id, record.span_id) == (child_span.trace_id, child_span.span_id)
    assert record.scope_name == "selftest.logger"

    # rotel re-encodes and gzips everything it forwards.
    assert {entry.content_encoding for entry in otlp_receiver.request_log} == {"gzip"}
    assert all(entry.user_agent.startswith("Rotel") for entry in otlp_receiver.request_log)


@pytest.mark.collector
def test_collector_restarts_on_the_same_ports(
    sdk: SdkPipeline, rotel_collector: RotelCollector, otlp_receiver: OtlpReceiver
) -> None:
    tracer = sdk.tracer_provider.get_tracer("selftest.tracer")
    endpoints = (rotel_collector.grpc_endpoint, rotel_collector.http_endpoint)

    with tracer.start_as_current_span("before-outage"):
        pass
    sdk.flush()
    otlp_receiver.wait_for_span("before-outage", timeout=5.0)

    assert rotel_collector.stop() == 0  # Graceful: exit status 0.
    assert rotel_collector.pid is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", rotel_collector.grpc_port), timeout=1).close()

    rotel_collector.start()
    assert rotel_collector.running
    assert (rotel_collector.grpc_endpoint, rotel_collector.http_endpoint) == endpoints

    # The same exporters (and, for gRPC, the same channel) reconnect by themselves.
    with tracer.start_as_current_span("after-restart"):
        pass
    sdk.flush()
    otlp_receiver.wait_for_span("after-restart", timeout=5.0)
    # rotel writes its start-up line on its own schedule: on a loaded machine it
    # can come after the first span went through.
    deadline = time.monotonic() + 10.0
    while rotel_collector.log_text().count("Starting Rotel.") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rotel_collector.log_text().count("Starting Rotel.") == 2


@pytest.mark.collector
def test_collector_retries_while_the_receiver_refuses(
    sdk: SdkPipeline, otlp_receiver: OtlpReceiver
) -> None:
    otlp_receiver.status = 503
    with sdk.tracer_provider.get_tracer("selftest.tracer").start_as_current_span("delayed"):
        pass
    sdk.flush()

    otlp_receiver.wait_for(
        lambda r: sum(entry.status == 503 for entry in r.request_log) >= 2, timeout=5.0
    )
    assert otlp_receiver.spans() == []  # Refused exports are not stored.

    otlp_receiver.status = 200
    span = otlp_receiver.wait_for_span("delayed", timeout=5.0)
    assert span.resource_attributes["service.name"] == SERVICE


@pytest.mark.collector
def test_restart_reports_a_taken_port_with_the_agent_log(
    rotel_collector: RotelCollector,
) -> None:
    rotel_collector.stop()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", rotel_collector.http_port))
        squatter.listen()
        with pytest.raises(RotelStartError, match="Address already in use"):
            rotel_collector.start()
    assert rotel_collector.pid is None

    rotel_collector.start()  # Free again: the same ports work.
    assert rotel_collector.running


# --------------------------------------------------------------------- receiver only


def _identity(data: bytes) -> bytes:
    return data


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("", _identity), ("gzip", gzip.compress), ("deflate", zlib.compress)],
    ids=["identity", "gzip", "deflate"],
)
def test_receiver_decodes_protobuf_with_any_encoding(
    otlp_receiver: OtlpReceiver, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    payload = compress(_span_request("direct"))

    status, headers, response = _post(otlp_receiver.url("traces"), payload, encoding=encoding)

    assert status == 200
    assert headers["Content-Type"] == "application/x-protobuf"
    assert response == b""  # An empty ExportTraceServiceResponse.
    span = otlp_receiver.spans("direct")[0]
    assert (span.trace_id, span.span_id) == ("01" * 16, "02" * 8)
    assert otlp_receiver.request_log[0].content_encoding == encoding


def test_receiver_rejects_what_it_cannot_decode(otlp_receiver: OtlpReceiver) -> None:
    assert _post(otlp_receiver.url("traces"), b"\xff\xff\xff")[0] == 400
    assert _post(otlp_receiver.url("logs"), b"{}", content_type="application/json")[0] == 415
    assert _post(otlp_receiver.url("metrics"), b"x", encoding="br")[0] == 400
    assert _post(f"{otlp_receiver.endpoint}/v1/profiles", b"")[0] == 404
    assert [entry.status for entry in otlp_receiver.request_log] == [400, 415, 400, 404]
    assert otlp_receiver.spans() == []
    assert otlp_receiver.logs() == []
    assert "by status {400: 2, 415: 1, 404: 1}" in otlp_receiver.summary()


def test_receiver_can_refuse_clear_and_restart(otlp_receiver: OtlpReceiver) -> None:
    otlp_receiver.status = 503
    otlp_receiver.retry_after = 1
    status, headers, _ = _post(otlp_receiver.url("traces"), _span_request("refused"))
    assert (status, headers["Retry-After"]) == (503, "1")
    assert otlp_receiver.spans() == []

    otlp_receiver.status = 200
    port = otlp_receiver.port
    otlp_receiver.stop()
    otlp_receiver.start()
    assert otlp_receiver.port == port
    assert _post(otlp_receiver.url("traces"), _span_request("accepted"))[0] == 200
    assert [span.name for span in otlp_receiver.spans()] == ["accepted"]

    otlp_receiver.clear()
    assert otlp_receiver.spans() == []
    assert otlp_receiver.request_log == []


def test_wait_for_times_out_with_a_summary(otlp_receiver: OtlpReceiver) -> None:
    _post(otlp_receiver.url("traces"), _span_request("unrelated"))

    with pytest.raises(AssertionError, match=r"(?s)within 0\.1s.*spans \(1\): \[unrelated\]"):
        otlp_receiver.wait_for(lambda r: r.spans("expected"), timeout=0.1)
