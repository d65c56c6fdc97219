"""The one way every `python -m <package>` reports a user's mistake: one line on stderr, exit code 2."""
from __future__ import annotations

import sys
from typing import Callable

from prompts.tasks import DataError, UsageError


def run(main: Callable[[list[str]], int | None], argv: list[str] | None = None) -> int:
    try:
        return main(sys.argv[1:] if argv is None else argv) or 0
    except (UsageError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
