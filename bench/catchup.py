"""Catch-up benchmark: `frontrow run --once --dry-run` on a backlog of N notifications, against two floors.

The floors page through the same notifications with a `min_id` cursor and nothing else, each in its own
process: plain `requests` + `json.loads` (bench/_floor_plain.py: the server's own time) and a bare
Mastodon.py script (bench/_floor_catchup.py). All run as child processes against one mastodon_mock on
loopback (file-backed SQLite in a temp folder), in alternating order (reversed every pair), after one
warm-up run each. Then the same pairs with one core busy: a `yes > /dev/null` neighbour the bench
starts and stops (plain floor and Frontrow only).

A fresh store starts from the newest page (a first run; the history is backfilled, never drafted), so
every Frontrow run gets a copy of one template store made by `run --once` on the account before the
backlog existed: its cursor is set before the backlog, so each run catches up all N. Every run's store
must hold the same events (counts per kind), drafts (the set of rule and acct) and people (the set of
accts) as the reference: the warm-up run, or `--reference FILE` saved by `--save-reference FILE` in an
earlier run (e.g. of the code before a change).

Requests are counted at the server (the mock's ASGI app is wrapped), so all sides are counted the same
way. CPU seconds are the child's own (user + system, from the reaped child's rusage); peak RSS is its
VmHWM, sampled from /proc while it runs; the 1-minute load average is read after each pair.
mastodon_mock caps notification pages at 40 (Mastodon allows 80): 50 pages for 2,000 notifications.

    python bench/catchup.py --n 2000 [--pairs 3] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

FLOORS = {
    "plain": Path(__file__).resolve().parent / "_floor_plain.py",
    "mastodon.py": Path(__file__).resolve().parent / "_floor_catchup.py",
}
TARGET_PLAIN = 1.15  # × the plain-JSON floor (the server's own time)
TARGET_MASTODON_PY = 0.8  # × the Mastodon.py floor
TARGET_CPU = 6.0  # CPU seconds of the Frontrow child
TARGET_LOADED = 1.3  # × the plain-JSON floor with a busy neighbour on one core
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


Snapshot = dict[str, Any]


def store_snapshot(path: Path) -> Snapshot:
    """What a run left in its store, for comparing runs: events per kind, drafts as (rule, acct), people."""
    with closing(sqlite3.connect(path)) as db:
        kinds = dict(db.execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall())
        drafts = sorted({f"{rule} {acct}" for rule, acct in db.execute("SELECT rule, acct FROM drafts")})
        people = sorted({acct for (acct,) in db.execute("SELECT acct FROM people")})
    return {"events": kinds, "drafts": drafts, "people": people}


def snapshot_line(snapshot: Snapshot) -> str:
    events = sum(snapshot["events"].values())
    return f"{events} events, {len(snapshot['drafts'])} drafts, {len(snapshot['people'])} people"


def differences(reference: Snapshot, snapshot: Snapshot) -> list[str]:
    out = []
    if snapshot["events"] != reference["events"]:
        out.append(f"events per kind {snapshot['events']} instead of {reference['events']}")
    for name in ("drafts", "people"):
        extra = sorted(set(snapshot[name]) - set(reference[name]))
        missing = sorted(set(reference[name]) - set(snapshot[name]))
        if extra or missing:
            out.append(f"{name}: {len(extra)} more ({extra[:3]}…), {len(missing)} fewer ({missing[:3]}…)")
    return out


@dataclass(frozen=True)
class Measured:
    run: ChildRun
    cpu: float  # the child's user + system seconds
    requests: Routes
    server_seconds: float  # time the mock spent answering this child's requests


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Bench:
    server: CountingMockServer
    bot: User
    approver: User
    workdir: Path
    reference: Snapshot | None = None
    runs: int = 0
    mismatches: int = 0

    def measure(self, run: Callable[[], ChildRun]) -> Measured:
        counter = self.server.counter
        before, seconds, cpu = counter.snapshot(), counter.server_seconds(), cpu_of_children()
        result = run()  # run_child reaps the child, so its rusage is in RUSAGE_CHILDREN now
        return Measured(
            result,
            cpu_of_children() - cpu,
            diff(counter.snapshot(), before),
            counter.server_seconds() - seconds,
        )

    def floor(self, kind: str) -> Measured:
        argv = [PYTHON, str(FLOORS[kind]), self.server.base_url, self.bot.token]
        measured = self.measure(lambda: run_child(argv, self.workdir, env=child_env()))
        if measured.run.returncode != 0:
            raise SystemExit(
                f"{kind} floor failed ({measured.run.returncode}):\n{measured.run.stderr[-3000:]}"
            )
        return measured

    def config(self, store_path: Path) -> Path:
        data = frontrow_config(
            self.server.base_url, self.bot.token, f"sqlite:///{store_path}", self.approver.username
        )
        return write_config(self.workdir / "config.toml", data)

    @property
    def template(self) -> Path:
        return self.workdir / "template.db"

    def make_template(self) -> None:
        """`run --once` on the account before the backlog: a store whose cursor lies before it (and the
        approver followed), copied for every measured run."""
        argv = [
            PYTHON,
            "-m",
            "bot",
            "--config",
            str(self.config(self.template)),
            "run",
            "--once",
            "--dry-run",
        ]
        done = run_child(argv, self.workdir, env=child_env())
        if done.returncode != 0:
            raise SystemExit(f"template run failed ({done.returncode}):\n{done.stderr[-3000:]}")
        with closing(sqlite3.connect(self.template)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor = db.execute("SELECT value FROM state WHERE key = 'notifications_cursor'").fetchone()
        if cursor is None:
            raise SystemExit("the template run left no cursor")

    def frontrow(self, *, profile_to: Path | None = None, code: Path | None = None) -> Measured:
        """One `run --once --dry-run` on a copy of the template store, checked against the reference.

        `code`: a checkout whose `bot` package runs instead of this one's (the reference run)."""
        self.runs += 1
        store_path = self.workdir / f"frontrow-{self.runs}.db"
        shutil.copyfile(self.template, store_path)
        config = self.config(store_path)
        args = ["--config", str(config), "run", "--once", "--dry-run"]
        if code is not None:  # its folder ahead of this one (the children's working directory) on sys.path
            run = (
                f"import runpy, sys; sys.path.insert(0, {str(code)!r}); "
                "runpy.run_module('bot', run_name='__main__')"
            )
            argv = [PYTHON, "-c", run, *args]
        else:
            prefix = [PYTHON, "-m", "cProfile", "-o", str(profile_to)] if profile_to else [PYTHON]
            argv = [*prefix, "-m", "bot", *args]
        measured = self.measure(lambda: run_child(argv, self.workdir, env=child_env()))
        if measured.run.returncode != 0:
            raise SystemExit(
                f"frontrow run failed ({measured.run.returncode}):\n{measured.run.stderr[-3000:]}"
            )
        snapshot = store_snapshot(store_path)
        if self.reference is None:
            self.reference = snapshot
        else:
            found = differences(self.reference, snapshot)
            if found:
                self.mismatches += 1
                print(f"MISMATCH in run {self.runs}: " + "; ".join(found))
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{store_path}{suffix}").unlink(missing_ok=True)
        return measured


@dataclass(frozen=True)
class Pair:
    label: str
    runs: dict[str, Measured]  # "plain", "mastodon.py" (quiet pairs only), "frontrow"
    load: float  # 1-minute load average after the pair


def requests_of(m: Measured) -> int:
    return sum(m.requests.values())


def reads_of(m: Measured) -> int:
    return sum(count for (method, _), count in m.requests.items() if method == "GET")


def run_pairs(bench: Bench, count: int, sides: list[str], *, tag: str) -> list[Pair]:
    pairs = []
    for number in range(1, count + 1):
        order = sides if number % 2 else list(reversed(sides))
        runs = {side: bench.frontrow() if side == "frontrow" else bench.floor(side) for side in order}
        pairs.append(Pair(f"{tag} {number} ({order[0]} first)", runs, os.getloadavg()[0]))
    return pairs


def spread(values: list[float], digits: int = 2) -> str:
    return f"{median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def ratios(pairs: list[Pair], floor: str) -> list[float]:
    return [p.runs["frontrow"].run.seconds / p.runs[floor].run.seconds for p in pairs]


def report(n: int, quiet: list[Pair], loaded: list[Pair]) -> None:
    sides = ["plain", "mastodon.py", "frontrow"]
    rows = []
    for pair in quiet + loaded:
        row: list[Any] = [pair.label]
        for side in sides:
            m = pair.runs.get(side)
            row += [f"{m.run.seconds:.2f}", f"{m.cpu:.2f}"] if m else ["", ""]
        front = pair.runs["frontrow"]
        row += [requests_of(front), f"{front.run.max_rss_mb:.0f}", f"{pair.load:.2f}"]
        rows.append(row)
    print()
    print(
        table(
            f"Catch-up of {n} notifications: wall and CPU seconds per child process "
            "(mastodon_mock pages hold at most 40 notifications; Mastodon allows 80)",
            [
                "pair",
                "plain s",
                "CPU",
                "Mastodon.py s",
                "CPU",
                "frontrow s",
                "CPU",
                "req",
                "RSS MB",
                "load 1m",
            ],
            rows,
        )
    )
    every = quiet + loaded
    fronts = [p.runs["frontrow"] for p in every]
    plain_req = min(requests_of(p.runs["plain"]) for p in every)
    front_req = max(requests_of(m) for m in fronts)
    peak = max(m.run.max_rss_mb for m in fronts)
    quiet_plain, quiet_mpy = ratios(quiet, "plain"), ratios(quiet, "mastodon.py")
    loaded_plain = ratios(loaded, "plain") if loaded else []
    cpu = median([p.runs["frontrow"].cpu for p in quiet])
    loads = [p.load for p in every]
    figures: list[list[Any]] = [
        [
            "frontrow / plain-JSON floor",
            spread(quiet_plain),
            f"<= {TARGET_PLAIN}",
            verdict(median(quiet_plain) <= TARGET_PLAIN),
        ],
        [
            "frontrow / Mastodon.py floor",
            spread(quiet_mpy),
            f"<= {TARGET_MASTODON_PY}",
            verdict(median(quiet_mpy) <= TARGET_MASTODON_PY),
        ],
        [
            "frontrow CPU s",
            spread([p.runs["frontrow"].cpu for p in quiet]),
            f"<= {TARGET_CPU}",
            verdict(cpu <= TARGET_CPU),
        ],
    ]
    if loaded_plain:
        figures.append(
            [
                "with a busy neighbour: frontrow / plain",
                spread(loaded_plain),
                f"<= {TARGET_LOADED}",
                verdict(median(loaded_plain) <= TARGET_LOADED),
            ]
        )
        figures.append(
            [
                "with a busy neighbour: frontrow CPU s",
                spread([p.runs["frontrow"].cpu for p in loaded]),
                "",
                "",
            ]
        )
    for side in ("plain", "mastodon.py", "frontrow"):
        figures.append([f"{side} wall s (quiet)", spread([p.runs[side].run.seconds for p in quiet]), "", ""])
        figures.append([f"{side} CPU s (quiet)", spread([p.runs[side].cpu for p in quiet]), "", ""])
    figures += [
        ["time in the mock, plain floor s", spread([p.runs["plain"].server_seconds for p in quiet]), "", ""],
        ["time in the mock, frontrow s", spread([p.runs["frontrow"].server_seconds for p in quiet]), "", ""],
        ["plain floor requests", f"{plain_req}", "", ""],
        [
            "frontrow requests",
            f"{front_req} (GET {max(reads_of(m) for m in fronts)})",
            f"<= {plain_req + TARGET_EXTRA_REQUESTS}",
            verdict(front_req <= plain_req + TARGET_EXTRA_REQUESTS),
        ],
        ["frontrow peak RSS MB", f"{peak:.0f}", f"<= {TARGET_RSS_MB:.0f}", verdict(peak <= TARGET_RSS_MB)],
        ["load average (1 min)", f"{min(loads):.2f}–{max(loads):.2f} on {os.cpu_count()} CPUs", "", ""],
    ]
    print()
    print(table("Figures (median, range)", ["figure", "value", "target", "verdict"], figures))
    last = fronts[-1].requests
    print()
    print(
        table(
            "Frontrow requests by endpoint (last run)",
            ["method route", "requests"],
            [[f"{m} {r}", c] for (m, r), c in sorted(last.items(), key=lambda kv: (-kv[1], kv[0]))],
        )
    )


def profile(bench: Bench, top: int) -> None:
    """One more Frontrow run under cProfile: the top functions by cumulative and by own time."""
    out = bench.workdir / "frontrow.prof"
    measured = bench.frontrow(profile_to=out)
    print(f"\nOne Frontrow run under cProfile: {measured.run.seconds:.2f} s wall (profiling slows it down)")
    stats = pstats.Stats(str(out))
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="notifications in the backlog (default 2000)")
    parser.add_argument("--pairs", type=int, default=3, help="measured rounds, quiet and loaded (default 3)")
    parser.add_argument("--workers", type=int, default=6, help="threads seeding the backlog (default 6)")
    parser.add_argument("--no-neighbour", action="store_true", help="skip the rounds with a busy neighbour")
    parser.add_argument("--reference", type=Path, help="compare every run's store with this saved snapshot")
    parser.add_argument("--save-reference", type=Path, help="save the warm-up run's store snapshot here")
    parser.add_argument(
        "--reference-code",
        type=Path,
        help="a checkout (e.g. `git worktree add /tmp/before main`) whose code makes the reference store, "
        "on this run's backlog: the seeding's order differs between runs, so a saved snapshot compares "
        "only counts of what does not depend on it",
    )
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
                bench = Bench(server, bot, approver, workdir)
                bench.make_template()  # before the backlog: its cursor lies before every notification
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
            if args.reference:
                bench.reference = json.loads(args.reference.read_text(encoding="utf-8"))

            # Warm-ups (imports, the OS file cache); the first Frontrow run is the reference if none given.
            read = {kind: int(bench.floor(kind).run.stdout.strip()) for kind in FLOORS}
            if args.reference_code:
                bench.frontrow(code=args.reference_code.resolve())
                print(f"reference made by the code in {args.reference_code}")
            bench.frontrow()
            assert bench.reference is not None
            recorded = sum(bench.reference["events"].values())
            print(f"reference store: {snapshot_line(bench.reference)}")
            if set(read.values()) != {args.n} or recorded != args.n:
                print(f"WARNING: the floors read {read} and Frontrow recorded {recorded}, not {args.n}")
            if args.save_reference:
                args.save_reference.write_text(json.dumps(bench.reference, indent=1), encoding="utf-8")

            quiet = run_pairs(bench, args.pairs, ["plain", "mastodon.py", "frontrow"], tag="quiet")
            loaded: list[Pair] = []
            if not args.no_neighbour:
                neighbour = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
                try:
                    loaded = run_pairs(bench, args.pairs, ["plain", "frontrow"], tag="neighbour")
                finally:
                    neighbour.kill()
                    neighbour.wait()

            report(args.n, quiet, loaded)
            print(
                f"\nstores: {bench.runs} Frontrow runs, {bench.mismatches} differing from the reference "
                f"({snapshot_line(bench.reference)})"
            )
            if args.profile:
                profile(bench, args.profile_top)
            if bench.mismatches:
                raise SystemExit(1)


if __name__ == "__main__":
    main()
