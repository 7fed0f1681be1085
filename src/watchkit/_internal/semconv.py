"""Every metric name, unit, bucket list and attribute key watchkit uses, in one place.

Names follow the OpenTelemetry semantic conventions (stable HTTP, database and
error conventions; development messaging conventions) so that existing
dashboards keep working. Names watchkit invents live under ``watchkit.*`` and
never squat on a semconv namespace.
"""

from __future__ import annotations

from typing import Final

# Advisory bucket boundaries for duration histograms, in seconds. The SDK's
# defaults (0 ... 10000) assume milliseconds, so a seconds histogram left on them
# puts nearly every request in the first bucket (opentelemetry-python#4527).
# This is the semconv HTTP set plus 0.2 and 0.3, the warning and critical latency
# thresholds our users alert on, so those ratios are exact rather than interpolated.
SEMCONV_DURATION_BUCKETS: Final[tuple[float, ...]] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
DEFAULT_DURATION_BUCKETS: Final[tuple[float, ...]] = tuple(
    sorted({*SEMCONV_DURATION_BUCKETS, 0.2, 0.3})
)

# Units (UCUM).
UNIT_SECONDS: Final = "s"
UNIT_BYTES: Final = "By"

# Resource attributes (stable).
SERVICE_NAME: Final = "service.name"
SERVICE_VERSION: Final = "service.version"
SERVICE_NAMESPACE: Final = "service.namespace"
SERVICE_INSTANCE_ID: Final = "service.instance.id"
DEPLOYMENT_ENVIRONMENT_NAME: Final = "deployment.environment.name"
HOST_NAME: Final = "host.name"
PROCESS_PID: Final = "process.pid"
TELEMETRY_SDK_NAME: Final = "telemetry.sdk.name"
TELEMETRY_SDK_LANGUAGE: Final = "telemetry.sdk.language"
TELEMETRY_SDK_VERSION: Final = "telemetry.sdk.version"
TELEMETRY_DISTRO_NAME: Final = "telemetry.distro.name"
TELEMETRY_DISTRO_VERSION: Final = "telemetry.distro.version"

# Errors (stable).
ERROR_TYPE: Final = "error.type"
ERROR_TYPE_OTHER: Final = "_OTHER"
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"

# Logs and events.
EVENT_NAME: Final = "event.name"

# Metric-stream overflow marker (the attribute the OTel specification uses for
# the series that collects points beyond the cardinality limit).
OTEL_METRIC_OVERFLOW: Final = "otel.metric.overflow"

# Instrumentation scope under which watchkit's own telemetry is emitted.
SCOPE: Final = "watchkit"
