"""``python -m plait``: a short tour; ``python -m plait worker ...``: job workers."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the tour, or the ``worker`` command of the durable job backend."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "worker":
        from ._jobs.durable._cli import main as worker_main

        return worker_main(args[1:])
    if args and args[0] not in ("tour",):
        print(
            "usage: python -m plait [tour]\n       python -m plait worker --help",
            file=sys.stderr,
        )
        return 2
    from ._tour import tour

    tour()
    return 0


if __name__ == "__main__":
    sys.exit(main())
