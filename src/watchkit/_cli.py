"""``python -m watchkit``: command-line tools.

Commands:
    audit verify FILE    check the hash chain of an audit spool or exported
                         JSON-lines file; exit 0 if intact, 1 at the first
                         break (printed with its line number and reason),
                         2 if the file cannot be read. A torn last
                         line (crash mid-write) is reported as a
                         warning, not a break.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m watchkit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    audit = commands.add_parser("audit", help="audit trail tools")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify", help="check the hash chain of an audit spool or JSON-lines export"
    )
    verify.add_argument("file", help="path of the JSON-lines file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "audit" and args.audit_command == "verify":
        from watchkit._audit.verify import verify_file

        try:
            result = verify_file(args.file)
        except OSError as error:
            print(f"cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
            return 2
        if result.ok:
            print(f"OK: {result.records} audit records, chain intact")
            if result.note:
                print(f"warning: {result.note}")
            return 0
        print(
            f"BROKEN at line {result.line}: {result.reason} "
            f"({result.records} records verified before it)"
        )
        return 1
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
