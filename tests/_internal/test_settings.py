"""Configuration precedence (parameter > OTEL_* variable > default) and every ConfigError path."""

from __future__ import annotations

import pytest

import watchkit
from watchkit._internal.semconv import DEFAULT_DURATION_BUCKETS
from watchkit._internal.settings import OPTIONS, resolve


def test_defaults_without_environment() -> None:
    """With nothing set, export goes to the console over the spec's defaults."""
    s = resolve(environ={})
    assert s.exporter == "console"
    assert not s.disabled
    assert s.sampler == "parentbased_always_on"
    assert s.duration_buckets == DEFAULT_DURATION_BUCKETS
    assert 0.2 in s.duration_buckets and 0.3 in s.duration_buckets
    assert s.shutdown_timeout == 5.0
    assert s.metric_export_interval == 60.0
    traces = s.otlp_for("traces")
    assert traces.protocol == "http/protobuf"
    assert traces.endpoint == "http://localhost:4318/v1/traces"
    assert traces.timeout == 10.0
    assert traces.compression == "none"
    assert s.cardinality_limit == 2000
    assert s.log_format == "auto"
    assert s.log_level == "info"


def test_endpoint_in_environment_selects_otlp() -> None:
    """An OTLP endpoint in the environment makes otlp the default exporter."""
    s = resolve(environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert s.exporter == "otlp"
    assert s.otlp_for("metrics").endpoint == "http://collector:4318/v1/metrics"


def test_signal_specific_endpoint_selects_otlp_and_is_used_verbatim() -> None:
    """A per-signal endpoint is a full URL; the other signals keep the generic one."""
    s = resolve(
        environ={
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://tempo:4318/custom/traces",
        }
    )
    assert s.otlp_for("traces").endpoint == "http://tempo:4318/custom/traces"
    assert s.otlp_for("logs").endpoint == "http://collector:4318/v1/logs"


def test_grpc_endpoint_is_not_suffixed_and_default_port_differs() -> None:
    """gRPC takes the base URL as it is and defaults to port 4317."""
    s = resolve(exporter="otlp", protocol="grpc", environ={})
    assert s.otlp_for("traces").endpoint == "http://localhost:4317"
    s = resolve(endpoint="http://c:4317", protocol="grpc", environ={})
    assert s.otlp_for("logs").endpoint == "http://c:4317"


def test_parameter_beats_environment_beats_default() -> None:
    """Each parameter overrides its variable, which overrides the default."""
    env = {
        "OTEL_SERVICE_NAME": "from-env",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4317",
        "OTEL_EXPORTER_OTLP_HEADERS": "api-key=env",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "WATCHKIT_EXPORTER": "console",
        "OTEL_TRACES_SAMPLER": "always_off",
        "WATCHKIT_SHUTDOWN_TIMEOUT": "9",
        "OTEL_METRIC_EXPORT_INTERVAL": "1500",
        "WATCHKIT_DURATION_BUCKETS": "0.1,1",
        "WATCHKIT_CARDINALITY_LIMIT": "7",
    }
    from_env = resolve(environ=env)
    assert dict(from_env.resource_attributes)["service.name"] == "from-env"
    assert from_env.exporter == "console"
    t = from_env.otlp_for("traces")
    assert (t.protocol, t.endpoint, t.headers, t.timeout, t.compression) == (
        "grpc",
        "http://env:4317",
        (("api-key", "env"),),
        2.5,
        "gzip",
    )
    assert from_env.sampler == "always_off"
    assert from_env.shutdown_timeout == 9.0
    assert from_env.metric_export_interval == 1.5
    assert from_env.duration_buckets == (0.1, 1.0)
    assert from_env.cardinality_limit == 7

    from_params = resolve(
        service_name="from-param",
        protocol="http/protobuf",
        endpoint="https://param:4318",
        headers={"api-key": "param"},
        timeout=1.0,
        compression="none",
        exporter="otlp",
        sample_ratio=0.5,
        shutdown_timeout=1.0,
        metric_export_interval=3.0,
        duration_buckets=[0.5, 2],
        cardinality_limit=9,
        environ=env,
    )
    assert dict(from_params.resource_attributes)["service.name"] == "from-param"
    assert from_params.exporter == "otlp"
    t = from_params.otlp_for("traces")
    assert (t.protocol, t.endpoint, t.headers, t.timeout, t.compression) == (
        "http/protobuf",
        "https://param:4318/v1/traces",
        (("api-key", "param"),),
        1.0,
        "none",
    )
    assert (from_params.sampler, from_params.sampler_ratio) == ("parentbased_traceidratio", 0.5)
    assert from_params.shutdown_timeout == 1.0
    assert from_params.metric_export_interval == 3.0
    assert from_params.duration_buckets == (0.5, 2.0)
    assert from_params.cardinality_limit == 9


def test_signal_specific_variables_beat_generic_ones() -> None:
    """OTEL_EXPORTER_OTLP_<SIGNAL>_* wins over OTEL_EXPORTER_OTLP_* for that signal only."""
    s = resolve(
        environ={
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_HEADERS": "a=1",
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "b=2",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1000",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "3000",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
        }
    )
    assert s.otlp_for("traces").protocol == "grpc"
    assert s.otlp_for("logs").protocol == "http/protobuf"
    assert s.otlp_for("metrics").headers == (("b", "2"),)
    assert s.otlp_for("logs").headers == (("a", "1"),)
    assert s.otlp_for("traces").timeout == 3.0
    assert s.otlp_for("logs").timeout == 1.0
    assert s.otlp_for("traces").compression == "gzip"
    assert s.otlp_for("metrics").compression == "none"


def test_resource_attributes_merge_with_parameters_winning() -> None:
    """OTEL_RESOURCE_ATTRIBUTES is parsed and percent-decoded; parameters win over it."""
    s = resolve(
        service_version="2.0",
        environment="staging",
        environ={
            "OTEL_RESOURCE_ATTRIBUTES": (
                "service.name=svc,service.version=1.0,deployment.environment.name=prod,"
                "team=food%20delivery"
            )
        },
    )
    attrs = dict(s.resource_attributes)
    assert attrs == {
        "service.name": "svc",
        "service.version": "2.0",
        "deployment.environment.name": "staging",
        "team": "food delivery",
    }


def test_otel_service_name_beats_resource_attributes() -> None:
    """The spec gives OTEL_SERVICE_NAME precedence over service.name in OTEL_RESOURCE_ATTRIBUTES."""
    s = resolve(environ={"OTEL_SERVICE_NAME": "a", "OTEL_RESOURCE_ATTRIBUTES": "service.name=b"})
    assert dict(s.resource_attributes)["service.name"] == "a"


@pytest.mark.parametrize(
    ("sampler", "arg", "expected"),
    [
        ("always_on", None, ("always_on", 1.0)),
        ("parentbased_always_off", None, ("parentbased_always_off", 1.0)),
        ("traceidratio", "0.25", ("traceidratio", 0.25)),
        ("parentbased_traceidratio", None, ("parentbased_traceidratio", 1.0)),
    ],
)
def test_sampler_variables(sampler: str, arg: str | None, expected: tuple[str, float]) -> None:
    """The specification's sampler names and argument are understood."""
    env = {"OTEL_TRACES_SAMPLER": sampler}
    if arg is not None:
        env["OTEL_TRACES_SAMPLER_ARG"] = arg
    s = resolve(environ=env)
    assert (s.sampler, s.sampler_ratio) == expected


def test_sdk_disabled_variable() -> None:
    """OTEL_SDK_DISABLED=true switches watchkit off; the parameter overrides it."""
    assert resolve(environ={"OTEL_SDK_DISABLED": "TRUE"}).disabled
    assert not resolve(environ={"OTEL_SDK_DISABLED": "false"}).disabled
    assert not resolve(disabled=False, environ={"OTEL_SDK_DISABLED": "true"}).disabled


@pytest.mark.parametrize(
    ("kwargs", "env", "names", "accepted"),
    [
        ({"protocol": "udp"}, {}, "parameter protocol", "'grpc', 'http/protobuf'"),
        ({}, {"OTEL_EXPORTER_OTLP_PROTOCOL": "udp"}, "OTEL_EXPORTER_OTLP_PROTOCOL", "'grpc'"),
        (
            {},
            {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "'http/protobuf'",
        ),
        ({"exporter": "zipkin"}, {}, "parameter exporter", "'otlp', 'console', 'none'"),
        ({}, {"WATCHKIT_EXPORTER": "jaeger"}, "WATCHKIT_EXPORTER", "'otlp', 'console', 'none'"),
        ({"headers": "novalue"}, {}, "parameter headers", "key=value"),
        ({}, {"OTEL_EXPORTER_OTLP_HEADERS": "=x"}, "OTEL_EXPORTER_OTLP_HEADERS", "key=value"),
        ({"headers": {"k": 1}}, {}, "parameter headers", "mapping of strings"),
        ({}, {"OTEL_RESOURCE_ATTRIBUTES": "a"}, "OTEL_RESOURCE_ATTRIBUTES", "key=value"),
        ({"sample_ratio": 1.5}, {}, "parameter sample_ratio", "from 0 to 1"),
        ({"sample_ratio": -0.1}, {}, "parameter sample_ratio", "from 0 to 1"),
        ({"sample_ratio": "half"}, {}, "parameter sample_ratio", "from 0 to 1"),
        ({}, {"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER", "'always_on'"),
        (
            {},
            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
            "OTEL_TRACES_SAMPLER_ARG",
            "from 0 to 1",
        ),
        (
            {},
            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "x"},
            "OTEL_TRACES_SAMPLER_ARG",
            "from 0 to 1",
        ),
        ({"endpoint": "localhost:4317"}, {}, "parameter endpoint", "http:// or https://"),
        ({"endpoint": "http://h:port"}, {}, "parameter endpoint", "http:// or https://"),
        ({}, {"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://x"}, "OTEL_EXPORTER_OTLP_ENDPOINT", "http://"),
        ({"timeout": 0}, {}, "parameter timeout", "greater than 0"),
        ({}, {"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, "OTEL_EXPORTER_OTLP_TIMEOUT", "milliseconds"),
        ({"compression": "brotli"}, {}, "parameter compression", "'gzip', 'none'"),
        ({}, {"OTEL_SDK_DISABLED": "maybe"}, "OTEL_SDK_DISABLED", "true or false"),
        ({"duration_buckets": [1, 0.5]}, {}, "parameter duration_buckets", "increasing"),
        ({"duration_buckets": []}, {}, "parameter duration_buckets", "increasing"),
        ({}, {"WATCHKIT_DURATION_BUCKETS": "a,b"}, "WATCHKIT_DURATION_BUCKETS", "increasing"),
        ({"shutdown_timeout": -1}, {}, "parameter shutdown_timeout", "greater than 0"),
        ({"metric_export_interval": float("nan")}, {}, "metric_export_interval", "greater"),
        ({"service_name": ""}, {}, "parameter service_name", "non-empty string"),
        ({"cardinality_limit": 0}, {}, "parameter cardinality_limit", "whole number"),
        ({"cardinality_limit": 2.5}, {}, "parameter cardinality_limit", "whole number"),
        ({"log_format": "xml"}, {}, "parameter log_format", "'json', 'console', 'auto'"),
        ({}, {"WATCHKIT_LOG_LEVEL": "loud"}, "WATCHKIT_LOG_LEVEL", "'debug'"),
        ({"redact_keys": [""]}, {}, "parameter redact_keys", "non-empty strings"),
        ({"redact_patterns": ["("]}, {}, "parameter redact_patterns", "regular expression"),
        ({}, {"WATCHKIT_REDACT_PATTERNS": "[x"}, "WATCHKIT_REDACT_PATTERNS", "JSON array"),
        ({"excluded_urls": ["[a-"]}, {}, "parameter excluded_urls", "regular expression"),
    ],
)
def test_config_errors_name_the_source_and_accepted_values(
    kwargs: dict[str, object], env: dict[str, str], names: str, accepted: str
) -> None:
    """Every invalid value raises ConfigError naming its parameter/variable and what is accepted."""
    with pytest.raises(watchkit.ConfigError) as caught:
        resolve(**kwargs, environ=env)  # type: ignore[arg-type]
    message = str(caught.value)
    assert names in message
    assert accepted in message
    assert isinstance(caught.value, ValueError)


def test_configure_raises_config_error_before_touching_anything(clean_env: object) -> None:
    """configure() validates first: a bad value leaves watchkit unconfigured."""
    from watchkit._configure import current

    with pytest.raises(watchkit.ConfigError, match="protocol"):
        watchkit.configure(protocol="smoke-signals")
    assert current() is None


def test_reference_table_names_every_configure_parameter() -> None:
    """OPTIONS (the docs' source) lists exactly the parameters configure() takes."""
    import inspect

    parameters = set(inspect.signature(watchkit.configure).parameters)
    assert {option.parameter for option in OPTIONS} == parameters
