"""What the bookings example declares: thresholds, business alerts, and one runbook per alert."""

from __future__ import annotations

import re

import yaml
from examples.bookings.ops.__main__ import GENERATED

from watchkit import ops

RUNBOOKS = GENERATED.parents[1] / "runbooks"


def _rules() -> list[dict[str, object]]:
    document = yaml.safe_load((GENERATED / "rules.yaml").read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def _page(name: str) -> str:
    """The runbook page of an alert: ``HighCPU`` -> ``high-cpu.md``."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "-", name).lower() + ".md"


def test_declarations_carry_the_thresholds_and_business_alerts() -> None:
    (service,) = ops.load_yaml(GENERATED.parent / "ops.yaml")
    levels = {t.name: (t.warning, t.critical) for t in service.thresholds}
    assert levels["HighLatency"] == (0.2, 0.3)
    assert levels["HighErrorRate"] == (0.01, 0.03)
    mismatch = next(t for t in service.thresholds if t.name == "PaymentStatusMismatch")
    assert mismatch.selector == {"event.name": "payment.status_mismatch"}
    assert {s.dependency for s in service.slos if s.dependency} == {"payments", "sms", "email"}


def test_every_alert_has_a_runbook_its_annotation_points_to() -> None:
    """One page per alert name; every runbook_url names an existing page (and heading)."""
    rules = _rules()
    names = {str(rule["alert"]) for rule in rules}
    pages = {p.name for p in RUNBOOKS.glob("*.md")} - {"README.md"}
    assert {_page(name) for name in names} == pages
    index = (RUNBOOKS / "README.md").read_text(encoding="utf-8")
    for rule in rules:
        url = rule["annotations"]["runbook_url"]  # type: ignore[index]
        match = re.fullmatch(r"https://\S+/examples/bookings/runbooks/([\w.-]+)(?:#([\w-]+))?", url)
        assert match, url
        page, anchor = match.groups()
        text = (RUNBOOKS / page).read_text(encoding="utf-8")
        if anchor:
            assert f"\n## {anchor}\n" in text, (rule["alert"], url)
        if page == "README.md":  # alerts without a page of their own in ops.yaml
            assert f"({_page(str(rule['alert']))})" in index, rule["alert"]
        else:
            assert page == _page(str(rule["alert"])) or rule["alert"] == "ErrorBudgetBurn"
