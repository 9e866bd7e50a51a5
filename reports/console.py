"""``cot-proofcheck``: one console script in front of the ``python -m`` commands.

    cot-proofcheck report [OPTIONS]      = python -m reports            (run the checks, render the report)
    cot-proofcheck diff OLD NEW          = python -m reports diff       (compare two results.json; CI gate)
    cot-proofcheck list                  = python -m reports --list     (claim ids and titles)
    cot-proofcheck integrate [OPTIONS]   = python -m dynamics.integrate (the reduced gradient flow)
    cot-proofcheck bench NAME [OPTIONS]  = python -m bench              (benchmarks)
"""

from __future__ import annotations

import sys

COMMANDS = ("report", "diff", "list", "integrate", "bench")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    if argv[0] == "--version":
        from reports import __version__

        print(f"cot-proofcheck {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command == "report":
        from reports.cli import main as run
    elif command == "diff":
        from reports.diff import main as run
    elif command == "list":
        from reports.cli import main as report_main

        return report_main(["--list", *rest])
    elif command == "integrate":
        from dynamics.integrate import main as run
    elif command == "bench":
        from bench.cli import main as run
    else:
        print(f"cot-proofcheck: error: unknown command {command!r} (choose one of: {', '.join(COMMANDS)})",
              file=sys.stderr)
        return 2
    return run(rest)


if __name__ == "__main__":
    sys.exit(main())
