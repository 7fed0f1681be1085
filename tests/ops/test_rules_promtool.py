"""Generated rules, proven with the real promtool: they parse, and each alert fires at its `for`."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.binaries import require
from watchkit import ConfigError, ops

ENV = 'deployment_environment_name="production"'
SVC = f'service_name="checkout", {ENV}'
RUNBOOK = "https://runbooks.example.com/checkout"


def _service() -> ops.Service:
    return ops.service(
        "checkout",
        environment="production",
        team="payments",
        runbook_url=RUNBOOK,
        slos=[
            ops.slo("availability", objective=0.999),
            ops.slo("fast", objective=0.95, sli="latency", latency="500ms"),
            ops.slo("orders", objective=0.99, flow="place_order", period="7d"),
            ops.slo("db", objective=0.99, sli="latency", latency="100ms", db_system="postgresql"),
            ops.slo("payments", objective=0.99, dependency="payments"),
            ops.slo("journey", objective=0.99, journey="order"),
            ops.slo("jobs", objective=0.99, queue="emails"),
            ops.slo("jobwait", objective=0.99, sli="latency", latency="1m", queue="emails"),
        ],
        thresholds=[
            ops.threshold("HighLatency", kind="latency", warning="200ms", critical="300ms"),
            ops.threshold("HighErrorRate", kind="error_ratio", warning=0.01, critical=0.03),
            ops.threshold("HighCPU", kind="cpu", warning=0.8, critical=0.9),
            ops.threshold("HighMemory", kind="memory", warning=0.8, critical=0.9, limit="512MiB"),
            ops.threshold("BruteForceSuspected", kind="brute_force", warning=0, for_="0m"),
            ops.threshold(
                "HealthCheckFailing", kind="health", warning="warn", critical="fail", for_="2m"
            ),
            ops.threshold(
                "SyntheticJourneyFailing",
                kind="synthetic",
                warning=0,
                critical=2,
                for_="0m",
                window="10m",
            ),
            ops.threshold(
                "CheckoutBacklog",
                kind="metric",
                metric="watchkit.flow.active",
                selector={"flow.name": "checkout"},
                warning=100,
                for_="2m",
            ),
            ops.threshold(
                "OrderStorm",
                kind="metric",
                metric="watchkit.events",
                selector={"event.name": "order.placed"},
                critical=1,
                for_="0m",
            ),
            ops.threshold(
                "QueueBacklog", kind="queue_backlog", warning=100, critical=1000, for_="2m"
            ),
            ops.threshold(
                "JobFailures", kind="job_failure_ratio", warning=0.05, critical=0.2, queue="emails"
            ),
            ops.threshold("SlowQueue", kind="queue_wait", warning="30s", critical="2m"),
        ],
        capacity=ops.capacity(disk_horizon="4h", memory_limit="512MiB", max_request_rate=200),
    )


def _promtool(
    tmp_path: Path,
    tests: list[dict[str, Any]],
    interval: str = "1m",
    service: ops.Service | None = None,
) -> None:
    rules = tmp_path / "rules.yaml"
    generated = ops.rules(service or _service())
    rules.write_text(ops.to_yaml(generated))
    # promtool evaluates groups in random order unless told; pin the file's order
    # so an alert reads the recordings of the same evaluation.
    order = [group["name"] for group in generated["groups"]]
    spec = tmp_path / "test.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "rule_files": [rules.name],
                "evaluation_interval": interval,
                "group_eval_order": order,
                "tests": tests,
            },
            sort_keys=False,
        )
    )
    result = subprocess.run(
        [require("promtool"), "test", "rules", spec.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _alert(alertname: str, severity: str, description: str, **labels: str) -> dict[str, Any]:
    return {
        "exp_labels": _labels(alertname, severity, **labels),
        "exp_annotations": {
            "summary": f"checkout: {alertname} ({severity})",
            "description": f"checkout: {description}.",
            "runbook_url": RUNBOOK,
        },
    }


def _labels(alertname: str, severity: str, **extra: str) -> dict[str, str]:
    return {"alertname": alertname, "severity": severity, "service_name": "checkout",
            "team": "payments", **extra}  # fmt: skip


def test_generated_rule_file_passes_promtool_check(tmp_path: Path) -> None:
    """promtool check rules accepts the whole generated file."""
    path = tmp_path / "rules.yaml"
    path.write_text(ops.to_yaml(ops.rules(_service())))
    result = subprocess.run(
        [require("promtool"), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_error_ratio_threshold_is_silent_before_for_and_warns_at_it(tmp_path: Path) -> None:
    """2 % 5xx: the warning fires once the condition held 5 minutes; the critical never does."""
    count = "http_server_request_duration_seconds_count"
    series = [
        {"series": f'{count}{{{SVC}, http_response_status_code="500"}}', "values": "0+2x20"},
        {"series": f'{count}{{{SVC}, http_response_status_code="200"}}', "values": "0+98x20"},
    ]
    warning = {
        "exp_labels": _labels("HighErrorRate", "warning"),
        "exp_annotations": {
            "summary": "checkout: HighErrorRate (warning)",
            "description": "checkout: the share of 5xx responses over 5m is 2% (threshold 1 %).",
            "runbook_url": RUNBOOK,
        },
    }
    _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "HighErrorRate", "exp_alerts": []},
                    {"eval_time": "6m", "alertname": "HighErrorRate", "exp_alerts": [warning]},
                ],
            }
        ],
    )


def test_latency_threshold_uses_the_exact_boundaries(tmp_path: Path) -> None:
    """Every request between 200 and 250 ms: p95 is over 200 ms (warning), under 300 ms."""
    bucket = "http_server_request_duration_seconds_bucket"
    series = [
        {"series": f'{bucket}{{{SVC}, le="{le}"}}', "values": values}
        for le, values in (("0.1", "0x20"), ("0.2", "0x20"), ("0.25", "0+10x20"),
                           ("0.3", "0+10x20"), ("+Inf", "0+10x20"))
    ]  # fmt: skip
    warning = {
        "exp_labels": _labels("HighLatency", "warning"),
        "exp_annotations": {
            "summary": "checkout: HighLatency (warning)",
            "description": "checkout: p95 latency over 5m is 247.5ms (threshold 200 ms).",
            "runbook_url": RUNBOOK,
        },
    }
    _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "HighLatency", "exp_alerts": []},
                    {"eval_time": "6m", "alertname": "HighLatency", "exp_alerts": [warning]},
                ],
            }
        ],
    )


def test_cpu_memory_and_brute_force_thresholds(tmp_path: Path) -> None:
    """CPU at 85 % warns, memory at 95 % of its limit is critical, one brute-force alert warns."""
    limit = 512 * 2**20
    series = [
        {"series": f'process_cpu_utilization{{{SVC}, instance="a"}}', "values": "0.85x20"},
        {"series": f'process_memory_usage_bytes{{{SVC}, instance="a"}}',
         "values": f"{int(limit * 0.95)}x20"},
        {"series": f'watchkit_security_alerts_total{{{SVC}, kind="brute_force"}}',
         "values": "0 0 0 1x20"},
    ]  # fmt: skip
    _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "4m", "alertname": "HighCPU", "exp_alerts": []},
                    {
                        "eval_time": "5m",
                        "alertname": "HighCPU",
                        "exp_alerts": [
                            _alert(
                                "HighCPU",
                                "warning",
                                "process CPU utilisation is 85% (threshold 80 %)",
                                instance="a",
                            )
                        ],
                    },
                    {"eval_time": "4m", "alertname": "HighMemory", "exp_alerts": []},
                    {
                        "eval_time": "5m",
                        "alertname": "HighMemory",
                        "exp_alerts": [
                            _alert(
                                "HighMemory",
                                "warning",
                                "process memory is 95% of its 512 MiB limit (threshold 80 %)",
                                instance="a",
                            ),
                            _alert(
                                "HighMemory",
                                "critical",
                                "process memory is 95% of its 512 MiB limit (threshold 90 %)",
                                instance="a",
                            ),
                        ],
                    },
                    {"eval_time": "2m", "alertname": "BruteForceSuspected", "exp_alerts": []},
                    {
                        "eval_time": "3m",
                        "alertname": "BruteForceSuspected",
                        "exp_alerts": [
                            _alert(
                                "BruteForceSuspected",
                                "warning",
                                "1 IPs or users crossed the failed-login limit "
                                "within 10m (security.brute_force_suspected log "
                                "records name them)",
                            )
                        ],
                    },
                ],
            }
        ],
    )


def test_health_and_synthetic_check_thresholds(tmp_path: Path) -> None:
    """A check that warns then fails: warning, then critical, after 2 m; failed journeys count."""
    status = "watchkit_health_check_status"
    runs = "watchkit_synthetic_runs_total"
    series = [
        # pass for 3 minutes, warn for 4, then fail; the other instance keeps passing
        {"series": f'{status}{{{SVC}, health_check_name="db", instance="a"}}',
         "values": "1 1 1 0.5 0.5 0.5 0.5 0x10"},
        {"series": f'{status}{{{SVC}, health_check_name="db", instance="b"}}', "values": "1x20"},
        # one failed run at minute 3, two more at minute 5
        {"series": f'{runs}{{{SVC}, journey="order", result="fail"}}',
         "values": "0 0 0 1 1 3x15"},
        {"series": f'{runs}{{{SVC}, journey="order", result="pass"}}', "values": "0+1x20"},
    ]  # fmt: skip

    def health(severity: str, status_text: str, value: str) -> dict[str, Any]:
        return _alert(
            "HealthCheckFailing", severity,
            f"health check db is {status_text} on at least one instance "
            f"(status {value}: 1 pass, 0.5 warn, 0 fail)",
            health_check_name="db",
        )  # fmt: skip

    def synthetic(severity: str, count: str, limit: str) -> dict[str, Any]:
        return _alert(
            "SyntheticJourneyFailing", severity,
            f"synthetic journey order failed {count} times within 10m (threshold {limit})",
            journey="order",
        )  # fmt: skip

    _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "4m", "alertname": "HealthCheckFailing", "exp_alerts": []},
                    {
                        "eval_time": "5m",
                        "alertname": "HealthCheckFailing",
                        "exp_alerts": [health("warning", "warn or worse", "0.5")],
                    },
                    {
                        "eval_time": "8m",
                        "alertname": "HealthCheckFailing",
                        "exp_alerts": [health("warning", "warn or worse", "0")],
                    },
                    {
                        "eval_time": "9m",
                        "alertname": "HealthCheckFailing",
                        "exp_alerts": [
                            health("warning", "warn or worse", "0"),
                            health("critical", "fail", "0"),
                        ],
                    },
                    {"eval_time": "2m", "alertname": "SyntheticJourneyFailing", "exp_alerts": []},
                    {
                        "eval_time": "3m",
                        "alertname": "SyntheticJourneyFailing",
                        "exp_alerts": [synthetic("warning", "1", "0")],
                    },
                    {
                        "eval_time": "5m",
                        "alertname": "SyntheticJourneyFailing",
                        "exp_alerts": [
                            synthetic("warning", "3", "0"),
                            synthetic("critical", "3", "2"),
                        ],
                    },
                ],
            }
        ],
    )


def test_metric_thresholds_read_gauges_and_counter_rates(tmp_path: Path) -> None:
    """A gauge over its warning for 2 m warns; a counter's rate over its critical pages."""
    series = [
        {"series": f'watchkit_flow_active{{{SVC}, flow_name="checkout", instance="a"}}',
         "values": "150x20"},
        {"series": f'watchkit_flow_active{{{SVC}, flow_name="search", instance="a"}}',
         "values": "5000x20"},
        {"series": f'watchkit_events_total{{{SVC}, event_name="order.placed"}}',
         "values": "0+120x20"},
        {"series": f'watchkit_events_total{{{SVC}, event_name="page.viewed"}}',
         "values": "0+6000x20"},
    ]  # fmt: skip
    _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "1m", "alertname": "CheckoutBacklog", "exp_alerts": []},
                    {"eval_time": "2m", "alertname": "CheckoutBacklog", "exp_alerts": [
                        _alert("CheckoutBacklog", "warning",
                               "watchkit.flow.active is 150 (threshold 100)")]},
                    {"eval_time": "0m", "alertname": "OrderStorm", "exp_alerts": []},
                    {"eval_time": "5m", "alertname": "OrderStorm", "exp_alerts": [
                        _alert("OrderStorm", "critical",
                               "the rate of watchkit.events over 5m is 2 (threshold 1)")]},
                ],
            }
        ],
    )  # fmt: skip


def test_queue_backlog_failure_ratio_and_wait_thresholds(tmp_path: Path) -> None:
    """500 waiting for 2 m warns; 10 % failed jobs for 5 m warn; a 58.5 s p95 wait warns.

    Each alert carries the queue (and the job, for failures) it is about.
    """
    queue = f'{SVC}, messaging_system="redis", messaging_destination_name="emails"'
    jobs = f'watchkit_queue_jobs_total{{{queue}, job_name="send_email"'
    wait = "watchkit_queue_wait_duration_seconds_bucket"
    series = [
        {"series": f'watchkit_queue_depth{{{queue}, instance="a"}}', "values": "50 500x20"},
        # Another queue's short backlog stays silent.
        {"series": f'watchkit_queue_depth{{{SVC}, messaging_destination_name="sms"}}',
         "values": "20x20"},
        {"series": f'{jobs}, job_outcome="success"}}', "values": "0+8x20"},
        {"series": f'{jobs}, job_outcome="retry"}}', "values": "0+1x20"},
        {"series": f'{jobs}, job_outcome="failure"}}', "values": "0+1x20"},
        # Failures of another queue are not this threshold's (it names "emails").
        {"series": f'watchkit_queue_jobs_total{{{SVC}, messaging_destination_name="sms", '
                   f'job_name="send_sms", job_outcome="failure"}}', "values": "0+5x20"},
        # Every wait between 30 s and 60 s: p95 is 58.5 s.
        *({"series": f'{wait}{{{queue}, job_name="send_email", le="{le}"}}', "values": v}
          for le, v in (("10.0", "0x20"), ("30.0", "0x20"), ("60.0", "0+10x20"),
                        ("120.0", "0+10x20"), ("+Inf", "0+10x20"))),
    ]  # fmt: skip
    emails = {"messaging_destination_name": "emails"}
    _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "2m", "alertname": "QueueBacklog", "exp_alerts": []},
                    {"eval_time": "3m", "alertname": "QueueBacklog", "exp_alerts": [
                        _alert("QueueBacklog", "warning",
                               "500 messages are waiting in queue emails (threshold 100)",
                               **emails)]},
                    {"eval_time": "5m", "alertname": "JobFailures", "exp_alerts": []},
                    {"eval_time": "6m", "alertname": "JobFailures", "exp_alerts": [
                        _alert("JobFailures", "warning",
                               "10% of the send_email jobs of queue emails failed over 10m "
                               "(threshold 5 %)", job_name="send_email", **emails)]},
                    {"eval_time": "5m", "alertname": "SlowQueue", "exp_alerts": []},
                    {"eval_time": "6m", "alertname": "SlowQueue", "exp_alerts": [
                        _alert("SlowQueue", "warning",
                               "p95 wait in queue emails over 5m is 58.5s (threshold 30s)",
                               **emails)]},
                ],
            }
        ],
    )  # fmt: skip


def _page(slo: str, ratio: str, what: str = "error") -> dict[str, Any]:
    """The 14.4x page of a 99 %, 30-day SLO whose ratio is ``ratio``."""
    return {
        "exp_labels": _labels("ErrorBudgetBurn", "critical", slo=slo, burn="page",
                              short="5m", long="1h"),
        "exp_annotations": {
            "summary": f"checkout: SLO {slo} burns its error budget 14.4x too fast",
            "description": f"The {what} ratio of SLO {slo} (99 % over 30d) is above 14.4x "
            "its budget over both 1h and 5m; at this rate the budget lasts 50h. "
            f"Current ratio: {ratio}.",
            "runbook_url": RUNBOOK,
        },
    }  # fmt: skip


def _pages_at_3m(tmp_path: Path, series: list[dict[str, Any]], pages: list[Any]) -> None:
    """Silent at 2 m; at 3 m (the page's 2-minute `for` after the first rate), these pages."""
    _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "2m", "alertname": "ErrorBudgetBurn", "exp_alerts": []},
                    {"eval_time": "3m", "alertname": "ErrorBudgetBurn", "exp_alerts": pages},
                ],
            }
        ],
    )


def test_queue_slos_count_failed_jobs_and_long_waits(tmp_path: Path) -> None:
    """20 % failed or dead-lettered jobs, 30 % waits over a minute: both queue SLOs page.

    Retries are in the total but are not failures of the job.
    """
    queue = f'{SVC}, messaging_destination_name="emails", job_name="send_email"'
    jobs, wait = "watchkit_queue_jobs_total", "watchkit_queue_wait_duration_seconds"
    series = [
        {"series": f'{jobs}{{{queue}, job_outcome="success"}}', "values": "0+6x30"},
        {"series": f'{jobs}{{{queue}, job_outcome="retry"}}', "values": "0+2x30"},
        {"series": f'{jobs}{{{queue}, job_outcome="failure"}}', "values": "0+1x30"},
        {"series": f'{jobs}{{{queue}, job_outcome="dead_lettered"}}', "values": "0+1x30"},
        {"series": f'{wait}_bucket{{{queue}, le="60.0"}}', "values": "0+7x30"},
        {"series": f'{wait}_bucket{{{queue}, le="+Inf"}}', "values": "0+10x30"},
        {"series": f"{wait}_count{{{queue}}}", "values": "0+10x30"},
    ]

    _pages_at_3m(tmp_path, series, [_page("jobs", "20%"), _page("jobwait", "30%", "latency")])


def test_fast_burn_pages_and_ticket_waits(tmp_path: Path) -> None:
    """2 % errors against a 99.9 % SLO: the 14.4x page fires after its 2 minutes."""
    count = "http_server_request_duration_seconds_count"
    series = [
        {"series": f'{count}{{{SVC}, http_response_status_code="500"}}', "values": "0+2x30"},
        {"series": f'{count}{{{SVC}, http_response_status_code="200"}}', "values": "0+98x30"},
    ]
    page = _labels("ErrorBudgetBurn", "critical", slo="availability", burn="page",
                   short="5m", long="1h")  # fmt: skip
    _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "2m", "alertname": "ErrorBudgetBurn", "exp_alerts": []},
                    {
                        "eval_time": "3m",
                        "alertname": "ErrorBudgetBurn",
                        "exp_alerts": [
                            {
                                "exp_labels": page,
                                "exp_annotations": {
                                    "summary": "checkout: SLO availability burns its error budget "
                                    "14.4x too fast",
                                    "description": "The error ratio of SLO availability (99.9 % over "  # noqa: E501
                                    "30d) is above 14.4x its budget over both 1h and 5m; "
                                    "at this rate the budget lasts 50h. "
                                    "Current ratio: 2%.",
                                    "runbook_url": RUNBOOK,
                                },
                            },
                        ],
                    },
                ],
            }
        ],
    )


def test_dependency_slo_counts_sdk_calls_and_http_requests_together(tmp_path: Path) -> None:
    """20 % failed calls over two paths to one dependency pages; a failing journey pages too."""
    dep = "watchkit_dependency_duration_seconds_count"
    client = "http_client_request_duration_seconds_count"
    runs = "watchkit_synthetic_duration_seconds_count"
    peer = f'{SVC}, service_peer_name="payments"'
    series = [
        # 10 failed of 50 SDK calls and 10 failed of 50 HTTP requests a minute: 20 %.
        {"series": f"{dep}{{{peer}, watchkit_dependency_outcome=\"success\"}}",
         "values": "0+40x30"},
        {"series": f"{dep}{{{peer}, watchkit_dependency_outcome=\"error\", "
                   f"error_type=\"TimeoutError\"}}", "values": "0+10x30"},
        {"series": f'{client}{{{peer}, http_response_status_code="200"}}', "values": "0+40x30"},
        {"series": f'{client}{{{peer}, http_response_status_code="503", error_type="503"}}',
         "values": "0+10x30"},
        # Another dependency's failures do not count.
        {"series": f'{client}{{{SVC}, service_peer_name="maps", error_type="503"}}',
         "values": "0+100x30"},
        # The journey fails one run in two.
        {"series": f'{runs}{{{SVC}, journey="order", result="pass"}}', "values": "0+1x30"},
        {"series": f'{runs}{{{SVC}, journey="order", result="fail"}}', "values": "0+1x30"},
    ]  # fmt: skip

    _pages_at_3m(tmp_path, series, [_page("payments", "20%"), _page("journey", "50%")])


def test_telemetry_absent_holds_two_minutes_and_spares_a_fresh_prometheus(tmp_path: Path) -> None:
    """target_info stops: silent until 10 quiet minutes plus its 2-minute `for`, then warns.

    A Prometheus started with empty storage has no target_info until its first
    scrape: the `for` keeps that moment from firing the alert.
    """
    absent = {
        "exp_labels": {
            **_labels("TelemetryAbsent", "warning"),
            "deployment_environment_name": "production",
        },
        "exp_annotations": {
            "summary": "checkout: no telemetry",
            "description": "checkout has sent no telemetry for 10m: the service, its exporter or the collector is down.",  # noqa: E501
            "runbook_url": RUNBOOK,
        },
    }
    _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [{"series": f"target_info{{{SVC}}}", "values": "1x5 _x30"}],
                "alert_rule_test": [
                    # Absent from 16m (the last sample, at 5m, left the 10m window).
                    {"eval_time": "17m", "alertname": "TelemetryAbsent", "exp_alerts": []},
                    {"eval_time": "18m", "alertname": "TelemetryAbsent", "exp_alerts": [absent]},
                ],
            },
            {
                # Empty storage: the first sample arrives a minute after the start.
                "interval": "1m",
                "input_series": [{"series": f"target_info{{{SVC}}}", "values": "_ 1x10"}],
                "alert_rule_test": [
                    {"eval_time": "0m", "alertname": "TelemetryAbsent", "exp_alerts": []},
                    {"eval_time": "3m", "alertname": "TelemetryAbsent", "exp_alerts": []},
                ],
            },
        ],
    )


def test_disk_full_soon_and_memory_growth(tmp_path: Path) -> None:
    """Free disk falling 10 MB a minute from 1 GB, memory growing toward its limit: both warn."""
    limit = 512 * 2**20
    series = [
        {"series": f'system_filesystem_usage_bytes{{{SVC}, system_filesystem_state="free", '
                   'system_filesystem_mountpoint="/data"}', "values": "1000000000-10000000x60"},
        {"series": f'process_memory_usage_bytes{{{SVC}, instance="a"}}',
         "values": f"{limit // 2}+{limit // 200}x60"},
    ]  # fmt: skip
    _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "30m", "alertname": "DiskFullSoon", "exp_alerts": []},
                    {
                        "eval_time": "31m",
                        "alertname": "DiskFullSoon",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    **_labels("DiskFullSoon", "warning"),
                                    "deployment_environment_name": "production",
                                    "system_filesystem_state": "free",
                                    "system_filesystem_mountpoint": "/data",
                                },
                                "exp_annotations": {
                                    "summary": "checkout: a filesystem will be full within 4h",
                                    "description": "checkout: at the trend of the last 6 hours, /data runs out of space within 4h.",  # noqa: E501
                                    "runbook_url": RUNBOOK,
                                },
                            }
                        ],
                    },
                    {"eval_time": "30m", "alertname": "MemoryGrowth", "exp_alerts": []},
                    {
                        "eval_time": "31m",
                        "alertname": "MemoryGrowth",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    **_labels("MemoryGrowth", "warning"),
                                    "deployment_environment_name": "production",
                                    "instance": "a",
                                },
                                "exp_annotations": {
                                    "summary": "checkout: memory will reach its limit within 4h",
                                    "description": "checkout: at the trend of the last hour, process memory exceeds 512 MiB within 4h.",  # noqa: E501
                                    "runbook_url": RUNBOOK,
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    )


def test_request_rate_anomaly_against_the_same_hour_last_week(tmp_path: Path) -> None:
    """A rate (and a p95) 19 standard deviations above the same hour a week ago: info alerts."""
    week = 7 * 24 * 12  # 5-minute samples
    last_week = " ".join("10" if i % 2 else "12" for i in range(week))
    slow_week = " ".join("0.1" if i % 2 else "0.12" for i in range(week))
    series = [
        {"series": 'watchkit:http_requests:rate5m{service_name="checkout"}',
         "values": f"{last_week} 30x12"},
        {"series": 'watchkit:http_request_duration_seconds:p95_5m{service_name="checkout"}',
         "values": f"{slow_week} 0.3x12"},
    ]  # fmt: skip
    info = _labels("RequestRateAnomaly", "info")
    latency = {
        "exp_labels": _labels("LatencyAnomaly", "info"),
        "exp_annotations": {
            "summary": "checkout: p95 latency unlike the same hour last week",
            "description": "checkout: p95 latency is 19.19 standard deviations above the same "
            "hour one week earlier.",
            "runbook_url": RUNBOOK,
        },
    }
    _promtool(
        tmp_path,
        [
            {
                "interval": "5m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "168h10m", "alertname": "RequestRateAnomaly", "exp_alerts": []},
                    {"eval_time": "168h10m", "alertname": "LatencyAnomaly", "exp_alerts": []},
                    {
                        "eval_time": "168h20m",
                        "alertname": "LatencyAnomaly",
                        "exp_alerts": [latency],
                    },
                    {
                        "eval_time": "168h20m",
                        "alertname": "RequestRateAnomaly",
                        "exp_alerts": [
                            {
                                "exp_labels": info,
                                "exp_annotations": {
                                    "summary": "checkout: request rate unlike the same hour last week",  # noqa: E501
                                    "description": "checkout: the request rate is 19.19 standard deviations from the same hour one week earlier.",  # noqa: E501
                                    "runbook_url": RUNBOOK,
                                },
                            }
                        ],
                    },
                ],
            }
        ],
        interval="5m",
    )


def test_request_rate_near_capacity_from_the_trend(tmp_path: Path) -> None:
    """Traffic growing 2 req/s a minute: past 200 req/s within the hour from minute 41, +15 m."""
    series = [
        {"series": 'watchkit:http_requests:rate5m{service_name="checkout"}', "values": "0+2x90"},
    ]
    warning = {
        "exp_labels": _labels("RequestRateNearCapacity", "warning"),
        "exp_annotations": {
            "summary": "checkout: traffic will exceed capacity within 1h",
            "description": "checkout: at the trend of the last hour, the request rate passes "
            "200/s within 1h.",
            "runbook_url": RUNBOOK,
        },
    }
    _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "55m", "alertname": "RequestRateNearCapacity", "exp_alerts": []},
                    {
                        "eval_time": "56m",
                        "alertname": "RequestRateNearCapacity",
                        "exp_alerts": [warning],
                    },
                ],
            }
        ],
    )


@pytest.mark.parametrize("objective", [0.999, 0.95])
def test_burn_thresholds_scale_with_the_budget(objective: float) -> None:
    """The page threshold is 14.4 times the budget (Google SRE workbook, 30 days)."""
    svc = ops.service("s", slos=[ops.slo("a", objective=objective)], anomalies=False)
    alerts = ops.rules(svc)["groups"][1]["rules"]
    assert alerts[0]["expr"].split(" > ")[1].startswith(f"{14.4 * (1 - objective):.6g}")
    assert [a["for"] for a in alerts] == ["2m", "15m", "1h", "3h"]


def test_brute_force_rule_fires_on_a_process_first_alert(tmp_path: Path) -> None:
    """Samples exported by a real LoginMonitor, one per minute, fed to the generated rule.

    The alert series is exported at 0 before the first alert (``start_at_zero``): a
    series that first appeared at 1 would show no increase and the rule would stay silent.
    """
    from watchkit.security import LoginMonitor
    from watchkit.testing import capture

    def sample(telemetry: Any) -> str:
        points = telemetry.metric_points("watchkit.security.alerts", {"kind": "brute_force"})
        return str(int(points[0].value)) if points else "_"

    with capture() as telemetry:
        monitor = LoginMonitor(max_failures=1, window=60)
        before = sample(telemetry)
        monitor.record(False, source_ip="203.0.113.9")
        monitor.record(False, source_ip="203.0.113.9")
        after = sample(telemetry)
    assert (before, after) == ("0", "1")
    series = f'watchkit_security_alerts_total{{{SVC}, kind="brute_force"}}'
    fired = _alert(
        "BruteForceSuspected",
        "warning",
        "1 IPs or users crossed the failed-login limit within 10m "
        "(security.brute_force_suspected log records name them)",
    )
    _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [{"series": series, "values": f"{before} {after}x10"}],
                "alert_rule_test": [
                    {"eval_time": "1m", "alertname": "BruteForceSuspected", "exp_alerts": [fired]}
                ],
            }
        ],
    )


def test_thresholds_on_the_application_own_metrics(tmp_path: Path) -> None:
    """Business metrics from YAML: a counter's rate, a histogram's p95 and an up-down counter,
    under the Prometheus names their instrument and unit give."""
    declaration = tmp_path / "ops.yaml"
    declaration.write_text(
        """
services:
  - name: checkout
    environment: production
    team: payments
    runbook_url: https://runbooks.example.com/checkout
    thresholds:
      - name: PaymentsFailing
        kind: metric
        metric: payments.failed
        instrument: counter
        unit: "{payment}"
        selector: {payment.provider: stripe}
        warning: 0.05
        for: 2m
      - name: SlowKitchen
        kind: metric
        metric: kitchen.preparation.duration
        instrument: histogram
        unit: s
        critical: 1
        for: 0m
      - name: OpenCarts
        kind: metric
        metric: carts.open
        instrument: up_down_counter
        unit: "{cart}"
        warning: 100
        for: 0m
"""
    )
    (service,) = ops.load_yaml(declaration)
    failed = 'payments_failed_total{%s, payment_provider="%s"}'
    prep = 'kitchen_preparation_duration_seconds_bucket{%s, le="%s"}'
    series = [
        {"series": failed % (SVC, "stripe"), "values": "0+6x20"},  # 0.1 per second
        {"series": failed % (SVC, "adyen"), "values": "0+60x20"},  # not selected
        {"series": prep % (SVC, "1.0"), "values": "0+1x20"},
        {"series": prep % (SVC, "5.0"), "values": "0+10x20"},
        {"series": prep % (SVC, "+Inf"), "values": "0+10x20"},
        {"series": f"carts_open{{{SVC}}}", "values": "150x20"},
    ]
    _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "6m", "alertname": "PaymentsFailing",
                     "exp_alerts": [_alert("PaymentsFailing", "warning",
                                           "the rate of payments.failed over 5m is 100m "
                                           "(threshold 0.05)")]},
                    {"eval_time": "6m", "alertname": "SlowKitchen",
                     "exp_alerts": [_alert("SlowKitchen", "critical",
                                           "p95 of kitchen.preparation.duration over 5m is "
                                           "4.778 (threshold 1)")]},
                    {"eval_time": "1m", "alertname": "OpenCarts",
                     "exp_alerts": [_alert("OpenCarts", "warning",
                                           "carts.open is 150 (threshold 100)")]},
                ],
            }
        ],
        service=service,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"metric": "payments.failed"},
            r"thresholds\[0\]\.instrument is required.*watchkit\.flow\.active",
        ),
        ({"metric": "payments.failed", "instrument": "summary"}, "'up_down_counter'"),
        ({"metric": "watchkit.made.up", "instrument": "counter"}, r"thresholds\[0\]\.metric"),
        ({"metric": "payments failed", "instrument": "counter"}, "your own metric's name"),
        ({"metric": "watchkit.events", "unit": "s"}, r"thresholds\[0\]\.unit is only accepted"),
        ({"metric": "payments.failed", "instrument": "counter", "unit": 5}, "UCUM unit"),
    ],
)
def test_own_metric_threshold_errors_name_the_field(
    tmp_path: Path, spec: dict[str, Any], message: str
) -> None:
    """Python and YAML declarations fail the same way, naming the field."""
    with pytest.raises(ConfigError, match=message):
        ops.threshold("X", kind="metric", warning=1, **spec)
    declaration = tmp_path / "ops.yaml"
    entry = {"name": "X", "kind": "metric", "warning": 1, **spec}
    declaration.write_text(yaml.safe_dump({"services": [{"name": "s", "thresholds": [entry]}]}))
    with pytest.raises(ConfigError, match=message):
        ops.load_yaml(declaration)
    with pytest.raises(ConfigError, match=r"thresholds\[0\]\.instrument is only accepted"):
        ops.threshold("X", kind="cpu", warning=0.5, instrument="counter")


def _routed_service() -> ops.Service:
    return ops.service(
        "checkout",
        environment="production",
        team="payments",
        runbook_url=RUNBOOK,
        capacity=ops.capacity(
            disk_horizon="4h",
            team="platform",
            runbook_url="https://runbooks.example.com/disk",
            labels={"tier": "infra"},
            severity="critical",
        ),
        anomalies={"team": "sre", "severity": "warning"},
        absent_alert={"runbook_url": "https://runbooks.example.com/absent", "severity": "critical"},
    )


def test_capacity_anomaly_and_absent_alerts_have_their_own_routing(tmp_path: Path) -> None:
    """Team, runbook, labels and severity declared per group reach the firing alerts."""
    env = {"deployment_environment_name": "production"}
    disk = {
        "exp_labels": {
            **_labels("DiskFullSoon", "critical"),
            **env,
            "team": "platform",
            "tier": "infra",
            "system_filesystem_state": "free",
            "system_filesystem_mountpoint": "/data",
        },
        "exp_annotations": {
            "summary": "checkout: a filesystem will be full within 4h",
            "description": "checkout: at the trend of the last 6 hours, /data runs out of space within 4h.",  # noqa: E501
            "runbook_url": "https://runbooks.example.com/disk",
        },
    }
    absent = {
        "exp_labels": {**_labels("TelemetryAbsent", "critical"), **env},
        "exp_annotations": {
            "summary": "checkout: no telemetry",
            "description": "checkout has sent no telemetry for 10m: the service, its exporter or the collector is down.",  # noqa: E501
            "runbook_url": "https://runbooks.example.com/absent",
        },
    }
    free = (
        f'system_filesystem_usage_bytes{{{SVC}, system_filesystem_state="free", '
        'system_filesystem_mountpoint="/data"}'
    )
    _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [
                    {"series": free, "values": "1000000000-10000000x60"},
                    {"series": f"target_info{{{SVC}}}", "values": "1x5 _x30"},
                ],
                "alert_rule_test": [
                    {"eval_time": "31m", "alertname": "DiskFullSoon", "exp_alerts": [disk]},
                    {"eval_time": "18m", "alertname": "TelemetryAbsent", "exp_alerts": [absent]},
                ],
            }
        ],
        service=_routed_service(),
    )
    rules = {
        rule["alert"]: rule
        for group in ops.rules(_routed_service())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    for name in ("RequestRateAnomaly", "LatencyAnomaly"):
        assert rules[name]["labels"]["team"] == "sre"
        assert rules[name]["labels"]["severity"] == "warning"
        assert rules[name]["annotations"]["runbook_url"] == RUNBOOK  # the service's, not set
    # Undeclared groups keep the service's routing and their usual severities.
    plain = {
        rule["alert"]: rule
        for group in ops.rules(_service())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert plain["RequestRateAnomaly"]["labels"]["severity"] == "info"
    assert plain["DiskFullSoon"]["labels"]["severity"] == "warning"
    assert plain["DiskFullSoon"]["labels"]["team"] == "payments"
    assert plain["TelemetryAbsent"]["annotations"]["runbook_url"] == RUNBOOK


def test_alert_group_routing_errors_name_the_field() -> None:
    """A bad severity or an unknown key names the group and the field."""
    from watchkit import ConfigError
    from watchkit.ops._declare import from_mapping

    with pytest.raises(ConfigError, match=r"capacity\.severity = 'page'.*critical, warning, info"):
        ops.capacity(severity="page")
    with pytest.raises(ConfigError, match=r"anomalies\.owner is not a known field"):
        ops.service("s", anomalies={"owner": "x"})
    with pytest.raises(ConfigError, match=r"absent_alert\.severity"):
        ops.service("s", absent_alert={"severity": 3})
    with pytest.raises(ConfigError, match=r"anomalies = 'yes'"):
        ops.service("s", anomalies="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"services\[0\]\.capacity\.team"):
        from_mapping({"services": [{"name": "s", "capacity": {"team": 5}}]})
    svc = from_mapping(
        {"services": [{"name": "s", "anomalies": {"severity": "warning"},
                       "absent_alert": {"team": "oncall"}}]}
    )[0]  # fmt: skip
    assert (svc.anomalies, svc.anomaly_severity, svc.absent_routing.team) == (
        True,
        "warning",
        "oncall",
    )
