"""Catch-up benchmark: `frontrow run --once --dry-run` on a backlog of N notifications, against the floor.

The floor is a bare Mastodon.py script in its own process that only pages through the same notifications
with a `min_id` cursor (bench/_floor_catchup.py). Both run as child processes against one mastodon_mock on
loopback (file-backed SQLite in a temp folder), alternating (the order flips every pair), after one
warm-up run each; every Frontrow run gets a fresh SQLite store and the packaged example config with
mastodon/store/approval pointed at the mock.

Requests are counted at the server (the mock's ASGI app is wrapped), so both sides are counted the same
way. Peak RSS is the child's own VmHWM, sampled from /proc while it runs.

    python bench/catchup.py --n 2000 [--pairs 5] [--profile]
"""

from __future__ import annotations

import argparse
import pstats
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    PYTHON,
    Api,
    ChildRun,
    CountingMockServer,
    User,
    child_env,
    diff,
    frontrow_config,
    median,
    parallel,
    run_child,
    table,
    verdict,
    write_config,
)

FLOOR_SCRIPT = Path(__file__).resolve().parent / "_floor_catchup.py"
TARGET_RATIO = 1.2
TARGET_EXTRA_REQUESTS = 10
TARGET_RSS_MB = 120.0

Routes = Counter[tuple[str, str]]


def build_backlog(api: Api, bot: User, n: int, workers: int) -> dict[str, int]:
    """N notifications for the bot, through the mock's API: follows, favourites, boosts and mentions
    (a third of them questions) from about N/7 accounts."""
    posts = [
        str(api.post(bot, text)["id"])
        for text in ("Open late on Fridays now.", "New arrivals this week!", "Book club meets Tuesday.")
    ]
    people = parallel(
        [lambda i=i: api.user(f"reader{i:04d}", f"Reader {i}") for i in range(max(3, n // 7))],
        workers=workers,
    )
    plan: list[tuple[str, User, str]] = []
    for i, who in enumerate(people):
        plan.append(("follow", who, ""))
        plan.append(("favourite", who, posts[i % len(posts)]))
        if i % 4 == 0:
            plan.append(("reblog", who, posts[(i + 1) % len(posts)]))
    plan = plan[:n]
    for k in range(n - len(plan)):
        question = k % 3 == 0
        text = "do you have the new one in stock?" if question else "lovely evening at the reading, thanks"
        plan.append(("mention", people[k % len(people)], f"@{bot.username} {text} ({k})"))

    def act(kind: str, who: User, arg: str) -> None:
        if kind == "follow":
            api.follow(who, bot)
        elif kind == "favourite":
            api.favourite(who, arg)
        elif kind == "reblog":
            api.reblog(who, arg)
        else:
            api.post(who, arg)

    parallel([lambda a=a: act(*a) for a in plan], workers=workers)
    return dict(Counter(kind for kind, _, _ in plan))


@dataclass(frozen=True)
class Measured:
    run: ChildRun
    requests: Routes
    server_seconds: float  # time the mock spent answering this child's requests


@dataclass
class Bench:
    server: CountingMockServer
    bot: User
    approver: User
    workdir: Path
    runs: int = 0

    def measure(self, run: Callable[[], ChildRun]) -> Measured:
        counter = self.server.counter
        before, seconds = counter.snapshot(), counter.server_seconds()
        result = run()
        return Measured(result, diff(counter.snapshot(), before), counter.server_seconds() - seconds)

    def floor(self) -> Measured:
        argv = [PYTHON, str(FLOOR_SCRIPT), self.server.base_url, self.bot.token]
        measured = self.measure(lambda: run_child(argv, self.workdir, env=child_env()))
        if measured.run.returncode != 0:
            raise SystemExit(
                f"floor script failed ({measured.run.returncode}):\n{measured.run.stderr[-3000:]}"
            )
        return measured

    def config(self, store_path: Path) -> Path:
        data = frontrow_config(
            self.server.base_url, self.bot.token, f"sqlite:///{store_path}", self.approver.username
        )
        return write_config(self.workdir / "config.toml", data)

    def frontrow(self, *, profile_to: Path | None = None) -> tuple[Measured, int]:
        """One `run --once --dry-run` on a fresh store; also returns how many events it recorded."""
        self.runs += 1
        store_path = self.workdir / f"frontrow-{self.runs}.db"
        config = self.config(store_path)
        prefix = [PYTHON, "-m", "cProfile", "-o", str(profile_to)] if profile_to else [PYTHON]
        argv = [*prefix, "-m", "bot", "--config", str(config), "run", "--once", "--dry-run"]
        measured = self.measure(lambda: run_child(argv, self.workdir, env=child_env()))
        if measured.run.returncode != 0:
            raise SystemExit(
                f"frontrow run failed ({measured.run.returncode}):\n{measured.run.stderr[-3000:]}"
            )
        # Counted in SQL, whatever the store's API makes visible (rows may be scoped to an account).
        with closing(sqlite3.connect(store_path)) as db:
            recorded = int(db.execute("SELECT count(*) FROM events").fetchone()[0])
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{store_path}{suffix}").unlink(missing_ok=True)
        return measured, recorded


def requests_of(m: Measured) -> int:
    return sum(m.requests.values())


def reads_of(m: Measured) -> int:
    return sum(count for (method, _), count in m.requests.items() if method == "GET")


def report(n: int, pairs: list[tuple[str, Measured, Measured]]) -> None:
    rows = []
    for label, floor, front in pairs:
        rows.append(
            [
                label,
                f"{floor.run.seconds:.2f}",
                f"{front.run.seconds:.2f}",
                f"{front.run.seconds / floor.run.seconds:.2f}",
                requests_of(floor),
                requests_of(front),
                f"{floor.run.max_rss_mb:.0f}",
                f"{front.run.max_rss_mb:.0f}",
            ]
        )
    print()
    print(
        table(
            f"Catch-up of {n} notifications: {len(pairs)} alternating pairs (wall seconds per child process)",
            [
                "pair",
                "floor s",
                "frontrow s",
                "ratio",
                "floor req",
                "frontrow req",
                "floor RSS MB",
                "frontrow RSS MB",
            ],
            rows,
        )
    )
    ratio = median([front.run.seconds / floor.run.seconds for _, floor, front in pairs])
    floor_req = min(requests_of(floor) for _, floor, _ in pairs)
    front_req = max(requests_of(front) for _, _, front in pairs)
    front_reads = max(reads_of(front) for _, _, front in pairs)
    peak = max(front.run.max_rss_mb for _, _, front in pairs)
    allowed = floor_req + TARGET_EXTRA_REQUESTS
    print()
    print(
        table(
            "Figures",
            ["figure", "value", "target", "verdict"],
            [
                [
                    "median ratio frontrow / floor",
                    f"{ratio:.2f}",
                    f"<= {TARGET_RATIO}",
                    verdict(ratio <= TARGET_RATIO),
                ],
                ["median floor s", f"{median([f.run.seconds for _, f, _ in pairs]):.2f}", "", ""],
                ["median frontrow s", f"{median([r.run.seconds for _, _, r in pairs]):.2f}", "", ""],
                [
                    "median time in the mock, floor s",
                    f"{median([f.server_seconds for _, f, _ in pairs]):.2f}",
                    "",
                    "",
                ],
                [
                    "median time in the mock, frontrow s",
                    f"{median([r.server_seconds for _, _, r in pairs]):.2f}",
                    "",
                    "",
                ],
                ["floor requests", f"{floor_req} ({floor_req / n:.4f} per notification)", "", ""],
                [
                    "frontrow requests",
                    f"{front_req} ({front_req / n:.4f} per notification)",
                    f"<= {allowed}",
                    verdict(front_req <= allowed),
                ],
                [
                    "frontrow requests, GET only",
                    f"{front_reads} ({front_reads / n:.4f} per notification)",
                    "",
                    "",
                ],
                [
                    "frontrow peak RSS MB",
                    f"{peak:.0f}",
                    f"<= {TARGET_RSS_MB:.0f}",
                    verdict(peak <= TARGET_RSS_MB),
                ],
            ],
        )
    )
    last = pairs[-1][2].requests
    print()
    print(
        table(
            "Frontrow requests by endpoint (last pair)",
            ["method route", "requests"],
            [[f"{m} {r}", c] for (m, r), c in sorted(last.items(), key=lambda kv: (-kv[1], kv[0]))],
        )
    )


def profile(bench: Bench, top: int) -> None:
    """One more Frontrow run under cProfile: the top functions by cumulative and by own time."""
    out = bench.workdir / "frontrow.prof"
    measured, _ = bench.frontrow(profile_to=out)
    print(f"\nOne Frontrow run under cProfile: {measured.run.seconds:.2f} s wall (profiling slows it down)")
    stats = pstats.Stats(str(out))
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="notifications in the backlog (default 2000)")
    parser.add_argument("--pairs", type=int, default=5, help="measured floor/Frontrow pairs (default 5)")
    parser.add_argument("--workers", type=int, default=6, help="threads seeding the backlog (default 6)")
    parser.add_argument(
        "--profile", action="store_true", help="then profile one more Frontrow run (cProfile)"
    )
    parser.add_argument("--profile-top", type=int, default=30, help="rows of each profile listing")
    args = parser.parse_args()
    if args.n < 20:
        parser.error("--n: at least 20")

    with tempfile.TemporaryDirectory(prefix="frontrow-bench-catchup-") as tmp:
        workdir = Path(tmp)
        with CountingMockServer(workdir) as server:
            api = Api(server.base_url)
            try:
                bot = api.user("bot", "Frontrow Bot")
                approver = api.user("alice", "Alice")
                started = time.perf_counter()
                kinds = build_backlog(api, bot, args.n, args.workers)
                seeding = time.perf_counter() - started
            finally:
                api.close()
            described = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
            print(
                f"mastodon_mock on {server.base_url}; backlog of {args.n} notifications ({described}), "
                f"built in {seeding:.0f} s"
            )
            bench = Bench(server, bot, approver, workdir)

            # Warm-ups (imports, the OS file cache; Frontrow's first start also follows the approver).
            read = int(bench.floor().run.stdout.strip())
            _, recorded = bench.frontrow()
            if read != args.n or recorded != args.n:
                print(
                    f"WARNING: the floor read {read} notifications and Frontrow recorded {recorded}, "
                    f"not {args.n}"
                )

            pairs = []
            for pair in range(1, args.pairs + 1):
                if pair % 2:
                    floor, (front, _) = bench.floor(), bench.frontrow()
                    label = f"{pair} (floor first)"
                else:
                    (front, _), floor = bench.frontrow(), bench.floor()
                    label = f"{pair} (frontrow first)"
                pairs.append((label, floor, front))

            report(args.n, pairs)
            if args.profile:
                profile(bench, args.profile_top)


if __name__ == "__main__":
    main()
