"""``python -m watchkit``: command-line tools.

Commands:
    audit verify FILE [FILE ...]
                         check the hash chains of audit spool, quarantine or
                         exported JSON-lines files (checked as one set: an
                         export plus the quarantine file fill each other's
                         gaps); exit 0 if intact, 1 at the first break
                         (printed with its line number and reason), 2 if a
                         file cannot be read. A torn last line (crash
                         mid-write) is reported as a warning, not a break.
    audit quarantine list [--dir DIR]
                         show the audit records the collector rejected for
                         good; exit 1 if the file has unreadable lines.
    audit quarantine resend [--dir DIR] [--endpoint URL]
                         send them again (OTLP settings from the environment,
                         as configure() reads them); each record accepted is
                         removed from the quarantine. Exit 0 when the
                         quarantine is empty afterwards, 1 otherwise.
    rules --from FILE    a Prometheus rule file for the services declared in
                         FILE (YAML); alertmanager writes the routing tree and
                         dashboard --from FILE one Grafana dashboard (JSON)
                         per service. Exit 2 on an invalid declaration.
    synthetic run MODULE [--once | --interval N] [--base-url URL]
                         run the synthetic journeys MODULE declares, every
                         N seconds or once (exit 1 if a journey failed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m watchkit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    audit = commands.add_parser("audit", help="audit trail tools")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify", help="check the hash chain of audit spool, quarantine or JSON-lines exports"
    )
    verify.add_argument("files", nargs="+", metavar="FILE", help="JSON-lines files")
    quarantine = audit_commands.add_parser(
        "quarantine", help="records the collector rejected for good"
    )
    quarantine_commands = quarantine.add_subparsers(dest="quarantine_command", required=True)
    for name, text in (
        ("list", "show the quarantined audit records"),
        ("resend", "send the quarantined audit records again"),
    ):
        sub = quarantine_commands.add_parser(name, help=text)
        sub.add_argument(
            "--dir",
            help="the audit spool directory (default: audit_spool_dir as configure() "
            "resolves it from WATCHKIT_AUDIT_SPOOL_DIR and OTEL_SERVICE_NAME)",
        )
        if name == "resend":
            sub.add_argument("--endpoint", help="OTLP endpoint (default: from the environment)")
    _ops_parsers(commands)
    from watchkit.synthetic._cli import add_parser as add_synthetic_parser

    add_synthetic_parser(commands)
    return parser


def _verify(files: Sequence[str]) -> int:
    from watchkit._audit.verify import verify_files

    try:
        result = verify_files(files)
    except OSError as error:
        print(f"cannot read {error.filename}: {error.strerror or error}", file=sys.stderr)
        return 2
    if result.ok:
        extra = f" ({result.quarantined} of them from the quarantine)" if result.quarantined else ""
        print(f"OK: {result.records} audit records, chain intact{extra}")
        if result.note:
            print(f"warning: {result.note}")
        return 0
    where = f"{result.file} line {result.line}" if len(files) > 1 else f"line {result.line}"
    print(f"BROKEN at {where}: {result.reason} ({result.records} records verified before it)")
    return 1


def _quarantine(args: argparse.Namespace) -> int:
    from watchkit._audit.shipper import resend_quarantine, spool_dir
    from watchkit._audit.spool import Quarantine
    from watchkit._exceptions import ConfigError
    from watchkit._internal.settings import resolve

    endpoint = getattr(args, "endpoint", None)
    try:
        settings = resolve(endpoint=endpoint)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    quarantine = Quarantine(args.dir or spool_dir(settings))
    try:
        contents = quarantine.read()
    except OSError as error:
        print(f"cannot read {quarantine.path}: {error.strerror or error}", file=sys.stderr)
        return 2
    for number, problem in contents.problems:
        print(
            f"{quarantine.path} line {number}: {problem}; the line is kept, nothing was removed",
            file=sys.stderr,
        )
    if args.quarantine_command == "list":
        if not contents.records:
            print(f"no audit records in quarantine ({quarantine.path})")
        else:
            print(f"{len(contents.records)} audit records in quarantine ({quarantine.path}):")
        for number, record in contents.records:
            attributes = record["attributes"]
            meta = record.get("quarantine") or {}
            print(
                f"  line {number}: {attributes.get('event.name')} "
                f"actor={attributes.get('audit.actor')} seq={attributes.get('audit.seq')} "
                f"stream={attributes.get('audit.stream')} "
                f"rejected: {meta.get('reason', '?')} at {meta.get('time', '?')}"
            )
        return 1 if contents.problems else 0
    if settings.exporter != "otlp":
        print(
            "no OTLP endpoint configured: set OTEL_EXPORTER_OTLP_ENDPOINT or pass --endpoint",
            file=sys.stderr,
        )
        return 2
    report = resend_quarantine(settings, quarantine, contents)
    print(f"re-sent {report.sent} audit records; {report.remaining} left in {quarantine.path}")
    for number, reason in report.rejected:
        print(f"  line {number}: rejected again ({reason})")
    if report.failure:
        print(f"stopped: {report.failure}", file=sys.stderr)
    return 0 if report.remaining == 0 and not contents.problems else 1


def _ops_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, text in (
        ("rules", "Prometheus rules (SLIs, burn rates, thresholds, anomalies, capacity)"),
        ("dashboard", "Grafana dashboards, one per declared service"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--from", dest="source", required=True, help="declaration file (YAML)")
        sub.add_argument("-o", "--output", help="file to write (default: standard output)")
        if name == "dashboard":
            sub.add_argument("--service", help="the service (default: the first declared)")
    manager = commands.add_parser("alertmanager", help="Alertmanager routing by severity")
    manager.add_argument("-o", "--output", help="file to write (default: standard output)")
    report = commands.add_parser(
        "report", help="SLO and performance report for a period, from a Prometheus"
    )
    report.add_argument("--from", dest="source", required=True, help="declaration file (YAML)")
    report.add_argument("--prometheus", required=True, help="Prometheus URL, http://host:9090")
    report.add_argument("--period", default="7d", help="how far back: 1d, 7d, 30d (default 7d)")
    report.add_argument("--end", type=float, help="end of the period, unix seconds (default now)")
    report.add_argument(
        "--step", help="chart resolution (default: period / 120, min. 1m or period / 10)"
    )
    report.add_argument("--service", help="only this service (default: every declared one)")
    report.add_argument(
        "-o", "--output", required=True,
        help="report.md (charts as SVG files beside it) or report.html (self-contained)",
    )  # fmt: skip


def _ops(args: argparse.Namespace) -> int:
    import json

    from watchkit import ConfigError, ops

    if args.command == "alertmanager":
        text = ops.to_yaml(ops.alertmanager())
    else:
        try:
            services = ops.load_yaml(args.source)
        except (ConfigError, OSError) as error:
            print(f"watchkit {args.command}: {error}", file=sys.stderr)
            return 2
        if args.command == "report":
            return _report(args, services)
        if args.command == "rules":
            text = ops.to_yaml(ops.rules(services))
        else:
            chosen = [s for s in services if args.service in (None, s.name)][:1]
            if not chosen:
                known = ", ".join(s.name for s in services)
                print(f"watchkit dashboard: --service {args.service!r} is not declared; "
                      f"use one of: {known}", file=sys.stderr)  # fmt: skip
                return 2
            text = json.dumps(ops.dashboard(chosen[0]), indent=2) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as stream:
            stream.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _report(args: argparse.Namespace, services: list[Any]) -> int:
    from watchkit import ConfigError, ops

    chosen = [s for s in services if args.service in (None, s.name)]
    if not chosen:
        known = ", ".join(s.name for s in services)
        print(f"watchkit report: --service {args.service!r} is not declared; use one of: {known}",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        made = ops.report(chosen, args.prometheus, period=args.period, end=args.end, step=args.step)
    except ConfigError as error:
        print(f"watchkit report: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"watchkit report: {error}", file=sys.stderr)
        return 1
    for path in made.write(args.output):
        print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    if args.command in ("rules", "alertmanager", "dashboard", "report"):
        return _ops(args)
    if args.command == "audit" and args.audit_command == "verify":
        return _verify(args.files)
    if args.command == "audit" and args.audit_command == "quarantine":
        return _quarantine(args)
    if args.command == "synthetic":
        from watchkit._configure import configure, current, shutdown
        from watchkit.synthetic._cli import main as synthetic_main

        return synthetic_main(
            args,
            configure=configure,
            is_configured=lambda: current() is not None,
            shutdown=shutdown,
        )
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
