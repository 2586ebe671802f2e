"""Mention → draft DM latency in streaming mode: p50 and p95 over 200 mentions.

Starts mastodon_mock on loopback (file-backed SQLite in a temp folder) and `frontrow run` (the service,
streaming) as a child process with the packaged example config, except: `approval.batch_window = "0s"`
(so every mention arrives when no DM batch is open and is DMed at once), `approval.max_dms_per_hour` and
`limits.max_drafts_per_day` raised. Each mention asks a question (the example's `answer-questions` rule)
and comes from its own account whose display name carries a unique token; the approver's user stream
(Mastodon.py `stream_user`) watches for the DM whose draft carries that token. Mentions go one at a time:
the next is posted once the previous one's DM has arrived (plus a short gap).

Latency = from just before the mention is posted to the DM arriving on the approver's stream.
Baseline in the same run: a DM posted straight to the approver by another account, post → arrival on
the same stream (the mock's own delivery time; Frontrow's path has two such hops plus its own work).

    python bench/latency.py [--mentions 200] [--gap 0.05]
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import threading
import time
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
WARMUPS = 3
BASELINE_DMS = 50


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


def baseline(api: Api, relay: User, approver: User, watch: DmWatch, count: int, gap: float) -> list[float]:
    """The mock's own post → stream delivery: DMs straight to the approver from another account."""
    out = []
    for i in range(count):
        token = f"B{i:03d}Z"
        since = watch.count()
        started = time.perf_counter()
        api.post(relay, f"@{approver.username} hello ({token})", visibility="direct")
        arrived = watch.wait_for(token, relay.id, since, 10)
        if arrived is not None:
            out.append(arrived - started)
        time.sleep(gap)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mentions", type=int, default=200, help="measured mentions (default 200)")
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between a DM and the next mention")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for one DM (a miss)")
    parser.add_argument(
        "--poll-interval",
        default="60s",
        help="listener.poll_interval (the example's 60s; shorter makes catch-up polls overlap)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="frontrow-bench-latency-") as tmp:
        workdir = Path(tmp)
        with CountingMockServer(workdir) as server:
            api = Api(server.base_url)
            stream = None
            proc = None
            try:
                bot = api.user("bot", "Frontrow Bot")
                approver = api.user("alice", "Alice")
                relay = api.user("relay", "Relay")
                tokens = [f"W{i:03d}Z" for i in range(WARMUPS)] + [f"Q{i:03d}Z" for i in range(args.mentions)]
                askers = parallel([lambda t=t: api.user(f"asker_{t.lower()}", f"Asker {t}") for t in tokens])

                watch = DmWatch()
                approver_api = Mastodon(
                    api_base_url=server.base_url, access_token=approver.token, version_check_mode="none"
                )
                stream = approver_api.stream_user(watch, run_async=True, reconnect_async=True)
                if not watch.connected.wait(10):
                    raise SystemExit("the approver's stream did not connect")

                base = baseline(api, relay, approver, watch, BASELINE_DMS, args.gap)

                config = write_config(
                    workdir / "config.toml",
                    frontrow_config(
                        server.base_url,
                        bot.token,
                        f"sqlite:///{workdir / 'frontrow.db'}",
                        approver.username,
                        approval={"batch_window": "0s", "max_dms_per_hour": 100_000},
                        limits={"max_drafts_per_day": 100_000},
                        listener={"streaming": True, "poll_interval": args.poll_interval},
                    ),
                )
                log = workdir / "frontrow.log"
                proc = start_frontrow(config, log)
                # Warm-ups: the first one may be picked up by the start-up catch-up rather than the stream.
                for who, token in zip(askers[:WARMUPS], tokens[:WARMUPS], strict=True):
                    latency, _ = ask(api, who, bot, watch, token, 60)
                    if latency is None:
                        stop(proc)
                        raise SystemExit(
                            f"no draft DM for a warm-up mention; Frontrow's log:\n"
                            f"{log.read_text(errors='replace')[-3000:]}"
                        )
                    time.sleep(args.gap)

                before = server.counter.snapshot()
                latencies: list[float] = []
                post_times: list[float] = []
                misses = 0
                started = time.perf_counter()
                for who, token in zip(askers[WARMUPS:], tokens[WARMUPS:], strict=True):
                    latency, posted = ask(api, who, bot, watch, token, args.timeout)
                    post_times.append(posted)
                    if latency is None:
                        misses += 1
                    else:
                        latencies.append(latency)
                    time.sleep(args.gap)
                elapsed = time.perf_counter() - started
                requests = diff(server.counter.snapshot(), before)
            finally:
                if proc is not None:
                    code = stop(proc)
                    if code not in (0, -signal.SIGTERM):
                        print(f"WARNING: frontrow exited with {code}")
                if stream is not None:
                    stream.close()
                api.close()

    report(args, latencies, misses, post_times, base, elapsed, requests)


def report(
    args: argparse.Namespace,
    latencies: list[float],
    misses: int,
    post_times: list[float],
    base: list[float],
    elapsed: float,
    requests: Any,
) -> None:
    ms = lambda s: f"{s * 1000:.0f}"  # noqa: E731
    # A miss counts as an infinitely late DM, so it can only push the percentiles up.
    counted = latencies + [float("inf")] * misses
    p50, p95 = percentile(counted, 50), percentile(counted, 95)
    b50, b95 = percentile(base, 50), percentile(base, 95)
    frontrow_requests = {k: v for k, v in requests.items() if not k[1].startswith("/api/v1/_mock")}
    # The bench's own calls (the askers' posts) are in the count too: take them out.
    ours = requests.get(("POST", "/api/v1/statuses"), 0) - args.mentions
    bot_requests = sum(frontrow_requests.values()) - args.mentions
    rows = [
        ["mentions (misses)", f"{args.mentions} ({misses})", "", ""],
        ["p50 ms", ms(p50), "", ""],
        [
            "p95 ms",
            ms(p95) if p95 != float("inf") else "inf",
            f"<= {TARGET_P95_SECONDS * 1000:.0f}",
            verdict(p95 <= TARGET_P95_SECONDS),
        ],
        ["max ms", ms(max(counted)) if counted else "-", "", ""],
        ["mean ms", ms(sum(latencies) / len(latencies)) if latencies else "-", "", ""],
        ["baseline p50 / p95 ms (mock DM delivery)", f"{ms(b50)} / {ms(b95)}", "", ""],
        ["p50 / baseline p50", f"{p50 / b50:.1f}x", "", ""],
        ["posting a mention (client call), median ms", ms(median(post_times)), "", ""],
        ["Frontrow requests per mention", f"{bot_requests / args.mentions:.2f} ({ours} DMs posted)", "", ""],
        ["wall time of the measured run s", f"{elapsed:.1f}", "", ""],
    ]
    print(
        table(
            f"Mention -> draft DM latency, streaming, batch_window 0s, poll_interval {args.poll_interval}, "
            f"{args.mentions} mentions one at a time ({args.gap * 1000:.0f} ms gap)",
            ["figure", "value", "target", "verdict"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
