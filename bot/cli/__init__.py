"""CLI: the `frontrow` command; each command group's module registers its commands on import."""

from __future__ import annotations

import gc
import sys

from bot.cli.base import cli

# Each module adds its commands to `cli`; `frontrow --help` lists them in this order.
# isort: off
from bot.cli import run, drafts, people, listening, rules, answers, init, demo  # noqa: F401
# isort: on

__all__ = ["cli", "main"]


def main() -> None:
    try:
        if not people.who_without_typer(sys.argv[1:]):  # `who` answers without typer's coercion: fast
            cli()
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        # The interpreter's exit collects every object still alive, seconds on a busy machine after
        # `run` (Docker's stop allows 10): everything is closed by now, so leave those to the OS.
        gc.freeze()


if __name__ == "__main__":
    main()
