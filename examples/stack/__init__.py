"""A local Prometheus and Alertmanager for the examples: ``python -m examples.stack``.

Starts Debian's Prometheus with the generated rules, scraping watchkit's
``/metrics`` endpoint (``watchkit.configure(prometheus_port=...)``), and an
Alertmanager with the generated routing, so the generated alerts can be seen
pending and firing on a laptop. See docs/ops.md, "See the generated alerts
fire locally".
"""
