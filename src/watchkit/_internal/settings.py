"""Settings: every configure() parameter, its environment variables and default, in one place.

Precedence is always: keyword parameter > environment variable > default. For
the OTLP exporter options a signal-specific variable (for example
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) wins over the generic one, as the
OpenTelemetry specification says. Every invalid value raises
:class:`~watchkit.ConfigError` naming where it came from and what is accepted.

``OPTIONS`` is the reference table; ``docs/configuration.md`` is tested against it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal, TypeVar
from urllib.parse import unquote, urlsplit

from watchkit._exceptions import ConfigError
from watchkit._internal import semconv
from watchkit._internal.semconv import DEFAULT_DURATION_BUCKETS

__all__ = [
    "OPTIONS",
    "SIGNALS",
    "ExporterKind",
    "Option",
    "OtlpSettings",
    "Protocol",
    "Settings",
    "Signal",
    "parse_key_values",
    "resolve",
    "resolve_or_defaults",
]

Signal = Literal["traces", "metrics", "logs"]
Protocol = Literal["grpc", "http/protobuf"]
ExporterKind = Literal["otlp", "console", "none"]
Compression = Literal["gzip", "none"]
LogFormat = Literal["json", "console", "auto"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]

# Load-balancer and orchestrator probes and Prometheus scrapes hit these every
# few seconds per pod; as requests they would swamp the service's RED metrics.
DEFAULT_EXCLUDED_URLS: tuple[str, ...] = (
    r"^/(health|healthz|healthcheck|livez|readyz|ready|live|ping|metrics)/?$",
)

SIGNALS: tuple[Signal, ...] = ("traces", "metrics", "logs")
_PROTOCOLS: tuple[Protocol, ...] = ("grpc", "http/protobuf")
_EXPORTERS: tuple[ExporterKind, ...] = ("otlp", "console", "none")
_COMPRESSIONS: tuple[Compression, ...] = ("gzip", "none")
_LOG_FORMATS: tuple[LogFormat, ...] = ("json", "console", "auto")
_LOG_LEVELS: tuple[LogLevel, ...] = ("debug", "info", "warning", "error", "critical")
_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
_DEFAULT_PORT: dict[Protocol, int] = {"grpc": 4317, "http/protobuf": 4318}
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


@dataclass(frozen=True)
class Option:
    """One row of the configuration reference."""

    parameter: str
    env: tuple[str, ...]
    default: str
    accepted: str
    description: str


OPTIONS: tuple[Option, ...] = (
    Option("service_name", ("OTEL_SERVICE_NAME",), "unknown_service", "any string",
           "`service.name` resource attribute; also read from `OTEL_RESOURCE_ATTRIBUTES`."),
    Option("service_version", (), "unset", "any string",
           "`service.version` resource attribute; also read from `OTEL_RESOURCE_ATTRIBUTES`."),
    Option("environment", (), "unset", "any string",
           "`deployment.environment.name` resource attribute; also read from "
           "`OTEL_RESOURCE_ATTRIBUTES`."),
    Option("resource_attributes", ("OTEL_RESOURCE_ATTRIBUTES",), "none",
           "mapping, or `key=value,key=value` (values percent-decoded)",
           "Extra resource attributes. Parameters above win over these."),
    Option("exporter", ("WATCHKIT_EXPORTER",), "`otlp` if an OTLP endpoint is set, else `console`",
           "`otlp`, `console`, `none`",
           "Where telemetry goes: an OTLP collector, human-readable lines on stderr, or nowhere."),
    Option("endpoint", ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT"),
           "`http://localhost:4318` (http/protobuf), `http://localhost:4317` (grpc)",
           "`http://` or `https://` URL",
           "Collector address. For http/protobuf the generic value and the parameter are base "
           "URLs (`/v1/traces` etc. is appended); a per-signal variable is used as it is."),
    Option("protocol", ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_{SIGNAL}_PROTOCOL"),
           "`http/protobuf`", "`grpc`, `http/protobuf`", "OTLP transport."),
    Option("headers", ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_{SIGNAL}_HEADERS"),
           "none", "mapping, or `key=value,key=value` (values percent-decoded); names must be "
           "HTTP tokens (sent lower-cased, as gRPC requires), values printable ASCII",
           "Headers sent with every export, e.g. an API key for a vendor's endpoint. Errors "
           "never show the values."),
    Option("timeout", ("OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_{SIGNAL}_TIMEOUT"),
           "10 s", "parameter: seconds > 0; variables: milliseconds > 0 (as the specification "
           "says; the plain Python SDK reads seconds)",
           "Deadline of one export, retries included."),
    Option("compression", ("OTEL_EXPORTER_OTLP_COMPRESSION",
                           "OTEL_EXPORTER_OTLP_{SIGNAL}_COMPRESSION"),
           "`none`", "`gzip`, `none`", "Compression of OTLP payloads."),
    Option("sample_ratio", ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"),
           "`parentbased_always_on`", "parameter: number in [0, 1]; variables: the "
           "specification's sampler names and a ratio argument",
           "Share of new traces recorded (a parent's decision is always followed). "
           "The parameter means `parentbased_traceidratio` with that ratio."),
    Option("disabled", ("OTEL_SDK_DISABLED",), "`false`", "`true`, `false`",
           "Switch watchkit off: no providers, no exporters, every API call is a cheap no-op."),
    Option("duration_buckets", ("WATCHKIT_DURATION_BUCKETS",),
           "0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.2, 0.25, 0.3, 0.5, 0.75, 1, 2.5, 5, 7.5, 10",
           "increasing positive numbers (seconds); variable: comma-separated",
           "Bucket boundaries of every duration histogram watchkit creates."),
    Option("metric_export_interval", ("OTEL_METRIC_EXPORT_INTERVAL",), "60 s",
           "parameter: seconds > 0; variable: milliseconds > 0",
           "How often metrics are exported (and the console summary printed)."),
    Option("shutdown_timeout", ("WATCHKIT_SHUTDOWN_TIMEOUT",), "5 s", "seconds > 0",
           "Longest time `shutdown()` and interpreter exit wait for the last export."),
    Option("cardinality_limit", ("WATCHKIT_CARDINALITY_LIMIT",), "2000", "whole number > 0",
           "Distinct attribute sets kept per instrument; further points go to one overflow "
           "series marked `otel.metric.overflow=true`."),
    Option("console_max_series", ("WATCHKIT_CONSOLE_MAX_SERIES",), "25", "whole number > 0",
           "Metric series the console exporter's summary prints, the application's metrics "
           "first, then watchkit's; one line counts the rest."),
    Option("prometheus_port", ("WATCHKIT_PROMETHEUS_PORT",), "unset (no endpoint)",
           "port 1-65535, or 0 for no server of its own",
           "Also serve metrics for Prometheus to scrape at `http://127.0.0.1:PORT/metrics` "
           "(extra `watchkit[prometheus]`); with 0, mount `watchkit.prometheus_wsgi_app` or "
           "`watchkit.prometheus_asgi_app` in your application instead. One process only."),
    Option("log_format", ("WATCHKIT_LOG_FORMAT",), "`auto`", "`json`, `console`, `auto`",
           "Log line format on stdout; `auto` is console on a terminal, JSON otherwise."),
    Option("log_level", ("WATCHKIT_LOG_LEVEL",), "`info`",
           "`debug`, `info`, `warning`, `error`, `critical`",
           "Lowest level written and exported (audit records are never filtered)."),
    Option("redact_keys", ("WATCHKIT_REDACT_KEYS",), "none",
           "names; variable: comma-separated",
           "Extra key names (case-insensitive) whose values are replaced by `[REDACTED]`, on top "
           "of the built-in list."),
    Option("redact_patterns", ("WATCHKIT_REDACT_PATTERNS",), "none",
           "regular expressions; variable: a JSON array of strings",
           "Extra value patterns replaced by `[REDACTED]` wherever they occur."),
    Option("excluded_urls", ("WATCHKIT_EXCLUDED_URLS",),
           "health endpoints: `/health`, `/healthz`, `/livez`, `/readyz`, `/ready`, `/live`, "
           "`/ping`", "regular expressions matched against the path; variable: comma-separated",
           "Requests whose path matches get no span and no request metrics."),
    Option("trusted_proxies", ("WATCHKIT_TRUSTED_PROXIES",), "none (the socket peer is the client)",
           "IP addresses or CIDR networks, or a number of proxy hops; variable: comma-separated, "
           "or a number",
           "Proxies whose `X-Forwarded-For` / `Forwarded` headers are believed for "
           "`client.address`; from any other peer the headers are ignored."),
    Option("audit_spool_dir", ("WATCHKIT_AUDIT_SPOOL_DIR",),
           "`$XDG_STATE_HOME/watchkit/audit/<service.name>` (`~/.local/state/...` when unset)",
           "a directory path (created if missing)",
           "Where audit records are spooled (JSON lines, fsync'd) until the collector has "
           "accepted them; use persistent storage and one directory per service."),
)  # fmt: skip


@dataclass(frozen=True)
class OtlpSettings:
    """Resolved OTLP exporter settings of one signal."""

    endpoint: str
    protocol: Protocol
    headers: tuple[tuple[str, str], ...]
    timeout: float
    compression: Compression


@dataclass(frozen=True)
class Settings:
    """Everything configure() resolved, immutable; compared to detect repeated calls."""

    disabled: bool
    exporter: ExporterKind
    resource_attributes: tuple[tuple[str, str], ...]
    otlp: tuple[tuple[Signal, OtlpSettings], ...]
    sampler: str
    sampler_ratio: float
    duration_buckets: tuple[float, ...]
    metric_export_interval: float
    shutdown_timeout: float
    cardinality_limit: int = 2000
    log_format: LogFormat = "auto"
    log_level: LogLevel = "info"
    redact_keys: tuple[str, ...] = ()
    redact_patterns: tuple[str, ...] = ()
    excluded_urls: tuple[str, ...] = DEFAULT_EXCLUDED_URLS
    trusted_proxies: tuple[str, ...] | int = ()
    """CIDR networks of trusted proxies, or the number of proxy hops."""
    audit_spool_dir: str | None = None
    """None: the default directory, derived from the service name when needed."""
    prometheus_port: int | None = None
    console_max_series: int = 25
    """None: no Prometheus endpoint; 0: a reader to mount, no server of its own."""

    def otlp_for(self, signal: Signal) -> OtlpSettings:
        """The OTLP settings of ``signal``."""
        return dict(self.otlp)[signal]


_T = TypeVar("_T")


class _Source:
    """Where a value came from, to name it in errors."""

    __slots__ = ("env", "parameter")

    def __init__(self, parameter: str, env: str | None) -> None:
        self.parameter = parameter
        self.env = env

    def error(self, value: object, accepted: str, shown: str | None = None) -> ConfigError:
        """The error for ``value``; ``shown`` replaces its repr (to hide secrets)."""
        if self.env is not None:
            where = f"environment variable {self.env} (parameter {self.parameter})"
        else:
            where = f"parameter {self.parameter}"
        text = repr(value) if shown is None else shown
        return ConfigError(f"{where} = {text} is not accepted; use {accepted}")


def _pick(
    parameter: str, value: _T | None, env_names: Iterable[str], environ: Mapping[str, str]
) -> tuple[_T | str | None, _Source]:
    """Return the first given value: the parameter, then each variable in order."""
    if value is not None:
        return value, _Source(parameter, None)
    for name in env_names:
        raw = environ.get(name)
        if raw is not None and raw.strip():
            return raw.strip(), _Source(parameter, name)
    return None, _Source(parameter, None)


def _choice(value: object, choices: Sequence[_T], source: _Source) -> _T:
    normalized = value.strip().lower() if isinstance(value, str) else value
    for choice in choices:
        if normalized == choice:
            return choice
    raise source.error(value, "one of " + ", ".join(repr(c) for c in choices))


def _positive_number(value: object, source: _Source, scale: float = 1.0) -> float:
    accepted = "a number greater than 0" + (" (milliseconds)" if scale != 1.0 else " (seconds)")
    if isinstance(value, bool):
        raise source.error(value, accepted)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise source.error(value, accepted) from None
    if not math.isfinite(number) or number <= 0:
        raise source.error(value, accepted)
    return number * scale


def parse_key_values(value: object, source: _Source) -> tuple[tuple[str, str], ...]:
    """Parse ``key=value,key=value`` (percent-decoded values) or a mapping of strings."""
    accepted = "a mapping of strings, or 'key=value,key=value'"
    if isinstance(value, Mapping):
        pairs: list[tuple[str, str]] = []
        for key, item in value.items():
            if not isinstance(key, str) or not key.strip() or not isinstance(item, str):
                raise source.error(dict(value), accepted)
            pairs.append((key.strip(), item))
        return tuple(pairs)
    if not isinstance(value, str):
        raise source.error(value, accepted)
    pairs = []
    for entry in value.split(","):
        if not entry.strip():
            continue
        key, sep, item = entry.partition("=")
        if not sep or not key.strip():
            raise source.error(value, accepted)
        pairs.append((unquote(key.strip()), unquote(item.strip())))
    return tuple(pairs)


# RFC 9110 token characters: what both HTTP and gRPC accept as a header name.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADERS_ACCEPTED = (
    "a mapping of strings, or 'key=value,key=value' (values percent-decoded); names of "
    "letters, digits and !#$%&'*+-.^_`|~, values of printable ASCII characters"
)


def _masked_headers(value: object) -> str:
    """``value`` with every header value replaced by ``***``: they often hold API keys."""
    if isinstance(value, Mapping):
        return repr({str(key): "***" for key in value})
    if isinstance(value, str):
        # An entry without "=" may be a whole "Authorization: Bearer ..." line: hide it too.
        entries = (entry.strip().partition("=") for entry in value.split(","))
        return repr(
            ",".join(
                (key if _HEADER_NAME.fullmatch(key.strip()) else "***") + ("=***" if sep else "")
                for key, sep, _ in entries
            )
        )
    return f"<{type(value).__name__}>"


def _headers(value: object, source: _Source) -> tuple[tuple[str, str], ...]:
    """Parse OTLP headers: names lower-cased (gRPC requires it), values never shown in errors."""
    try:
        pairs = parse_key_values(value, source)
    except ConfigError:
        raise source.error(value, _HEADERS_ACCEPTED, _masked_headers(value)) from None
    headers = []
    for name, raw in pairs:
        item = raw.strip()
        printable = all(char == "\t" or " " <= char <= "~" for char in item)
        if not _HEADER_NAME.fullmatch(name) or not printable:
            raise source.error(value, _HEADERS_ACCEPTED, _masked_headers(value))
        headers.append((name.lower(), item))
    return tuple(headers)


def _endpoint(value: object, source: _Source) -> str:
    accepted = "an http:// or https:// URL with a host, e.g. 'http://localhost:4318'"
    if not isinstance(value, str):
        raise source.error(value, accepted)
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise source.error(value, accepted) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise source.error(value, accepted)
    return value


def _buckets(value: object, source: _Source) -> tuple[float, ...]:
    accepted = "strictly increasing positive numbers of seconds, e.g. '0.1,0.2,0.3,1'"
    items: Sequence[object]
    if isinstance(value, str):
        items = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, Sequence):
        items = value
    else:
        raise source.error(value, accepted)
    try:
        bounds = tuple(float(item) for item in items)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise source.error(value, accepted) from None
    ok = bool(bounds) and all(math.isfinite(b) and b > 0 for b in bounds)
    if not ok or any(a >= b for a, b in pairwise(bounds)):
        raise source.error(value, accepted)
    return bounds


def _whole_number(value: object, source: _Source) -> int:
    accepted = "a whole number greater than 0"
    if isinstance(value, bool):
        raise source.error(value, accepted)
    try:
        number: int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise source.error(value, accepted) from None
    if number <= 0 or (isinstance(value, float) and value != number):
        raise source.error(value, accepted)
    return number


def _port(value: object, source: _Source) -> int:
    accepted = "a port number from 1 to 65535, or 0 for no server of its own"
    if isinstance(value, bool):
        raise source.error(value, accepted)
    try:
        number: int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise source.error(value, accepted) from None
    if not 0 <= number <= 65535 or (isinstance(value, float) and value != number):
        raise source.error(value, accepted)
    return number


def _names(value: object, source: _Source) -> tuple[str, ...]:
    accepted = "a sequence of non-empty strings (variable: comma-separated)"
    items: Iterable[object]
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, Iterable):
        items = list(value)
    else:
        raise source.error(value, accepted)
    names = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise source.error(value, accepted)
        names.append(item.strip())
    return tuple(names)


def _regexes(value: object, source: _Source, json_env: bool) -> tuple[str, ...]:
    if json_env and isinstance(value, str) and source.env is not None:
        import json

        try:
            value = json.loads(value)
        except ValueError:
            raise source.error(
                value, 'a JSON array of regular expressions, e.g. ["acct-\\\\d+"]'
            ) from None
    patterns = _names(value, source)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            raise source.error(pattern, f"a valid regular expression ({error})") from None
    return patterns


def _trusted_proxies(value: object, source: _Source) -> tuple[str, ...] | int:
    import ipaddress

    accepted = (
        "a list of IP addresses or CIDR networks, e.g. ['10.0.0.0/8', '127.0.0.1'], or a "
        "number of proxy hops >= 0 (variable: comma-separated, or a number)"
    )
    if isinstance(value, bool):
        raise source.error(value, accepted)
    if isinstance(value, int):
        if value < 0:
            raise source.error(value, accepted)
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, str) and source.env is None:
        raise source.error(value, accepted)  # a bare string is a one-letter list by mistake
    try:
        names = _names(value, source)
    except ConfigError:
        raise source.error(value, accepted) from None
    networks = []
    for name in names:
        try:
            networks.append(str(ipaddress.ip_network(name, strict=False)))
        except ValueError:
            raise source.error(name, accepted) from None
    return tuple(networks)


def _directory(value: object, source: _Source) -> str:
    accepted = "a directory path (a string or os.PathLike), e.g. '/var/lib/myapp/audit'"
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise source.error(value, accepted)
    path = os.path.abspath(os.path.expanduser(value.strip()))
    if os.path.exists(path) and not os.path.isdir(path):
        raise source.error(value, accepted + " (this path exists and is not a directory)")
    return path


def _bool(value: object, source: _Source) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise source.error(value, "true or false")


def _sampler(sample_ratio: float | None, environ: Mapping[str, str]) -> tuple[str, float]:
    if sample_ratio is not None:
        source = _Source("sample_ratio", None)
        if isinstance(sample_ratio, bool) or not isinstance(sample_ratio, (int, float)):
            raise source.error(sample_ratio, "a number from 0 to 1")
        if not 0.0 <= float(sample_ratio) <= 1.0:
            raise source.error(sample_ratio, "a number from 0 to 1")
        return "parentbased_traceidratio", float(sample_ratio)
    raw, source = _pick("sample_ratio", None, ("OTEL_TRACES_SAMPLER",), environ)
    name = "parentbased_always_on" if raw is None else _choice(raw, _SAMPLERS, source)
    ratio = 1.0
    if name.endswith("traceidratio"):
        arg, arg_source = _pick("sample_ratio", None, ("OTEL_TRACES_SAMPLER_ARG",), environ)
        if arg is not None:
            try:
                ratio = float(arg)
            except ValueError:
                raise arg_source.error(arg, "a number from 0 to 1") from None
            if not 0.0 <= ratio <= 1.0:
                raise arg_source.error(arg, "a number from 0 to 1")
    return name, ratio


def _otlp(
    signal: Signal,
    endpoint: str | None,
    protocol: str | None,
    headers: Mapping[str, str] | str | None,
    timeout: float | None,
    compression: str | None,
    environ: Mapping[str, str],
) -> OtlpSettings:
    upper = signal.upper()

    def env(option: str) -> tuple[str, str]:
        return f"OTEL_EXPORTER_OTLP_{upper}_{option}", f"OTEL_EXPORTER_OTLP_{option}"

    raw, source = _pick("protocol", protocol, env("PROTOCOL"), environ)
    proto: Protocol = "http/protobuf" if raw is None else _choice(raw, _PROTOCOLS, source)

    raw_endpoint, source = _pick("endpoint", endpoint, env("ENDPOINT"), environ)
    if raw_endpoint is None:
        url = f"http://localhost:{_DEFAULT_PORT[proto]}"
        full = url + f"/v1/{signal}" if proto == "http/protobuf" else url
    else:
        url = _endpoint(raw_endpoint, source)
        # Only a signal-specific variable is a complete URL; the generic variable
        # and the parameter are base URLs (specification, "Endpoint URLs for OTLP/HTTP").
        is_full = source.env is not None and f"_{upper}_" in source.env
        if proto == "http/protobuf" and not is_full:
            full = url.rstrip("/") + f"/v1/{signal}"
        else:
            full = url

    raw_headers, source = _pick("headers", headers, env("HEADERS"), environ)
    parsed_headers = () if raw_headers is None else _headers(raw_headers, source)

    if timeout is not None:
        seconds = _positive_number(timeout, _Source("timeout", None))
    else:
        raw_timeout, source = _pick("timeout", None, env("TIMEOUT"), environ)
        seconds = 10.0 if raw_timeout is None else _positive_number(raw_timeout, source, 0.001)

    raw, source = _pick("compression", compression, env("COMPRESSION"), environ)
    comp: Compression = "none" if raw is None else _choice(raw, _COMPRESSIONS, source)
    return OtlpSettings(full, proto, parsed_headers, seconds, comp)


def _endpoint_configured(endpoint: str | None, environ: Mapping[str, str]) -> bool:
    if endpoint is not None:
        return True
    names = ["OTEL_EXPORTER_OTLP_ENDPOINT"] + [
        f"OTEL_EXPORTER_OTLP_{s.upper()}_ENDPOINT" for s in SIGNALS
    ]
    return any(environ.get(name, "").strip() for name in names)


def resolve(
    *,
    service_name: str | None = None,
    service_version: str | None = None,
    environment: str | None = None,
    resource_attributes: Mapping[str, str] | str | None = None,
    exporter: str | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | str | None = None,
    timeout: float | None = None,
    compression: str | None = None,
    sample_ratio: float | None = None,
    disabled: bool | None = None,
    duration_buckets: Sequence[float] | None = None,
    metric_export_interval: float | None = None,
    shutdown_timeout: float | None = None,
    cardinality_limit: int | None = None,
    log_format: str | None = None,
    log_level: str | None = None,
    redact_keys: Sequence[str] | None = None,
    redact_patterns: Sequence[str] | None = None,
    excluded_urls: Sequence[str] | None = None,
    trusted_proxies: Sequence[str] | int | None = None,
    audit_spool_dir: str | os.PathLike[str] | None = None,
    prometheus_port: int | None = None,
    console_max_series: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve configure()'s parameters against the environment into :class:`Settings`.

    Raises:
        ConfigError: a value is invalid; the message names its parameter or variable.
    """
    env = os.environ if environ is None else environ

    raw_disabled, source = _pick("disabled", disabled, ("OTEL_SDK_DISABLED",), env)
    is_disabled = False if raw_disabled is None else _bool(raw_disabled, source)

    raw_attrs, source = _pick(
        "resource_attributes", resource_attributes, ("OTEL_RESOURCE_ATTRIBUTES",), env
    )
    attrs = dict(() if raw_attrs is None else parse_key_values(raw_attrs, source))
    for parameter, key, value, env_name in (
        ("service_name", semconv.SERVICE_NAME, service_name, "OTEL_SERVICE_NAME"),
        ("service_version", semconv.SERVICE_VERSION, service_version, None),
        ("environment", semconv.DEPLOYMENT_ENVIRONMENT_NAME, environment, None),
    ):
        picked, source = _pick(parameter, value, (env_name,) if env_name else (), env)
        if picked is None:
            continue
        if not isinstance(picked, str) or not picked.strip():
            raise source.error(picked, "a non-empty string")
        attrs[key] = picked

    raw_exporter, source = _pick("exporter", exporter, ("WATCHKIT_EXPORTER",), env)
    if raw_exporter is None:
        kind: ExporterKind = "otlp" if _endpoint_configured(endpoint, env) else "console"
    else:
        kind = _choice(raw_exporter, _EXPORTERS, source)

    otlp = tuple(
        (signal, _otlp(signal, endpoint, protocol, headers, timeout, compression, env))
        for signal in SIGNALS
    )
    sampler, ratio = _sampler(sample_ratio, env)

    raw_buckets, source = _pick(
        "duration_buckets", duration_buckets, ("WATCHKIT_DURATION_BUCKETS",), env
    )
    buckets = DEFAULT_DURATION_BUCKETS if raw_buckets is None else _buckets(raw_buckets, source)

    if metric_export_interval is not None:
        interval = _positive_number(metric_export_interval, _Source("metric_export_interval", None))
    else:
        raw_interval, source = _pick(
            "metric_export_interval", None, ("OTEL_METRIC_EXPORT_INTERVAL",), env
        )
        interval = 60.0 if raw_interval is None else _positive_number(raw_interval, source, 0.001)

    raw_shutdown, source = _pick(
        "shutdown_timeout", shutdown_timeout, ("WATCHKIT_SHUTDOWN_TIMEOUT",), env
    )
    grace = 5.0 if raw_shutdown is None else _positive_number(raw_shutdown, source)

    raw_limit, source = _pick(
        "cardinality_limit", cardinality_limit, ("WATCHKIT_CARDINALITY_LIMIT",), env
    )
    limit = 2000 if raw_limit is None else _whole_number(raw_limit, source)
    raw_format, source = _pick("log_format", log_format, ("WATCHKIT_LOG_FORMAT",), env)
    fmt: LogFormat = "auto" if raw_format is None else _choice(raw_format, _LOG_FORMATS, source)
    raw_level, source = _pick("log_level", log_level, ("WATCHKIT_LOG_LEVEL",), env)
    level: LogLevel = "info" if raw_level is None else _choice(raw_level, _LOG_LEVELS, source)
    raw_keys, source = _pick("redact_keys", redact_keys, ("WATCHKIT_REDACT_KEYS",), env)
    keys = () if raw_keys is None else _names(raw_keys, source)
    raw_patterns, source = _pick(
        "redact_patterns", redact_patterns, ("WATCHKIT_REDACT_PATTERNS",), env
    )
    patterns = () if raw_patterns is None else _regexes(raw_patterns, source, json_env=True)
    raw_excluded, source = _pick("excluded_urls", excluded_urls, ("WATCHKIT_EXCLUDED_URLS",), env)
    excluded = (
        DEFAULT_EXCLUDED_URLS
        if raw_excluded is None
        else _regexes(raw_excluded, source, json_env=False)
    )
    raw_proxies, source = _pick(
        "trusted_proxies", trusted_proxies, ("WATCHKIT_TRUSTED_PROXIES",), env
    )
    proxies = () if raw_proxies is None else _trusted_proxies(raw_proxies, source)
    raw_spool, source = _pick(
        "audit_spool_dir", audit_spool_dir, ("WATCHKIT_AUDIT_SPOOL_DIR",), env
    )
    spool_dir = None if raw_spool is None else _directory(raw_spool, source)
    raw_port, source = _pick("prometheus_port", prometheus_port, ("WATCHKIT_PROMETHEUS_PORT",), env)
    port = None if raw_port is None else _port(raw_port, source)
    raw_series, source = _pick(
        "console_max_series", console_max_series, ("WATCHKIT_CONSOLE_MAX_SERIES",), env
    )
    max_series = 25 if raw_series is None else _whole_number(raw_series, source)

    return Settings(
        disabled=is_disabled,
        exporter=kind,
        resource_attributes=tuple(sorted(attrs.items())),
        otlp=otlp,
        sampler=sampler,
        sampler_ratio=ratio,
        duration_buckets=buckets,
        metric_export_interval=interval,
        shutdown_timeout=grace,
        cardinality_limit=limit,
        log_format=fmt,
        log_level=level,
        redact_keys=keys,
        redact_patterns=patterns,
        excluded_urls=excluded,
        trusted_proxies=proxies,
        audit_spool_dir=spool_dir,
        prometheus_port=port,
        console_max_series=max_series,
    )


def resolve_or_defaults() -> Settings:
    """The settings the environment gives, or the defaults if a variable is invalid.

    For code that needs settings without configure() (a test capture, defaults
    before configure): configure() is the place that reports a bad variable.
    """
    try:
        return resolve()
    except ConfigError:
        return resolve(environ={})
