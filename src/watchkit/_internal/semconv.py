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
EXCEPTION_ESCAPED: Final = "exception.escaped"
# Not an OpenTelemetry name: watchkit's stable id of an error's origin (type and
# innermost application frames), on exception events and exception log records,
# so a backend can count recurring errors.
EXCEPTION_FINGERPRINT: Final = "exception.fingerprint"

# Logs and events.
EVENT_NAME: Final = "event.name"

# Metric-stream overflow marker (the attribute the OTel specification uses for
# the series that collects points beyond the cardinality limit).
OTEL_METRIC_OVERFLOW: Final = "otel.metric.overflow"

# Instrumentation scope under which watchkit's own telemetry is emitted.
SCOPE: Final = "watchkit"

# Flows, business metrics and events (issue 3). No semconv exists for business
# flows, so these live under watchkit's own namespace (REFERENCE 2.10).
FLOW_DURATION: Final = "watchkit.flow.duration"
"""Histogram, unit ``s``: one point per finished flow, by ``flow.name``, ``flow.outcome`` and
``error.type``.
"""
FLOW_ACTIVE: Final = "watchkit.flow.active"
"""Observable up-down counter, unit ``{flow}``: flows in progress, by ``flow.name``."""
FLOW_ACTIVE_UNIT: Final = "{flow}"
EVENTS: Final = "watchkit.events"
"""Counter, unit ``{event}``: business events emitted, by ``event.name``."""
EVENTS_UNIT: Final = "{event}"
FLOW_NAME: Final = "flow.name"
FLOW_OUTCOME: Final = "flow.outcome"
FLOW_OUTCOME_SUCCESS: Final = "success"
FLOW_OUTCOME_ERROR: Final = "error"
# Instrument names reserved for watchkit itself; users cannot define them.
RESERVED_METRIC_PREFIX: Final = "watchkit."

# HTTP server (docs/http/http-metrics.md, http-spans.md). Duration is stable;
# active requests and body sizes are development/opt-in in semconv.
HTTP_SERVER_REQUEST_DURATION: Final = "http.server.request.duration"
"""Histogram, unit ``s``: by ``http.request.method``, ``url.scheme``, ``http.route``,
``http.response.status_code``, ``network.protocol.version`` and ``error.type``.
"""
HTTP_SERVER_ACTIVE_REQUESTS: Final = "http.server.active_requests"
"""Observable up-down counter, unit ``{request}``: by ``http.request.method`` and ``url.scheme``."""
HTTP_SERVER_REQUEST_BODY_SIZE: Final = "http.server.request.body.size"
"""Histogram, unit ``By``: by ``http.request.method``, ``url.scheme``, ``http.route``,
``http.response.status_code``, ``network.protocol.version`` and ``error.type``.
"""
HTTP_SERVER_RESPONSE_BODY_SIZE: Final = "http.server.response.body.size"
"""Histogram, unit ``By``: by ``http.request.method``, ``url.scheme``, ``http.route``,
``http.response.status_code``, ``network.protocol.version`` and ``error.type``.
"""
UNIT_REQUESTS: Final = "{request}"
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_REQUEST_METHOD_ORIGINAL: Final = "http.request.method_original"
HTTP_METHOD_OTHER: Final = "_OTHER"
HTTP_ROUTE: Final = "http.route"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
RPC_RESPONSE_STATUS_CODE: Final = "rpc.response.status_code"
HTTP_REQUEST_HEADER_PREFIX: Final = "http.request.header."
HTTP_RESPONSE_HEADER_PREFIX: Final = "http.response.header."
URL_PATH: Final = "url.path"
URL_QUERY: Final = "url.query"
URL_SCHEME: Final = "url.scheme"
NETWORK_PROTOCOL_NAME: Final = "network.protocol.name"
NETWORK_PROTOCOL_VERSION: Final = "network.protocol.version"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
CLIENT_ADDRESS: Final = "client.address"
USER_AGENT_ORIGINAL: Final = "user_agent.original"
# Methods semconv calls known (RFC 9110, RFC 5789 PATCH, QUERY); anything else
# is recorded as _OTHER. OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS overrides.
HTTP_KNOWN_METHODS: Final[frozenset[str]] = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
# watchkit's own request attributes (no semconv exists).
WATCHKIT_REQUEST_ID: Final = "watchkit.request.id"
WATCHKIT_CLIENT_DISCONNECTED: Final = "watchkit.http.client_disconnected"
# Database client (docs/db/database-metrics.md, database-spans.md). The duration
# metric is stable; pool metrics are development. Buckets: the semconv set plus
# 0.3, the critical latency our users alert on, so that ratio is exact.
DB_CLIENT_OPERATION_DURATION: Final = "db.client.operation.duration"
"""Histogram, unit ``s``: by ``db.system.name``, ``db.namespace``, ``server.address``,
``server.port``, ``db.operation.name``, ``db.collection.name`` and ``error.type``.
"""
DB_DURATION_BUCKETS: Final[tuple[float, ...]] = (
    0.001, 0.005, 0.01, 0.05, 0.1, 0.3, 0.5, 1.0, 5.0, 10.0,
)  # fmt: skip
DB_CLIENT_CONNECTION_COUNT: Final = "db.client.connection.count"
"""Observable up-down counter, unit ``{connection}``: by ``db.client.connection.pool.name`` and
``db.client.connection.state``.
"""
DB_CLIENT_CONNECTION_MAX: Final = "db.client.connection.max"
"""Observable up-down counter, unit ``{connection}``: by ``db.client.connection.pool.name``."""
DB_CLIENT_CONNECTION_PENDING_REQUESTS: Final = "db.client.connection.pending_requests"
"""Observable up-down counter, unit ``{request}``: by ``db.client.connection.pool.name``."""
DB_CLIENT_CONNECTION_WAIT_TIME: Final = "db.client.connection.wait_time"
"""Histogram, unit ``s``: by ``db.client.connection.pool.name``."""
DB_CLIENT_CONNECTION_TIMEOUTS: Final = "db.client.connection.timeouts"
"""Counter, unit ``{timeout}``: by ``db.client.connection.pool.name``."""
UNIT_CONNECTIONS: Final = "{connection}"
UNIT_TIMEOUTS: Final = "{timeout}"
DB_SYSTEM_NAME: Final = "db.system.name"
DB_NAMESPACE: Final = "db.namespace"
DB_OPERATION_NAME: Final = "db.operation.name"
DB_OPERATION_BATCH_SIZE: Final = "db.operation.batch.size"
DB_COLLECTION_NAME: Final = "db.collection.name"
DB_QUERY_SUMMARY: Final = "db.query.summary"
DB_QUERY_TEXT: Final = "db.query.text"
DB_CLIENT_CONNECTION_STATE: Final = "db.client.connection.state"
DB_CLIENT_CONNECTION_POOL_NAME: Final = "db.client.connection.pool.name"
DB_CONNECTION_STATE_USED: Final = "used"
DB_CONNECTION_STATE_IDLE: Final = "idle"
DB_SYSTEM_OTHER_SQL: Final = "other_sql"
# Code location of the caller of a slow query (semconv code.* attributes).
CODE_FILE_PATH: Final = "code.file.path"
CODE_LINE_NUMBER: Final = "code.line.number"
CODE_FUNCTION_NAME: Final = "code.function.name"
# watchkit's own database signals (no semconv exists for slow queries or N+1).
WATCHKIT_DB_SLOW: Final = "watchkit.db.slow"
WATCHKIT_DB_N_PLUS_ONE_EVENT: Final = "watchkit.db.n_plus_one"
"""Span event and log line: one query shape repeated in one span (N+1 suspicion)."""
WATCHKIT_DB_SLOW_QUERY_EVENT: Final = "watchkit.db.slow_query"
"""Log line: one query above its slow-query threshold."""
WATCHKIT_DB_QUERY_COUNT: Final = "watchkit.db.query.count"
WATCHKIT_DB_QUERY_DURATION_TOTAL: Final = "watchkit.db.query.duration_total"
# Process and runtime (docs/system/process-metrics.md: release candidate;
# docs/runtime/cpython-metrics.md: development). process.open_file_descriptor.count
# is deprecated in favour of process.unix.file_descriptor.count.
PROCESS_CPU_TIME: Final = "process.cpu.time"
"""Observable counter, unit ``s``: by ``cpu.mode``."""
PROCESS_CPU_UTILIZATION: Final = "process.cpu.utilization"
"""Observable gauge, unit ``1``: by ``cpu.mode``."""
PROCESS_MEMORY_USAGE: Final = "process.memory.usage"
PROCESS_MEMORY_VIRTUAL: Final = "process.memory.virtual"
PROCESS_UNIX_FILE_DESCRIPTOR_COUNT: Final = "process.unix.file_descriptor.count"
PROCESS_THREAD_COUNT: Final = "process.thread.count"
PROCESS_UPTIME: Final = "process.uptime"
CPYTHON_GC_COLLECTIONS: Final = "cpython.gc.collections"
"""Observable counter, unit ``{collection}``: by ``cpython.gc.generation``."""
CPYTHON_GC_COLLECTED_OBJECTS: Final = "cpython.gc.collected_objects"
"""Observable counter, unit ``{object}``: by ``cpython.gc.generation``."""
CPYTHON_GC_UNCOLLECTABLE_OBJECTS: Final = "cpython.gc.uncollectable_objects"
"""Observable counter, unit ``{object}``: by ``cpython.gc.generation``."""
CPYTHON_GC_GENERATION: Final = "cpython.gc.generation"
CPU_MODE: Final = "cpu.mode"
SYSTEM_CPU_UTILIZATION: Final = "system.cpu.utilization"
"""Observable gauge, unit ``1``: by ``cpu.mode``."""
SYSTEM_MEMORY_UTILIZATION: Final = "system.memory.utilization"
"""Observable gauge, unit ``1``: by ``system.memory.state``."""
SYSTEM_MEMORY_STATE: Final = "system.memory.state"
SYSTEM_FILESYSTEM_USAGE: Final = "system.filesystem.usage"
"""Observable up-down counter, unit ``By``: by ``system.filesystem.mountpoint`` and
``system.filesystem.state``.
"""
SYSTEM_FILESYSTEM_UTILIZATION: Final = "system.filesystem.utilization"
"""Observable gauge, unit ``1``: by ``system.filesystem.mountpoint`` and
``system.filesystem.state``.
"""
SYSTEM_FILESYSTEM_MOUNTPOINT: Final = "system.filesystem.mountpoint"
SYSTEM_FILESYSTEM_STATE: Final = "system.filesystem.state"
# No semconv exists for event-loop lag.
WATCHKIT_RUNTIME_EVENT_LOOP_LAG: Final = "watchkit.runtime.event_loop.lag"
# HTTP client (docs/http/http-metrics.md: stable) and the logical name of the
# service called (service.peer.name, development; replaces peer.service).
HTTP_CLIENT_REQUEST_DURATION: Final = "http.client.request.duration"
"""Histogram, unit ``s``: by ``http.request.method``, ``server.address``, ``server.port``,
``service.peer.name``, ``http.response.status_code`` and ``error.type``.
"""
SERVICE_PEER_NAME: Final = "service.peer.name"
# Calls to external dependencies through any SDK (watchkit's own; no semconv exists).
WATCHKIT_DEPENDENCY_DURATION: Final = "watchkit.dependency.duration"
"""Histogram, unit ``s``: by ``service.peer.name``, ``watchkit.dependency.outcome`` and
``error.type``.
"""
WATCHKIT_DEPENDENCY_OUTCOME: Final = "watchkit.dependency.outcome"
# Caches (watchkit's own; no semconv exists for cache hit and miss). Keys are
# never attributes. Buckets start at 0.5 ms: in-process and Redis lookups are fast.
WATCHKIT_CACHE_OPERATIONS: Final = "watchkit.cache.operations"
"""Counter, unit ``{operation}``: by ``cache.name``, ``cache.operation`` and ``cache.result``."""
WATCHKIT_CACHE_OPERATION_DURATION: Final = "watchkit.cache.operation.duration"
"""Histogram, unit ``s``: by ``cache.name``, ``cache.operation`` and ``cache.result``."""
CACHE_DURATION_BUCKETS: Final[tuple[float, ...]] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip
CACHE_NAME: Final = "cache.name"
CACHE_OPERATION: Final = "cache.operation"
CACHE_RESULT: Final = "cache.result"
CACHE_SERVER: Final = "cache.server"
WATCHKIT_CACHE_REDIS_KEYSPACE_HITS: Final = "watchkit.cache.redis.keyspace_hits"
"""Observable counter, unit ``{key}``: key lookups that hit (Redis ``INFO stats``), by
``cache.server``.
"""
WATCHKIT_CACHE_REDIS_KEYSPACE_MISSES: Final = "watchkit.cache.redis.keyspace_misses"
"""Observable counter, unit ``{key}``: key lookups that missed (Redis ``INFO stats``), by
``cache.server``.
"""
WATCHKIT_CACHE_REDIS_EVICTED_KEYS: Final = "watchkit.cache.redis.evicted_keys"
"""Observable counter, unit ``{key}``: keys evicted for memory (Redis ``INFO stats``), by
``cache.server``.
"""
# Security signals (issue 4; no semconv exists, REFERENCE 2.10).
SECURITY_LOGIN_ATTEMPTS: Final = "watchkit.security.login.attempts"
"""Counter, unit ``{attempt}``: by ``outcome``."""
SECURITY_ALERTS: Final = "watchkit.security.alerts"
"""Counter, unit ``{alert}``: by ``kind``."""
SECURITY_OUTCOME: Final = "outcome"
SECURITY_ALERT_KIND: Final = "kind"
SECURITY_BRUTE_FORCE_EVENT: Final = "security.brute_force_suspected"
SECURITY_KEY_KIND: Final = "security.key.kind"
SECURITY_FAILURES: Final = "security.failures"
SECURITY_WINDOW: Final = "security.window"
# Shared login store (Redis) failures: fail open or closed, never an exception.
SECURITY_STORE_ERRORS: Final = "watchkit.security.store.errors"
"""Counter, unit ``{error}``: operations on a shared login or active-user store that failed (the
store was skipped), by ``operation`` and ``error.type``.
"""
SECURITY_STORE_ERRORS_UNIT: Final = "{error}"
SECURITY_STORE_OPERATION: Final = "operation"
# A successful login from a network prefix or user agent not seen for the user.
SECURITY_UNFAMILIAR_LOGIN_EVENT: Final = "security.unfamiliar_login"
SECURITY_ALERT_KIND_UNFAMILIAR_LOGIN: Final = "unfamiliar_login"
SECURITY_NEW_NETWORK: Final = "security.new_network"
SECURITY_NEW_USER_AGENT: Final = "security.new_user_agent"
SECURITY_FIRST_SEEN: Final = "security.first_seen"
SECURITY_NETWORK_PREFIX: Final = "security.network.prefix"
SECURITY_PERIOD: Final = "security.period"
USER_NAME: Final = "user.name"
# Distinct users (daily/hourly/weekly active users), an observable gauge.
USERS_ACTIVE: Final = "watchkit.users.active"
"""Observable gauge, unit ``{user}``: distinct users seen in the current UTC hour, day or ISO
week, by ``period`` and ``feature``.
"""
USERS_ACTIVE_UNIT: Final = "{user}"
USERS_PERIOD: Final = "period"
USERS_FEATURE: Final = "feature"

# Audit records (watchkit's own; no semconv exists for audit trails).
AUDIT_ACTION: Final = "audit.action"
AUDIT_ACTOR: Final = "audit.actor"
AUDIT_OUTCOME: Final = "audit.outcome"
AUDIT_TARGET: Final = "audit.target"
AUDIT_TIME: Final = "audit.time"
AUDIT_STREAM: Final = "audit.stream"
AUDIT_SEQ: Final = "audit.seq"
AUDIT_PREV_HASH: Final = "audit.prev_hash"
AUDIT_HASH: Final = "audit.hash"
AUDIT_QUARANTINED: Final = "watchkit.audit.quarantined"
"""Counter, unit ``{record}``: records the collector rejected for good, by ``error.type``."""
# Set on a record whose call had bad arguments: what was wrong (the record is kept).
AUDIT_INVALID: Final = "audit.invalid"
# Log-context keys bound while a request is handled.
LOG_REQUEST_ID: Final = "request_id"
LOG_HTTP_ROUTE: Final = "http.route"

# Health checks (watchkit's own; no semconv exists). The status gauge is one
# series per check valued 1 pass / 0.5 warn / 0 fail rather than an OpenMetrics
# state set (three series per check, one of them 1): a third of the series,
# `min()` across instances gives the worst status, and `< 1` alerts on any
# degradation.
HEALTH_CHECK_STATUS: Final = "watchkit.health.check.status"
"""Gauge, unit ``1``: 1 pass, 0.5 warn, 0 fail, by ``health.check.name`` and
``health.check.kind``.
"""
HEALTH_CHECK_DURATION: Final = "watchkit.health.check.duration"
"""Histogram, unit ``s``: one point per check run, by ``health.check.name`` and
``health.check.status``.
"""
HEALTH_CHECK_NAME: Final = "health.check.name"
HEALTH_CHECK_KIND: Final = "health.check.kind"
HEALTH_CHECK_RESULT: Final = "health.check.status"
HEALTH_STATUS_VALUES: Final = {"pass": 1.0, "warn": 0.5, "fail": 0.0}
HEALTH_MEDIA_TYPE: Final = "application/health+json"

# Operations as code: the instruments the generated rules and dashboards query
# beyond the ones above, with the units they are emitted in (the Prometheus name
# depends on the unit). The HTTP-client duration is stable semconv;
# process and filesystem metrics follow the development system/process
# conventions, which the runtime metrics use.
# (PROCESS_*, SYSTEM_FILESYSTEM_* are defined once, with the runtime metrics above.)
HTTP_CLIENT_REQUEST_DURATION_METRIC: Final = HTTP_CLIENT_REQUEST_DURATION
UNIT_RATIO: Final = "1"
SECURITY_LOGIN_ATTEMPTS_UNIT: Final = "{attempt}"
SECURITY_ALERTS_UNIT: Final = "{alert}"
SECURITY_ALERT_KIND_BRUTE_FORCE: Final = "brute_force"
WATCHKIT_CACHE_OPERATIONS_UNIT: Final = "{operation}"
# Resource attributes a Prometheus pull endpoint copies onto every series, so
# dashboards built for OTLP data (which filter on them) work on scraped data too.
PROMOTED_RESOURCE_ATTRIBUTES: Final[tuple[str, ...]] = (
    SERVICE_NAME,
    SERVICE_NAMESPACE,
    DEPLOYMENT_ENVIRONMENT_NAME,
)
# Synthetic checks (watchkit's own metric names; `user_agent.synthetic.type` is
# the OpenTelemetry attribute, development status, values `bot` | `test`).
USER_AGENT_SYNTHETIC_TYPE: Final = "user_agent.synthetic.type"
SYNTHETIC_TYPE_TEST: Final = "test"
SYNTHETIC_USER_AGENT_PREFIX: Final = "watchkit-synthetic/"
SYNTHETIC_RUNS: Final = "watchkit.synthetic.runs"
"""Counter, unit ``{run}``: finished journey runs, by ``journey`` and ``result`` (from 0)."""
SYNTHETIC_RUNS_UNIT: Final = "{run}"
SYNTHETIC_DURATION: Final = "watchkit.synthetic.duration"
"""Histogram, unit ``s``: duration of a journey run, by ``journey`` and ``result``."""
SYNTHETIC_STEP_DURATION: Final = "watchkit.synthetic.step.duration"
"""Histogram, unit ``s``: duration of one step, by ``journey``, ``step`` and ``result``."""
SYNTHETIC_JOURNEY: Final = "journey"
SYNTHETIC_STEP: Final = "step"
SYNTHETIC_RESULT: Final = "result"

# Messaging (docs/messaging/messaging-metrics.md, messaging-spans.md; development
# status: the names may still change upstream, and watchkit follows them when
# they do). `messaging.operation.type` uses the current values (`send`, not the
# deprecated `publish`).
MESSAGING_CLIENT_SENT_MESSAGES: Final = "messaging.client.sent.messages"
MESSAGING_CLIENT_CONSUMED_MESSAGES: Final = "messaging.client.consumed.messages"
MESSAGING_PROCESS_DURATION: Final = "messaging.process.duration"
UNIT_MESSAGES: Final = "{message}"
MESSAGING_SYSTEM: Final = "messaging.system"
MESSAGING_DESTINATION_NAME: Final = "messaging.destination.name"
MESSAGING_OPERATION_NAME: Final = "messaging.operation.name"
MESSAGING_OPERATION_TYPE: Final = "messaging.operation.type"
MESSAGING_MESSAGE_ID: Final = "messaging.message.id"
MESSAGING_OPERATION_SEND: Final = "send"
MESSAGING_OPERATION_PROCESS: Final = "process"
# Background jobs routinely run longer than the 10 s the semconv set ends at: the
# semconv buckets, then 30 s to 15 min, so a slow job is not one "> 10 s" bucket.
MESSAGING_PROCESS_DURATION_BUCKETS: Final[tuple[float, ...]] = (
    *SEMCONV_DURATION_BUCKETS, 30.0, 60.0, 300.0, 900.0,
)  # fmt: skip
# watchkit's own queue signals (semconv has nothing for wait time, depth, job
# outcomes, retries or dead letters).
WATCHKIT_QUEUE_WAIT_DURATION: Final = "watchkit.queue.wait.duration"
"""Histogram, unit ``s``: enqueue to start of processing, by system, destination, job."""
# Runtime-shaped buckets clip a queue wait at 10 s, so a 15 s blip and a
# 30-minute outage look the same (celery-exporter PR #386): 50 ms to 30 min.
QUEUE_WAIT_BUCKETS: Final[tuple[float, ...]] = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
)  # fmt: skip
WATCHKIT_QUEUE_JOBS: Final = "watchkit.queue.jobs"
"""Counter, unit ``{job}``: finished deliveries, by system, destination, job name and outcome."""
UNIT_JOBS: Final = "{job}"
WATCHKIT_QUEUE_DEPTH: Final = "watchkit.queue.depth"
"""Observable gauge, unit ``{message}``: messages waiting, by system and destination."""
JOB_NAME: Final = "job.name"
JOB_OUTCOME: Final = "job.outcome"
JOB_OUTCOME_SUCCESS: Final = "success"
JOB_OUTCOME_FAILURE: Final = "failure"
JOB_OUTCOME_RETRY: Final = "retry"
JOB_OUTCOME_REVOKED: Final = "revoked"
JOB_OUTCOME_DEAD_LETTERED: Final = "dead_lettered"
MESSAGING_SYSTEM_CELERY: Final = "celery"
MESSAGING_SYSTEM_REDIS: Final = "redis"
# The message header carrying the enqueue time (Unix seconds, as a string).
QUEUE_ENQUEUED_AT_HEADER: Final = "watchkit-enqueued-at"
# Log-context keys bound while a message (or a Celery task) is processed.
LOG_QUEUE: Final = "queue"
LOG_MESSAGE_ID: Final = "message_id"
LOG_JOB_NAME: Final = "job_name"
LOG_TASK_ID: Final = "task_id"
LOG_TASK_NAME: Final = "task_name"
