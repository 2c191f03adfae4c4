"""`python -m core.pretrained [NAME]`: fetch named weights (default fer2013) into the cache and
print where they are kept. Cluster nodes run it at setup, so that trials, which never fetch, find
the file; the fetching, hashing and caching are core.model.pretrained's, whose names this module
still answers for code written when both lived here.
"""

from __future__ import annotations

import sys
from typing import Any

from .cli import Parser, exits_cleanly
from .model import pretrained as library
from .model.pretrained import FER2013, NAMED_WEIGHTS, fetch_weights, named


def main(argv: list[str] | None = None) -> int:
    """Fetch named weights (default fer2013) and print where they are kept."""

    @exits_cleanly
    def run() -> int:
        parser = Parser(
            prog="python -m core.pretrained",
            description="Fetch named pretrained weights into the cache (trials never fetch).",
        )
        parser.add_argument("name", nargs="?", default=FER2013.name, choices=list(NAMED_WEIGHTS))
        args = parser.parse_args(argv)
        print(fetch_weights(named(args.name), say=lambda line: print(line, file=sys.stderr)))
        return 0

    return run()


def __getattr__(name: str) -> Any:
    return getattr(library, name)


if __name__ == "__main__":
    raise SystemExit(main())
