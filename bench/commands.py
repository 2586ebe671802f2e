"""`frontrow who` end to end against `frontrow --help`, side by side in one run; and the import of
the service entry (`import bot.service.serve`) in the same rounds, beside `python -c pass`, `import mastodon`
and `import bot.service.app` (what `frontrow run` then loads in build_app).

A store command should answer about as fast as the help: `who` ≤ 1.5 × `--help` (median of
alternating pairs, the order flipping every pair, after one warm-up of each). Prints the median and
range of each, the ratio of wall times and of CPU times, the children's CPU seconds and the load
average beside them. The service entry's import should take ≤ 0.9 s (issue 15, target 4).

    python bench/commands.py [--pairs 9]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import child_env, frontrow_config, median, table, verdict, write_config
from bot.model import Account
from bot.store import Store

TARGET = 1.5
IMPORT_TARGET = 0.9
FRONTROW = str(Path(sys.executable).with_name("frontrow"))


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one child run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=9)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="frontrow-bench-commands-"))
    try:
        url = f"sqlite:///{workdir / 'frontrow.db'}"
        base_url, token = "https://bench.example", "bench-token"  # offline: nothing is contacted
        store = Store.open(url)
        now = datetime.now(UTC)
        store.claim("bot@bench.example", base_url, token, now)
        store.remember_person(Account(id="7", acct="fan", username="fan", display_name="Fan"), now)
        store.close()
        config = write_config(workdir / "config.toml", frontrow_config(base_url, token, url, "alice"))
        env = child_env()
        runs = {
            "--help": [FRONTROW, "--help"],
            "who fan": [FRONTROW, "--config", str(config), "who", "fan"],
            "import service": [sys.executable, "-c", "import bot.service.serve"],
            # Baselines of the import (issue 15, target 4): the interpreter alone, and Mastodon.py.
            "python -c pass": [sys.executable, "-c", "pass"],
            "import mastodon": [sys.executable, "-c", "import mastodon"],
            # What `frontrow run` loads at first use (build_app): deferred, not gone.
            "import app": [sys.executable, "-c", "import bot.service.app"],
        }
        walls: dict[str, list[float]] = {name: [] for name in runs}
        cpus: dict[str, list[float]] = {name: [] for name in runs}
        for argv in runs.values():
            timed(argv, env)  # warm-up: the page cache, the bytecode
        loads = [os.getloadavg()[0]]
        for pair in range(args.pairs):
            order = list(runs) if pair % 2 == 0 else list(reversed(runs))  # who and --help alternate
            for name in order:
                wall, cpu = timed(runs[name], env)
                walls[name].append(wall)
                cpus[name].append(cpu)
            loads.append(os.getloadavg()[0])
        ratios = [w / h for w, h in zip(walls["who fan"], walls["--help"], strict=True)]
        rows = [
            [
                name,
                f"{median(walls[name]):.3f}",
                f"{min(walls[name]):.3f}–{max(walls[name]):.3f}",
                f"{median(cpus[name]):.3f}",
            ]
            for name in runs
        ]
        print(
            table(
                f"end to end, {args.pairs} alternating pairs",
                ["command", "median s", "range s", "CPU s"],
                rows,
            )
        )
        ratio = median(ratios)
        cpu_ratios = [w / h for w, h in zip(cpus["who fan"], cpus["--help"], strict=True)]
        print(
            f"\nwho / --help: median {ratio:.2f} (range {min(ratios):.2f}–{max(ratios):.2f}), "
            f"target ≤ {TARGET}: {verdict(ratio <= TARGET)}; CPU {median(cpu_ratios):.2f} "
            f"({min(cpu_ratios):.2f}–{max(cpu_ratios):.2f})"
        )
        imported = median(walls["import service"])
        print(
            f"import bot.service.serve: median {imported:.3f} s, CPU {median(cpus['import service']):.3f} s, "
            f"target ≤ {IMPORT_TARGET} s: {verdict(imported <= IMPORT_TARGET)}"
        )
        for name in ("python -c pass", "import mastodon", "import app"):
            ratios = [w / b for w, b in zip(walls["import service"], walls[name], strict=True)]
            print(
                f"import bot.service.serve / {name}: wall {median(ratios):.2f} "
                f"({min(ratios):.2f}–{max(ratios):.2f}), CPU {median(cpus[name]):.3f} s for {name}"
            )
        print(
            f"load average (1 min) during the run: {min(loads):.2f}–{max(loads):.2f} on {os.cpu_count()} CPUs"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
