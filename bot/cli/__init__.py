"""CLI: the `frontrow` command — thin modules, one per command group, registered on import."""

from __future__ import annotations

import sys

from bot.cli import drafts, listening, people, rules, run, start  # noqa: F401  (they register commands)
from bot.cli.base import cli

__all__ = ["cli", "main"]


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
