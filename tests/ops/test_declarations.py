"""Declarations are validated when declared: every error names the field and what is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchkit import ConfigError, ops
from watchkit._internal import semconv


def test_latency_threshold_between_boundaries_is_refused_naming_the_existing_ones() -> None:
    """250 ms is a boundary, 220 ms is not: the error lists the boundaries that exist."""
    assert ops.threshold("Slow", kind="latency", warning="250ms").warning == 0.25
    with pytest.raises(ConfigError) as caught:
        ops.threshold("Slow", kind="latency", warning="220ms")
    message = str(caught.value)
    assert message.startswith("thresholds[0].warning = '220ms' is not a bucket boundary")
    assert "200ms, 250ms, 300ms" in message


def test_the_food_delivery_thresholds_are_default_boundaries() -> None:
    """200 ms and 300 ms (warning/critical) and 500 ms (SLO) are in the default buckets."""
    assert {0.2, 0.3, 0.5} <= set(semconv.DEFAULT_DURATION_BUCKETS)
    threshold = ops.threshold("HighLatency", kind="latency", warning=0.2, critical="300ms")
    assert (threshold.warning, threshold.critical) == (0.2, 0.3)


def test_service_buckets_recheck_latencies() -> None:
    """With custom buckets, a latency SLO must be one of those."""
    fast = ops.slo("fast", objective=0.95, sli="latency", latency="500ms")
    with pytest.raises(ConfigError, match=r"slos\[0\]\.latency .* use one of: 100ms, 1000ms"):
        ops.service("s", slos=[fast], buckets=[0.1, 1.0])


def test_queue_wait_threshold_must_be_a_wait_bucket_boundary() -> None:
    """30 s and 2 m are wait boundaries, 45 s is not: the error names the wait histogram's."""
    slow = ops.threshold("SlowQueue", kind="queue_wait", warning="30s", critical="2m")
    assert (slow.warning, slow.critical) == (30.0, 120.0)
    with pytest.raises(ConfigError) as caught:
        ops.threshold("SlowQueue", kind="queue_wait", warning="45s")
    message = str(caught.value)
    assert message.startswith("thresholds[0].warning = '45s' is not a bucket boundary of the "
                              "queue wait histogram (watchkit.queue.wait.duration)")  # fmt: skip
    assert "10s, 30s, 1m, 2m, 5m, 10m, 30m" in message
    # The request buckets do not apply to queue waits, whatever the service declares.
    wait = ops.slo("jobwait", objective=0.99, sli="latency", latency="1m", queue="emails")
    assert ops.service("s", slos=[wait], buckets=[0.1, 1.0]).slos[0].latency == 60.0
    with pytest.raises(ConfigError, match=r"slos\[0\]\.latency = '200ms' .* queue wait"):
        ops.slo("jobwait", objective=0.99, sli="latency", latency="200ms", queue="emails")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (
            {"kind": "queue_backlog", "warning": 0.5},
            r"thresholds\[0\]\.warning = 0\.5 .* "
            r"a count >= 0 \(messages waiting\)",
        ),
        ({"kind": "job_failure_ratio", "warning": 5}, r"thresholds\[0\]\.warning = 5 .* fraction"),
        (
            {"kind": "latency", "warning": "200ms", "queue": "q"},
            r"thresholds\[0\]\.queue is only accepted for kinds 'queue_backlog'",
        ),
        ({"kind": "queue_backlog", "warning": 10, "queue": ""}, r"thresholds\[0\]\.queue = ''"),
        ({"kind": "queue_backlog", "warning": 10, "critical": 5}, r"must be below critical"),
    ],
)
def test_queue_threshold_errors_name_the_field(kwargs: dict[str, object], pattern: str) -> None:
    """Each bad queue threshold value raises ConfigError naming it."""
    with pytest.raises(ConfigError, match=pattern):
        ops.threshold("Q", **kwargs)  # type: ignore[arg-type]


def test_queue_slo_is_one_source() -> None:
    """A queue SLO reads its queue only; with another source it is refused."""
    assert ops.slo("jobs", objective=0.99, queue="emails").source == "queue"
    with pytest.raises(ConfigError, match=r"at most one of route, flow, .*queue"):
        ops.slo("jobs", objective=0.99, queue="emails", flow="checkout")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"objective": 99.9}, r"slos\[0\]\.objective = 99\.9 is not accepted; use a fraction"),
        ({"objective": 0.99, "period": "30 days"}, r"slos\[0\]\.period = '30 days'"),
        ({"objective": 0.99, "period": "6h"}, r"at least one day"),
        ({"objective": 0.99, "sli": "speed"}, r"slos\[0\]\.sli = 'speed'.*'availability'"),
        ({"objective": 0.99, "sli": "latency"}, r"slos\[0\]\.latency is required"),
        ({"objective": 0.99, "latency": 0.5}, r"only accepted when sli is 'latency'"),
        ({"objective": 0.99, "flow": "a", "db_system": "b"}, r"at most one of"),
        ({"objective": 0.99, "labels": {"severity": "x"}}, r"slos\[0\]\.labels = 'severity'"),
    ],
)
def test_slo_errors_name_the_field(kwargs: dict[str, object], pattern: str) -> None:
    """Each bad SLO value raises ConfigError naming it."""
    with pytest.raises(ConfigError, match=pattern):
        ops.slo("a", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"kind": "disk"}, r"thresholds\[0\]\.kind = 'disk'.*'latency'"),
        ({"kind": "cpu"}, r"give warning, critical or both"),
        ({"kind": "cpu", "warning": 80}, r"thresholds\[0\]\.warning = 80 .*fraction"),
        ({"kind": "cpu", "warning": 0.9, "critical": 0.8}, r"must be below critical"),
        ({"kind": "memory", "warning": 0.8}, r"limit is required"),
        ({"kind": "memory", "warning": 0.8, "limit": "lots"}, r"limit = 'lots'"),
        ({"kind": "cpu", "warning": 0.8, "route": "/x"}, r"route is only accepted"),
        ({"kind": "cpu", "warning": 0.8, "for_": "soon"}, r"thresholds\[0\]\.for = 'soon'"),
        ({"kind": "brute_force", "warning": -1}, r"a count >= 0"),
    ],
)
def test_threshold_errors_name_the_field(kwargs: dict[str, object], pattern: str) -> None:
    """Each bad threshold value raises ConfigError naming it."""
    with pytest.raises(ConfigError, match=pattern):
        ops.threshold("T", **kwargs)  # type: ignore[arg-type]


def test_service_errors() -> None:
    """Bad service values, duplicate SLOs and foreign objects are refused."""
    with pytest.raises(ConfigError, match=r"service\.name"):
        ops.service("")
    with pytest.raises(ConfigError, match=r"declared twice"):
        ops.service("s", slos=[ops.slo("a", objective=0.9), ops.slo("a", objective=0.99)])
    with pytest.raises(ConfigError, match=r"slos\[0\] = 'a' is not accepted"):
        ops.service("s", slos=["a"])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match=r"buckets"):
        ops.service("s", buckets=[0.5, 0.1])
    with pytest.raises(ConfigError, match=r"capacity\.max_request_rate"):
        ops.capacity(max_request_rate=-1)


def test_yaml_and_python_build_the_same_model(tmp_path: Path) -> None:
    """One model: the YAML file and the Python calls give equal services."""
    path = tmp_path / "ops.yaml"
    path.write_text(
        "services:\n"
        "  - name: checkout\n"
        "    team: payments\n"
        "    slos:\n"
        "      - {name: availability, objective: 0.999}\n"
        "      - {name: fast, objective: 0.95, sli: latency, latency: 500ms}\n"
        "      - {name: prompt, objective: 0.99, sli: latency, latency: 2m, queue: emails}\n"
        "    thresholds:\n"
        "      - {name: HighLatency, kind: latency, warning: 200ms, critical: 300ms}\n"
        "      - {name: Backlog, kind: queue_backlog, warning: 100, queue: emails, for: 2m}\n"
        "      - {name: SlowQueue, kind: queue_wait, critical: 30s}\n"
        "    capacity: {memory_limit: 512MiB}\n"
    )
    from_python = ops.service(
        "checkout",
        team="payments",
        slos=[
            ops.slo("availability", objective=0.999),
            ops.slo("fast", objective=0.95, sli="latency", latency=0.5),
            ops.slo("prompt", objective=0.99, sli="latency", latency=120, queue="emails"),
        ],
        thresholds=[
            ops.threshold("HighLatency", kind="latency", warning=0.2, critical=0.3),
            ops.threshold("Backlog", kind="queue_backlog", warning=100, queue="emails", for_="2m"),
            ops.threshold("SlowQueue", kind="queue_wait", critical=30),
        ],
        capacity=ops.capacity(memory_limit=512 * 2**20),
    )
    assert ops.load_yaml(path) == [from_python]


def test_yaml_errors_name_file_service_and_field(tmp_path: Path) -> None:
    """A bad value deep in the file is reported with its path."""
    path = tmp_path / "ops.yaml"
    path.write_text("services:\n  - name: a\n    slos:\n      - {name: x, objective: 2}\n")
    with pytest.raises(ConfigError) as caught:
        ops.load_yaml(path)
    assert str(caught.value).startswith(f"{path}: services[0].slos[0].objective = 2")
    path.write_text("services:\n  - name: a\n    colour: red\n")
    with pytest.raises(ConfigError, match=r"services\[0\]\.colour is not a known field"):
        ops.load_yaml(path)
    path.write_text("slos: []\n")
    with pytest.raises(ConfigError, match="one key, 'services'"):
        ops.load_yaml(path)
    path.write_text("services: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        ops.load_yaml(path)


def test_public_names_are_sorted_and_resolve() -> None:
    """Every name in `watchkit.ops.__all__` exists (ruff sorts it); `watchkit.ops` is lazy."""
    import watchkit

    assert len(set(ops.__all__)) == len(ops.__all__)
    assert all(getattr(ops, name) is not None for name in ops.__all__)
    assert watchkit.ops is ops


def test_metric_thresholds_name_the_metrics_they_accept() -> None:
    """kind="metric" needs a metric watchkit emits, or the instrument of the application's own;
    selector and metric belong to that kind."""
    with pytest.raises(ConfigError, match=r"instrument is required .*'queue.depth'.*flow\.active"):
        ops.threshold("Backlog", kind="metric", metric="queue.depth", warning=1)
    with pytest.raises(ConfigError, match=r"selector = \{'flow.name': 3\}"):
        ops.threshold(
            "Backlog",
            kind="metric",
            metric="watchkit.flow.active",
            selector={"flow.name": 3},
            warning=1,
        )  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match=r"metric is only accepted for kind 'metric'"):
        ops.threshold("HighCPU", kind="cpu", metric="watchkit.flow.active", warning=0.8)
    with pytest.raises(ConfigError, match=r"warning = 'many' is not accepted"):
        ops.threshold("Backlog", kind="metric", metric="watchkit.flow.active", warning="many")
