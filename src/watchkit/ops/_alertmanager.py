"""An Alertmanager routing tree for the alerts the rules generator writes.

``critical`` goes to the pager receiver, ``warning`` to chat and ``info`` to
email; alerts are grouped by service and alert name, and a critical alert
silences the warning of the same alert for the same service and the same SLO,
route, check, journey, queue or job, so one incident pages once instead of
paging and chatting. The receivers are named, with empty configurations the
user fills in (or replaces with ``webhook_urls``, as the tests do).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchkit._exceptions import ConfigError
from watchkit.ops import _promnames as names

__all__ = ["alertmanager"]

_DEFAULT_RECEIVERS = {"critical": "pager", "warning": "chat", "info": "email"}


def alertmanager(
    *,
    receivers: Mapping[str, str] | None = None,
    webhook_urls: Mapping[str, str] | None = None,
    group_wait: str = "30s",
    group_interval: str = "5m",
    repeat_interval: str = "4h",
) -> dict[str, Any]:
    """An Alertmanager configuration routing watchkit's alerts by severity.

    Args:
        receivers: receiver name per severity (default ``pager``, ``chat``, ``email``).
        webhook_urls: a webhook URL per receiver name; receivers without one are
            left empty for you to configure (PagerDuty, Slack, email ...).
        group_wait: how long the first alert of a group waits for company.
        group_interval: how long before a changed group is notified again.
        repeat_interval: how long before an unchanged firing group is repeated.

    Returns:
        The configuration as a mapping, ready for YAML.

    Raises:
        ConfigError: a severity or a webhook receiver is unknown.
    """
    names_by_severity = dict(_DEFAULT_RECEIVERS)
    for severity, receiver in (receivers or {}).items():
        if severity not in _DEFAULT_RECEIVERS:
            raise ConfigError(
                f"receivers[{severity!r}] is not accepted; use the severities "
                + ", ".join(_DEFAULT_RECEIVERS)
            )
        if not isinstance(receiver, str) or not receiver:
            raise ConfigError(f"receivers[{severity!r}] = {receiver!r}: use a receiver name")
        names_by_severity[severity] = receiver
    hooks = dict(webhook_urls or {})
    for receiver in hooks:
        if receiver not in names_by_severity.values():
            raise ConfigError(
                f"webhook_urls[{receiver!r}] names no receiver; use one of: "
                + ", ".join(names_by_severity.values())
            )
    group_by = [names.LABEL_SERVICE, "alertname"]
    # What tells two alerts of one name apart: a critical HighLatency on one
    # route, or a critical QueueBacklog on one queue, says nothing of another's.
    same = [names.LABEL_SERVICE, "alertname", "slo", "route", names.LABEL_HEALTH_CHECK,
            names.LABEL_JOURNEY, names.LABEL_QUEUE, names.LABEL_JOB_NAME]  # fmt: skip
    out_receivers: list[dict[str, Any]] = []
    for receiver in dict.fromkeys(names_by_severity.values()):
        entry: dict[str, Any] = {"name": receiver}
        if receiver in hooks:
            entry["webhook_configs"] = [{"url": hooks[receiver], "send_resolved": True}]
        out_receivers.append(entry)
    return {
        "route": {
            "receiver": names_by_severity["info"],
            "group_by": group_by,
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
            "routes": [
                {"receiver": names_by_severity[severity], "matchers": [f'severity="{severity}"']}
                for severity in ("critical", "warning", "info")
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity=~"warning|info"'],
                # Without `equal`, one page would silence every other warning;
                # separate lists, or YAML writes an anchor and an alias.
                "equal": list(same),
            },
            {
                "source_matchers": ['severity="warning"'],
                "target_matchers": ['severity="info"'],
                "equal": list(same),
            },
        ],
        "receivers": out_receivers,
    }
