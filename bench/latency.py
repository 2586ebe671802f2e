"""Mention → draft DM latency in streaming mode, p50 and p95, against a two-hop baseline in the same run.

Starts mastodon_mock on loopback (file-backed SQLite in a temp folder) and `frontrow run` (the service,
streaming) as a child process with the packaged example config, except: `approval.batch_window = "0s"`
(so every mention arrives when no DM batch is open and is DMed at once), `approval.max_dms_per_hour` and
`limits.max_drafts_per_day` raised. Each mention asks a question (the example's `answer-questions` rule)
and comes from its own account whose display name carries a unique token; the approver's user stream
(Mastodon.py `stream_user`) watches for the DM whose draft carries that token. Mentions go one at a time:
the next is posted once the previous one's DM has arrived (plus a short gap).

Latency = from just before the mention is posted to the DM arriving on the approver's stream.
Baseline in the same run (issue 15, target 4: p50 and p95 ≤ 1.15 × it): bench/_relay.py, a second
process on another account's user stream that answers each mention with a DM to the approver, the
same two hops (mention → stream, DM → the approver's stream) without Frontrow's work. Rounds of
`--per-round` mentions to each alternate, the order flipping every round; both processes run all
along, each idle while the other is measured. Printed: p50/p95 of each over all rounds, the ratio
pooled and per round (median and range), each process's CPU seconds per mention, the load average.

    python bench/latency.py [--rounds 5] [--per-round 20] [--gap 0.05]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    PYTHON,
    REPO_ROOT,
    Api,
    CountingMockServer,
    User,
    child_env,
    diff,
    frontrow_config,
    median,
    parallel,
    percentile,
    table,
    verdict,
    write_config,
)
from mastodon import Mastodon
from mastodon.streaming import StreamListener

TARGET_P95_SECONDS = 2.0
TARGET_RATIO = 1.15  # Frontrow's p50 and p95 against the two-hop baseline's
WARMUPS = 3


class DmWatch(StreamListener):
    """The approver's user stream: every direct mention, with the time it arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.cond = threading.Condition()
        self.received: list[tuple[float, str, str]] = []  # (arrival, sender id, HTML content)
        self.connected = threading.Event()

    def on_notification(self, notification: Any) -> None:
        arrived = time.perf_counter()
        status = notification.get("status")
        if notification.get("type") != "mention" or not status or status.get("visibility") != "direct":
            return
        with self.cond:
            self.received.append(
                (arrived, str(notification["account"]["id"]), str(status.get("content") or ""))
            )
            self.cond.notify_all()

    def handle_heartbeat(self) -> None:
        self.connected.set()  # the server's ":connected" opener: the subscription is live

    def wait_for(self, token: str, sender: str, since: int, timeout: float) -> float | None:
        """Arrival time of the first DM from `sender` containing `token` among those after index `since`."""
        deadline = time.perf_counter() + timeout
        with self.cond:
            while True:
                for arrived, who, content in self.received[since:]:
                    if who == sender and token in content:
                        return arrived
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    return None
                self.cond.wait(remaining)

    def count(self) -> int:
        with self.cond:
            return len(self.received)


def start_frontrow(config: Path, log: Path) -> subprocess.Popen[bytes]:
    argv = [PYTHON, "-m", "bot", "--config", str(config), "run"]
    with log.open("wb") as out:
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env(),
            cwd=REPO_ROOT,
        )


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()
    return proc.returncode


def ask(
    api: Api, who: User, bot: User, watch: DmWatch, token: str, timeout: float
) -> tuple[float | None, float]:
    """Post one question from `who`; the latency to the DM carrying `token`, and the post call's own time."""
    since = watch.count()
    started = time.perf_counter()
    api.post(who, f"@{bot.username} do you have signed copies this week? ({token})")
    posted = time.perf_counter() - started
    arrived = watch.wait_for(token, bot.id, since, timeout)
    return (None if arrived is None else arrived - started), posted


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_relay(base_url: str, relay: User, approver: User, log: Path) -> subprocess.Popen[bytes]:
    argv = [PYTHON, str(REPO_ROOT / "bench" / "_relay.py"), base_url, relay.token, approver.username]
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env()
        )


class Side:
    """One of the two answerers: its account, its process, its askers, and what was measured."""

    def __init__(self, name: str, account: User, letter: str, count: int, warm: str) -> None:
        self.name, self.account = name, account
        self.tokens = [f"{warm}{i:03d}Z" for i in range(WARMUPS)] + [
            f"{letter}{i:03d}Z" for i in range(count)
        ]
        self.askers: list[User] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path()
        self.latencies: list[float] = []
        self.rounds: list[list[float]] = []
        self.post_times: list[float] = []
        self.misses = 0
        self.cpu = 0.0
        self.next = WARMUPS

    def warm_up(self, api: Api, watch: DmWatch, gap: float) -> None:
        # The first one may be picked up by Frontrow's start-up catch-up rather than the stream.
        for who, token in zip(self.askers[:WARMUPS], self.tokens[:WARMUPS], strict=True):
            latency, _ = ask(api, who, self.account, watch, token, 60)
            if latency is None:
                raise SystemExit(
                    f"no DM from {self.name} for a warm-up mention; its log:\n"
                    f"{self.log.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(gap)

    def round(self, api: Api, watch: DmWatch, count: int, gap: float, timeout: float) -> None:
        assert self.proc is not None
        cpu_before = cpu_seconds(self.proc.pid)
        measured: list[float] = []
        for who, token in zip(
            self.askers[self.next : self.next + count],
            self.tokens[self.next : self.next + count],
            strict=True,
        ):
            latency, posted = ask(api, who, self.account, watch, token, timeout)
            self.post_times.append(posted)
            if latency is None:
                self.misses += 1
                measured.append(float("inf"))
            else:
                measured.append(latency)
                self.latencies.append(latency)
            time.sleep(gap)
        self.next += count
        self.cpu += cpu_seconds(self.proc.pid) - cpu_before
        self.rounds.append(measured)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--per-round", type=int, default=20, help="mentions per side per round (default 20)")
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between a DM and the next mention")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for one DM (a miss)")
    parser.add_argument(
        "--poll-interval",
        default="60s",
        help="listener.poll_interval (the example's 60s; shorter makes catch-up polls overlap)",
    )
    args = parser.parse_args()
    count = args.rounds * args.per_round

    with tempfile.TemporaryDirectory(prefix="frontrow-bench-latency-") as tmp:
        workdir = Path(tmp)
        with CountingMockServer(workdir) as server:
            api = Api(server.base_url)
            stream = None
            frontrow = Side("Frontrow", api.user("bot", "Frontrow Bot"), "Q", count, "W")
            relay = Side("relay", api.user("relay", "Relay Bot"), "R", count, "V")
            sides = (frontrow, relay)
            loads: list[float] = []
            requests: Any = None
            try:
                approver = api.user("alice", "Alice")
                for side in sides:
                    side.askers = parallel(
                        [lambda t=t: api.user(f"asker_{t.lower()}", f"Asker {t}") for t in side.tokens]
                    )

                watch = DmWatch()
                approver_api = Mastodon(
                    api_base_url=server.base_url, access_token=approver.token, version_check_mode="none"
                )
                stream = approver_api.stream_user(watch, run_async=True, reconnect_async=True)
                if not watch.connected.wait(10):
                    raise SystemExit("the approver's stream did not connect")

                config = write_config(
                    workdir / "config.toml",
                    frontrow_config(
                        server.base_url,
                        frontrow.account.token,
                        f"sqlite:///{workdir / 'frontrow.db'}",
                        approver.username,
                        approval={"batch_window": "0s", "max_dms_per_hour": 100_000},
                        limits={"max_drafts_per_day": 100_000},
                        listener={"streaming": True, "poll_interval": args.poll_interval},
                    ),
                )
                frontrow.log, relay.log = workdir / "frontrow.log", workdir / "relay.log"
                frontrow.proc = start_frontrow(config, frontrow.log)
                relay.proc = start_relay(server.base_url, relay.account, approver, relay.log)
                for side in sides:
                    side.warm_up(api, watch, args.gap)

                requests = Counter[tuple[str, str]]()
                loads.append(os.getloadavg()[0])
                for number in range(args.rounds):
                    for side in sides if number % 2 == 0 else reversed(sides):
                        before = server.counter.snapshot()
                        side.round(api, watch, args.per_round, args.gap, args.timeout)
                        if side is frontrow:
                            requests.update(diff(server.counter.snapshot(), before))
                    loads.append(os.getloadavg()[0])
            finally:
                for side in sides:
                    if side.proc is not None:
                        code = stop(side.proc)
                        if code not in (0, -signal.SIGTERM):
                            print(f"WARNING: {side.name} exited with {code}")
                if stream is not None:
                    stream.close()
                api.close()

    report(args, frontrow, relay, loads, requests)


def report(args: argparse.Namespace, frontrow: Side, relay: Side, loads: list[float], requests: Any) -> None:
    ms = lambda s: "inf" if s == float("inf") else f"{s * 1000:.0f}"  # noqa: E731
    count = args.rounds * args.per_round
    # A miss counts as an infinitely late DM, so it can only push the percentiles up.
    pooled = {side.name: [x for r in side.rounds for x in r] for side in (frontrow, relay)}
    p50, p95 = percentile(pooled["Frontrow"], 50), percentile(pooled["Frontrow"], 95)
    b50, b95 = percentile(pooled["relay"], 50), percentile(pooled["relay"], 95)
    r50 = [percentile(f, 50) / percentile(b, 50) for f, b in zip(frontrow.rounds, relay.rounds, strict=True)]
    r95 = [percentile(f, 95) / percentile(b, 95) for f, b in zip(frontrow.rounds, relay.rounds, strict=True)]
    # The bench's own calls (the askers' posts) are in the count too: take them out.
    bot_requests = sum(v for k, v in requests.items() if not k[1].startswith("/api/v1/_mock")) - count
    ours = requests.get(("POST", "/api/v1/statuses"), 0) - count
    rows = [
        ["mentions each (misses)", f"{count} ({frontrow.misses})", f"{count} ({relay.misses})", "", ""],
        ["p50 ms", ms(p50), ms(b50), "", ""],
        [
            "p95 ms",
            ms(p95),
            ms(b95),
            f"<= {TARGET_P95_SECONDS * 1000:.0f}",
            verdict(p95 <= TARGET_P95_SECONDS),
        ],
        ["max ms", ms(max(pooled["Frontrow"])), ms(max(pooled["relay"])), "", ""],
        [
            "p50 / baseline p50",
            f"{p50 / b50:.2f}x",
            f"rounds {median(r50):.2f} ({min(r50):.2f}-{max(r50):.2f})",
            f"<= {TARGET_RATIO}",
            verdict(p50 / b50 <= TARGET_RATIO),
        ],
        [
            "p95 / baseline p95",
            f"{p95 / b95:.2f}x",
            f"rounds {median(r95):.2f} ({min(r95):.2f}-{max(r95):.2f})",
            f"<= {TARGET_RATIO}",
            verdict(p95 / b95 <= TARGET_RATIO),
        ],
        ["CPU ms per mention (process)", ms(frontrow.cpu / count), ms(relay.cpu / count), "", ""],
        [
            "posting a mention (client call), median ms",
            ms(median(frontrow.post_times)),
            ms(median(relay.post_times)),
            "",
            "",
        ],
        ["Frontrow requests per mention", f"{bot_requests / count:.2f} ({ours} DMs posted)", "", "", ""],
        ["load average (1 min)", f"{min(loads):.2f}-{max(loads):.2f} on {os.cpu_count()} CPUs", "", "", ""],
    ]
    print(
        table(
            f"Mention -> draft DM latency, streaming, batch_window 0s, poll_interval {args.poll_interval}, "
            f"{args.rounds} alternating rounds of {args.per_round} mentions one at a time "
            f"({args.gap * 1000:.0f} ms gap)",
            ["figure", "Frontrow", "two-hop baseline", "target", "verdict"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
