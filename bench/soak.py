"""Soak: `frontrow run` takes a steady stream of mentions for minutes; its memory is sampled over time.

    python bench/soak.py --minutes 3 --rate 4

Everything runs on loopback: a mastodon_mock instance, the service as a subprocess (streaming), a pool
of accounts that keep asking questions, and the approver approving what comes in. Prints the service's
resident memory every sample and the growth from the first third of the run to the last.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from mastodon import Mastodon  # noqa: E402
from mastodon_mock.testing import MockServer  # noqa: E402

from bot.cli.demo import instance_config  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.conftest import to_toml  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def account(server: MockServer, name: str) -> tuple[str, Mastodon]:
    made = httpx.post(f"{server.base_url}/api/v1/_mock/dev_user", json={"username": name}).json()
    return str(made["id"]), Mastodon(access_token=made["access_token"], api_base_url=server.base_url)


def config(server: MockServer, token: str, store_url: str) -> dict[str, Any]:
    return {
        "mastodon": {"base_url": server.base_url, "access_token": token},
        "store": {"url": store_url},
        "approval": {"approvers": ["alice"], "batch_window": "5s", "max_dms_per_hour": 100000},
        "listener": {"streaming": True, "poll_interval": "30s"},
        "limits": {"max_drafts_per_day": 1000000, "max_posts_per_hour": 100000},
        "rules": [
            {"name": "answer", "on": "mention", "contains_any": ["?"], "templates": ["Thanks, {name}!"]}
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=4.0, help="mentions per second")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between memory samples")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="frontrow-soak-") as folder,
        MockServer(config=instance_config(Path(folder))) as server,
    ):
        work = Path(folder)
        _, bot = account(server, "bot")
        _, alice = account(server, "alice")
        askers = [account(server, f"asker{n}")[1] for n in range(20)]
        store_url = f"sqlite:///{work / 'frontrow.db'}"
        path = work / "config.toml"
        path.write_text(to_toml(config(server, str(bot.access_token), store_url)))
        store = Store(store_url)
        store.upgrade()
        service = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(path), "run"],
            stdout=subprocess.DEVNULL,
            stderr=open(work / "service.log", "w"),  # noqa: SIM115  (closed with the folder)
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            samples = soak(service, askers, alice, store, args)
        finally:
            service.terminate()
            service.wait(timeout=15)
        report(samples, store)


def soak(
    service: subprocess.Popen[bytes], askers: list[Mastodon], alice: Mastodon, store: Store, args: Any
) -> list[tuple[float, float, int]]:
    started = time.monotonic()
    end = started + args.minutes * 60
    next_sample = started
    samples: list[tuple[float, float, int]] = []
    approved: set[int] = set()
    for number in itertools.count():
        now = time.monotonic()
        if now >= end:
            break
        askers[number % len(askers)].status_post(f"@bot question {number}, does it still work?")
        if now >= next_sample:
            samples.append((now - started, rss_mb(service.pid), number + 1))
            print(
                f"{now - started:7.0f}s  rss {samples[-1][1]:6.1f} MB  mentions sent {number + 1}", flush=True
            )
            next_sample += args.sample
            pending = [d.id for d in store.drafts("pending") if d.id not in approved][:40]
            if pending:
                alice.status_post("@bot ok " + " ".join(map(str, pending)), visibility="direct")
                approved.update(pending)
        time.sleep(max(0.0, started + (number + 1) / args.rate - time.monotonic()))
    return samples


def report(samples: list[tuple[float, float, int]], store: Store) -> None:
    samples = samples[1:]  # the first sample is the start-up, before the imports are done
    if len(samples) < 3:
        print("too short a run to judge")
        return
    third = max(1, len(samples) // 3)
    first = sum(s[1] for s in samples[:third]) / third
    last = sum(s[1] for s in samples[-third:]) / third
    print(f"\nsamples {len(samples)}, drafts {len(store.drafts())}, sent {len(store.drafts('sent'))}")
    print(
        f"rss after warm-up: first third {first:.1f} MB, last third {last:.1f} MB, ratio {last / first:.2f}"
    )


if __name__ == "__main__":
    main()
