"""Operations as code: SLOs and thresholds to Prometheus rules, Alertmanager routing and dashboards.

Declare what matters once, in Python or in a YAML file, and generate the files
your Prometheus, Alertmanager and Grafana read. Metric and label names come
from the same module the instruments are named from, so a rule cannot query a
name watchkit does not emit, and latency thresholds are checked against the
histogram's bucket boundaries when they are declared.

Example:
    >>> from watchkit import ops
    >>> checkout = ops.service(
    ...     "checkout",
    ...     team="payments",
    ...     slos=[ops.slo("availability", objective=0.999)],
    ...     thresholds=[
    ...         ops.threshold("HighLatency", kind="latency", warning="200ms", critical="300ms"),
    ...     ],
    ... )
    >>> [group["name"] for group in ops.rules(checkout)["groups"]][:2]
    ['watchkit-slo-checkout-availability-sli', 'watchkit-slo-checkout-availability-alerts']
"""

from __future__ import annotations

import os

from watchkit.ops._alertmanager import alertmanager
from watchkit.ops._dashboard import dashboard
from watchkit.ops._declare import capacity, service, slo, threshold
from watchkit.ops._model import SLO, Capacity, Routing, Service, Threshold
from watchkit.ops._report import Report, SLOCompliance, report
from watchkit.ops._rules import rules

__all__ = [  # noqa: RUF022 - plain sorted(), as the public-API test checks
    "Capacity",
    "Report",
    "Routing",
    "SLO",
    "SLOCompliance",
    "Service",
    "Threshold",
    "alertmanager",
    "capacity",
    "dashboard",
    "load_yaml",
    "report",
    "rules",
    "service",
    "slo",
    "threshold",
    "to_yaml",
]


def load_yaml(path: str | os.PathLike[str]) -> list[Service]:
    """The services declared in a YAML file (``services: [...]``); needs ``watchkit[ops]``.

    Raises:
        ConfigError: invalid YAML or an invalid value; the message names the
            file and the field, e.g. ``services[0].slos[1].objective``.
        OSError: the file cannot be read.
    """
    from watchkit.ops._yaml import load

    return load(path)


def to_yaml(document: object) -> str:
    """YAML text of a generated rule file or Alertmanager configuration; needs ``watchkit[ops]``."""
    from watchkit.ops._yaml import dump

    return dump(document)
