"""OpenTelemetry names as Prometheus sees them, derived from the semconv module.

The translation is the one in the OpenTelemetry specification's Prometheus
compatibility section, as the SDK's Prometheus reader and the collector apply
it: characters other than ``[a-zA-Z0-9:]`` become ``_``, the unit becomes a
suffix (``s`` -> ``_seconds``, ``By`` -> ``_bytes``, ``1`` and ``{...}`` are
dropped), counters end in ``_total`` and histograms have ``_bucket``, ``_sum``
and ``_count`` series. A test scrapes the real reader and compares, so a query
here cannot drift from what is emitted.
"""

from __future__ import annotations

import re
from typing import Final

from watchkit._internal import semconv

_NAME_CHARS = re.compile(r"[^a-zA-Z0-9:]+")
_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9]+")
_ANNOTATION = re.compile(r"{.*}")
_UNITS: Final = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "By": "bytes",
    "1": "",
    "%": "percent",
}


def _unit(unit: str) -> str:
    unit = _ANNOTATION.sub("", unit)
    if unit in _UNITS:
        return _UNITS[unit]
    return _NAME_CHARS.sub("_", unit).strip("_")


def _base(name: str, unit: str) -> str:
    base = _NAME_CHARS.sub("_", name)
    suffix = _unit(unit)
    if suffix and not base.endswith(f"_{suffix}"):
        base = f"{base}_{suffix}"
    return base


def label(attribute: str) -> str:
    """The Prometheus label of an attribute key (``http.route`` -> ``http_route``)."""
    return _LABEL_CHARS.sub("_", attribute)


def histogram(name: str, unit: str) -> str:
    """The series prefix of a histogram; add ``_bucket``, ``_sum`` or ``_count``."""
    return _base(name, unit)


def counter(name: str, unit: str) -> str:
    """The series name of a monotonic counter (``..._total``)."""
    base = _base(name, unit)
    return base if base.endswith("_total") else f"{base}_total"


def gauge(name: str, unit: str) -> str:
    """The series name of a gauge or an up-down counter."""
    return _base(name, unit)


def user_metric(name: str, instrument: str, unit: str) -> tuple[str, str]:
    """``(series, reading)`` of an application's metric, as :data:`THRESHOLD_METRICS` gives.

    ``instrument`` is what it was defined with (``counter``, ``up_down_counter``,
    ``gauge``, ``histogram``): an up-down counter is read as a gauge.
    """
    if instrument == "counter":
        return counter(name, unit), "counter"
    if instrument == "histogram":
        return histogram(name, unit), "histogram"
    return gauge(name, unit), "gauge"


def le_matcher(bound: float) -> str:
    """A ``le`` matcher that finds the bucket on Prometheus 2 and 3 alike.

    Prometheus 3 rewrites integral bounds to float form at ingestion (``"1"`` ->
    ``"1.0"``) while Prometheus 2 keeps what the exporter wrote, so an exact
    matcher for a whole number misses on one of them: match both spellings.
    ``[.]`` rather than ``\\.`` survives being embedded in YAML and JSON.
    """
    text = repr(float(bound))
    if text.endswith(".0"):
        return f'le=~"{text[:-2]}|{text[:-2]}[.]0"'
    return f'le="{text}"'


HTTP_DURATION: Final = histogram(semconv.HTTP_SERVER_REQUEST_DURATION, semconv.UNIT_SECONDS)
FLOW_DURATION: Final = histogram(semconv.FLOW_DURATION, semconv.UNIT_SECONDS)
DB_DURATION: Final = histogram(semconv.DB_CLIENT_OPERATION_DURATION, semconv.UNIT_SECONDS)
HTTP_CLIENT_DURATION: Final = histogram(
    semconv.HTTP_CLIENT_REQUEST_DURATION_METRIC, semconv.UNIT_SECONDS
)
SECURITY_ALERTS: Final = counter(semconv.SECURITY_ALERTS, semconv.SECURITY_ALERTS_UNIT)
SECURITY_LOGIN_ATTEMPTS: Final = counter(
    semconv.SECURITY_LOGIN_ATTEMPTS, semconv.SECURITY_LOGIN_ATTEMPTS_UNIT
)
CPU_UTILIZATION: Final = gauge(semconv.PROCESS_CPU_UTILIZATION, semconv.UNIT_RATIO)
MEMORY_USAGE: Final = gauge(semconv.PROCESS_MEMORY_USAGE, semconv.UNIT_BYTES)
FILESYSTEM_USAGE: Final = gauge(semconv.SYSTEM_FILESYSTEM_USAGE, semconv.UNIT_BYTES)
FLOW_ACTIVE: Final = gauge(semconv.FLOW_ACTIVE, semconv.FLOW_ACTIVE_UNIT)
EVENTS: Final = counter(semconv.EVENTS, semconv.EVENTS_UNIT)
DEPENDENCY_DURATION: Final = histogram(semconv.WATCHKIT_DEPENDENCY_DURATION, semconv.UNIT_SECONDS)
CACHE_OPERATIONS: Final = counter(
    semconv.WATCHKIT_CACHE_OPERATIONS, semconv.WATCHKIT_CACHE_OPERATIONS_UNIT
)
CACHE_DURATION: Final = histogram(semconv.WATCHKIT_CACHE_OPERATION_DURATION, semconv.UNIT_SECONDS)
DB_CONNECTIONS: Final = gauge(semconv.DB_CLIENT_CONNECTION_COUNT, semconv.UNIT_CONNECTIONS)
SYSTEM_MEMORY_UTILIZATION: Final = gauge(semconv.SYSTEM_MEMORY_UTILIZATION, semconv.UNIT_RATIO)
HEALTH_STATUS: Final = gauge(semconv.HEALTH_CHECK_STATUS, semconv.UNIT_RATIO)
SYNTHETIC_RUNS: Final = counter(semconv.SYNTHETIC_RUNS, semconv.SYNTHETIC_RUNS_UNIT)
SYNTHETIC_DURATION: Final = histogram(semconv.SYNTHETIC_DURATION, semconv.UNIT_SECONDS)
QUEUE_DEPTH: Final = gauge(semconv.WATCHKIT_QUEUE_DEPTH, semconv.UNIT_MESSAGES)
QUEUE_WAIT: Final = histogram(semconv.WATCHKIT_QUEUE_WAIT_DURATION, semconv.UNIT_SECONDS)
QUEUE_JOBS: Final = counter(semconv.WATCHKIT_QUEUE_JOBS, semconv.UNIT_JOBS)
MESSAGING_PROCESS_DURATION: Final = histogram(
    semconv.MESSAGING_PROCESS_DURATION, semconv.UNIT_SECONDS
)
MESSAGING_SENT: Final = counter(semconv.MESSAGING_CLIENT_SENT_MESSAGES, semconv.UNIT_MESSAGES)
MESSAGING_CONSUMED: Final = counter(
    semconv.MESSAGING_CLIENT_CONSUMED_MESSAGES, semconv.UNIT_MESSAGES
)
USERS_ACTIVE: Final = gauge(semconv.USERS_ACTIVE, semconv.USERS_ACTIVE_UNIT)
SECURITY_STORE_ERRORS: Final = counter(
    semconv.SECURITY_STORE_ERRORS, semconv.SECURITY_STORE_ERRORS_UNIT
)

LABEL_SERVICE: Final = label(semconv.SERVICE_NAME)
LABEL_SERVICE_NAMESPACE: Final = label(semconv.SERVICE_NAMESPACE)
LABEL_ENVIRONMENT: Final = label(semconv.DEPLOYMENT_ENVIRONMENT_NAME)
LABEL_ROUTE: Final = label(semconv.HTTP_ROUTE)
LABEL_METHOD: Final = label(semconv.HTTP_REQUEST_METHOD)
LABEL_STATUS: Final = label(semconv.HTTP_RESPONSE_STATUS_CODE)
LABEL_ERROR_TYPE: Final = label(semconv.ERROR_TYPE)
LABEL_FLOW_NAME: Final = label(semconv.FLOW_NAME)
LABEL_FLOW_OUTCOME: Final = label(semconv.FLOW_OUTCOME)
LABEL_EVENT_NAME: Final = label(semconv.EVENT_NAME)
LABEL_DB_SYSTEM: Final = label(semconv.DB_SYSTEM_NAME)
LABEL_SERVER_ADDRESS: Final = label(semconv.SERVER_ADDRESS)
LABEL_ALERT_KIND: Final = label(semconv.SECURITY_ALERT_KIND)
LABEL_FS_STATE: Final = label(semconv.SYSTEM_FILESYSTEM_STATE)
LABEL_FS_MOUNTPOINT: Final = label(semconv.SYSTEM_FILESYSTEM_MOUNTPOINT)
LABEL_PEER_SERVICE: Final = label(semconv.SERVICE_PEER_NAME)
LABEL_DEPENDENCY_OUTCOME: Final = label(semconv.WATCHKIT_DEPENDENCY_OUTCOME)
LABEL_CACHE_NAME: Final = label(semconv.CACHE_NAME)
LABEL_CACHE_OPERATION: Final = label(semconv.CACHE_OPERATION)
LABEL_CACHE_RESULT: Final = label(semconv.CACHE_RESULT)
LABEL_DB_POOL: Final = label(semconv.DB_CLIENT_CONNECTION_POOL_NAME)
LABEL_DB_CONNECTION_STATE: Final = label(semconv.DB_CLIENT_CONNECTION_STATE)
LABEL_HEALTH_CHECK: Final = label(semconv.HEALTH_CHECK_NAME)
LABEL_HEALTH_KIND: Final = label(semconv.HEALTH_CHECK_KIND)
LABEL_JOURNEY: Final = label(semconv.SYNTHETIC_JOURNEY)
LABEL_SYNTHETIC_RESULT: Final = label(semconv.SYNTHETIC_RESULT)
LABEL_MEMORY_STATE: Final = label(semconv.SYSTEM_MEMORY_STATE)
LABEL_QUEUE: Final = label(semconv.MESSAGING_DESTINATION_NAME)
LABEL_JOB_NAME: Final = label(semconv.JOB_NAME)
LABEL_JOB_OUTCOME: Final = label(semconv.JOB_OUTCOME)
LABEL_LOGIN_OUTCOME: Final = label(semconv.SECURITY_OUTCOME)
LABEL_STORE_OPERATION: Final = label(semconv.SECURITY_STORE_OPERATION)
LABEL_USERS_PERIOD: Final = label(semconv.USERS_PERIOD)
LABEL_USERS_FEATURE: Final = label(semconv.USERS_FEATURE)

# What a `kind="metric"` threshold may watch: the OpenTelemetry name, its
# Prometheus series and how the threshold reads it (a gauge's value, a
# counter's rate per second, a histogram's quantile). A new metric family adds
# its rows here.
THRESHOLD_METRICS: Final[dict[str, tuple[str, str]]] = {
    semconv.HTTP_SERVER_REQUEST_DURATION: (HTTP_DURATION, "histogram"),
    semconv.FLOW_DURATION: (FLOW_DURATION, "histogram"),
    semconv.DB_CLIENT_OPERATION_DURATION: (DB_DURATION, "histogram"),
    semconv.HTTP_CLIENT_REQUEST_DURATION: (HTTP_CLIENT_DURATION, "histogram"),
    semconv.WATCHKIT_DEPENDENCY_DURATION: (DEPENDENCY_DURATION, "histogram"),
    semconv.WATCHKIT_CACHE_OPERATION_DURATION: (CACHE_DURATION, "histogram"),
    semconv.SYNTHETIC_DURATION: (SYNTHETIC_DURATION, "histogram"),
    semconv.WATCHKIT_QUEUE_WAIT_DURATION: (QUEUE_WAIT, "histogram"),
    semconv.MESSAGING_PROCESS_DURATION: (MESSAGING_PROCESS_DURATION, "histogram"),
    semconv.EVENTS: (EVENTS, "counter"),
    semconv.SECURITY_ALERTS: (SECURITY_ALERTS, "counter"),
    semconv.SECURITY_LOGIN_ATTEMPTS: (SECURITY_LOGIN_ATTEMPTS, "counter"),
    semconv.WATCHKIT_CACHE_OPERATIONS: (CACHE_OPERATIONS, "counter"),
    semconv.SYNTHETIC_RUNS: (SYNTHETIC_RUNS, "counter"),
    semconv.WATCHKIT_QUEUE_JOBS: (QUEUE_JOBS, "counter"),
    semconv.MESSAGING_CLIENT_SENT_MESSAGES: (MESSAGING_SENT, "counter"),
    semconv.MESSAGING_CLIENT_CONSUMED_MESSAGES: (MESSAGING_CONSUMED, "counter"),
    semconv.SECURITY_STORE_ERRORS: (SECURITY_STORE_ERRORS, "counter"),
    semconv.PROCESS_CPU_UTILIZATION: (CPU_UTILIZATION, "gauge"),
    semconv.PROCESS_MEMORY_USAGE: (MEMORY_USAGE, "gauge"),
    semconv.SYSTEM_MEMORY_UTILIZATION: (SYSTEM_MEMORY_UTILIZATION, "gauge"),
    semconv.SYSTEM_FILESYSTEM_USAGE: (FILESYSTEM_USAGE, "gauge"),
    semconv.FLOW_ACTIVE: (FLOW_ACTIVE, "gauge"),
    semconv.HEALTH_CHECK_STATUS: (HEALTH_STATUS, "gauge"),
    semconv.DB_CLIENT_CONNECTION_COUNT: (DB_CONNECTIONS, "gauge"),
    semconv.WATCHKIT_QUEUE_DEPTH: (QUEUE_DEPTH, "gauge"),
    semconv.USERS_ACTIVE: (USERS_ACTIVE, "gauge"),
}
