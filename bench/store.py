"""Store at scale: 100k people and 1M interactions; the time of `who`, `people --owed` and `stats`.

Builds a SQLite store in a temp folder (schema by `Store.upgrade()`, rows by bulk SQLAlchemy Core inserts
on the store's engine), then times the calls the CLI commands make, on a fresh `Store` each time:

- `who`: `Store.person(acct)` + `interaction_counts` + `notes` + `drafts_for` (what bot/cli.py `who` runs),
  for the person with the most interactions and for a typical one;
- `people --owed`: `bot.store.ledger.people(store, now, "owed", 50)`;
- `people` (all, by engagement) and `stats`: `ledger.people(..., "all")`, `ledger.stats(store, now)`.

Each figure is the median of several repetitions ("first" is the first call in this process, before
SQLAlchemy's statement cache is warm, as in a one-shot CLI run). Also times the commands end to end as
child processes (`python -m bot ... who/people --owed/stats`) against `python -m bot --help` in the same run.
No server is needed: these commands only read the store.

    python bench/store.py [--people 100000] [--interactions 1000000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, child_env, frontrow_config, median, run_child, table, verdict, write_config
from sqlalchemy import func, select, text

from bot.store import DraftRow, InteractionRow, NoteRow, OurPostRow, PersonRow, Store, ledger

TARGET_WHO_MS = 50.0
TARGET_OWED_MS = 500.0
CHUNK = 20_000
NOW = datetime.now(UTC).replace(microsecond=0)
THEIR_KINDS = (
    ("favourite", 45),
    ("boost", 20),
    ("mention", 18),
    ("reply", 10),
    ("follow", 6),
    ("follow_request", 1),
)
OUR_KINDS = (("reply", 40), ("thanks", 30), ("boost", 15), ("favourite", 10), ("follow", 5))
DRAFT_STATES = (("sent", 50), ("rejected", 15), ("expired", 20), ("pending", 10), ("failed", 5))


def _weighted(pairs: tuple[tuple[str, int], ...]) -> tuple[list[str], list[int]]:
    return [k for k, _ in pairs], [w for _, w in pairs]


def _ago(rng: random.Random, days: int) -> datetime:
    # Recent-heavy: about a fifth of everything in the last 30 of 365 days.
    return NOW - timedelta(seconds=int(days * 86400 * rng.random() ** 1.5))


def generate(store: Store, people: int, interactions: int, days: int, seed: int) -> dict[str, Any]:
    """Fill the store; returns the accts worth looking up (heaviest, typical)."""
    rng = random.Random(seed)
    engine = store.engine
    with engine.begin() as conn:
        # Bulk loading only: these pragmas apply to this connection while it generates.
        conn.execute(text("PRAGMA synchronous = OFF"))
        conn.execute(text("PRAGMA journal_mode = MEMORY"))

        def insert(table_: Any, rows: list[dict[str, Any]]) -> None:
            for start in range(0, len(rows), CHUNK):
                conn.execute(table_.insert(), rows[start : start + CHUNK])

        person_rows = []
        for i in range(people):
            remote = i % 3 == 0
            first = _ago(rng, days)
            person_rows.append(
                {
                    "account_id": str(1_000_000 + i),
                    "acct": f"user{i}@remote{i % 97}.example" if remote else f"user{i}",
                    "display_name": f"User {i}",
                    "followers_count": int(rng.lognormvariate(4, 1.6)),
                    "bot": rng.random() < 0.02,
                    "first_seen": first,
                    "follows_us_since": first if rng.random() < 0.6 else None,
                    "we_follow": rng.random() < 0.1,
                }
            )
        insert(PersonRow.__table__, person_rows)
        del person_rows

        theirs_k, theirs_w = _weighted(THEIR_KINDS)
        ours_k, ours_w = _weighted(OUR_KINDS)
        # Heavy-tailed: person i gets a share that falls off with i (the first few are very active).
        batch: list[dict[str, Any]] = []
        for n in range(interactions):
            who = str(1_000_000 + int(people * rng.random() ** 2))
            theirs = rng.random() < 0.9
            batch.append(
                {
                    "account_id": who,
                    "direction": "theirs" if theirs else "ours",
                    "kind": rng.choices(theirs_k, theirs_w)[0] if theirs else rng.choices(ours_k, ours_w)[0],
                    "status_id": str(10**15 + n) if rng.random() < 0.8 else None,
                    "at": _ago(rng, days),
                }
            )
            if len(batch) == CHUNK:
                insert(InteractionRow.__table__, batch)
                batch = []
        insert(InteractionRow.__table__, batch)

        states_k, states_w = _weighted(DRAFT_STATES)
        drafts = []
        for _ in range(max(1, interactions // 30)):
            who_i = int(people * rng.random() ** 2)
            created = _ago(rng, days)
            state = rng.choices(states_k, states_w)[0]
            drafts.append(
                {
                    "event_id": None,
                    "rule": rng.choice(("thank-new-followers", "answer-questions")),
                    "account_id": str(1_000_000 + who_i),
                    "acct": f"user{who_i}",
                    "display_name": f"User {who_i}",
                    "text": "Thanks for the follow, friend! Glad you're here.",
                    "template": "t",
                    "visibility": "unlisted",
                    "spoiler_text": "",
                    "action": "post",
                    "triage": 2,
                    "state": state,
                    "created_at": created,
                    "sent_at": created + timedelta(minutes=30) if state == "sent" else None,
                    "decided_at": created + timedelta(minutes=20)
                    if state in ("sent", "rejected", "failed")
                    else None,
                }
            )
        insert(DraftRow.__table__, drafts)
        insert(
            NoteRow.__table__,
            [
                {
                    "account_id": str(1_000_000 + int(people * rng.random() ** 2)),
                    "text": "met at the book fair",
                    "created_at": _ago(rng, days),
                }
                for _ in range(max(1, people // 50))
            ],
        )
        insert(
            OurPostRow.__table__,
            [
                {
                    "status_id": str(2 * 10**15 + n),
                    "created_at": _ago(rng, days),
                    "visibility": "public",
                    "kind": rng.choice(("post", "reply", "boost")),
                    "in_reply_to_account_id": None,
                    "reblog_of_account_id": None,
                }
                for n in range(max(1, interactions // 300))
            ],
        )

        heaviest = conn.execute(
            select(InteractionRow.account_id)
            .group_by(InteractionRow.account_id)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar_one()
        typical = str(1_000_000 + people // 2)
        accts = dict(
            conn.execute(
                select(PersonRow.account_id, PersonRow.acct).where(
                    PersonRow.account_id.in_([heaviest, typical])
                )
            ).all()
        )
        counts = dict(
            conn.execute(
                select(InteractionRow.account_id, func.count())
                .where(InteractionRow.account_id.in_([heaviest, typical]))
                .group_by(InteractionRow.account_id)
            ).all()
        )
    return {
        "heaviest": (accts[heaviest], counts.get(heaviest, 0)),
        "typical": (accts[typical], counts.get(typical, 0)),
    }


def who_calls(store: Store, acct: str) -> None:
    """What `frontrow who ACCT` asks the store (bot/cli.py `who`)."""
    person = store.person(acct)
    assert person is not None, acct
    store.interaction_counts(person.account_id)
    store.notes(person.account_id)
    store.drafts_for(person.account_id)


def timed(url: str, call: Callable[[Store], Any], repeat: int) -> tuple[float, float]:
    """(first, median) milliseconds of `call` on a fresh Store each time (connection opening included)."""
    samples = []
    for _ in range(repeat):
        store = Store(url)
        try:
            started = time.perf_counter()
            call(store)
            samples.append((time.perf_counter() - started) * 1000)
        finally:
            store.close()
    return samples[0], median(samples)


def cli_times(config: Path, workdir: Path, commands: dict[str, list[str]], repeat: int) -> dict[str, float]:
    """Median wall seconds of each `python -m bot --config C <command>` child process."""
    out = {}
    for label, argv in commands.items():
        samples = []
        for _ in range(repeat):
            result = run_child(
                [PYTHON, "-m", "bot", "--config", str(config), *argv], workdir, env=child_env()
            )
            if result.returncode != 0:
                raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
            samples.append(result.seconds)
        out[label] = median(samples)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365, help="interactions spread over this many days")
    parser.add_argument("--repeat", type=int, default=7, help="timed repetitions per call (median)")
    parser.add_argument("--cli-repeat", type=int, default=3, help="end-to-end CLI runs per command (median)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="frontrow-bench-store-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'frontrow.db'}"
        store = Store(url)
        started = time.perf_counter()
        store.upgrade()
        lookups = generate(store, args.people, args.interactions, args.days, args.seed)
        store.close()
        built = time.perf_counter() - started
        size_mb = (workdir / "frontrow.db").stat().st_size / 2**20
        print(
            f"store: {args.people:,} people, {args.interactions:,} interactions "
            f"({args.interactions // 30:,} drafts) built in {built:.0f} s, {size_mb:.0f} MB"
        )

        heavy_acct, heavy_n = lookups["heaviest"]
        typical_acct, typical_n = lookups["typical"]

        def upgrade(s: Store) -> None:
            s.upgrade()

        rows = []
        figures: dict[str, tuple[float, float]] = {
            f"who (heaviest: {heavy_n:,} interactions)": timed(
                url, lambda s: who_calls(s, heavy_acct), args.repeat
            ),
            f"who (typical: {typical_n:,} interactions)": timed(
                url, lambda s: who_calls(s, typical_acct), args.repeat
            ),
            "people --owed": timed(url, lambda s: ledger.people(s, NOW, "owed", 50), args.repeat),
            "people (by engagement)": timed(url, lambda s: ledger.people(s, NOW, "all", 50), args.repeat),
            "stats": timed(url, lambda s: ledger.stats(s, NOW), args.repeat),
            "opening the store (upgrade, no-op)": timed(url, upgrade, args.repeat),
        }
        targets = {"who (h": TARGET_WHO_MS, "who (t": TARGET_WHO_MS, "people --owed": TARGET_OWED_MS}
        for label, (first, med) in figures.items():
            target = next((t for prefix, t in targets.items() if label.startswith(prefix)), None)
            rows.append(
                [
                    label,
                    f"{med:.1f}",
                    f"{first:.1f}",
                    f"< {target:.0f}" if target else "",
                    verdict(med < target) if target else "",
                ]
            )
        print()
        print(
            table(
                f"Store calls, fresh Store each time, median of {args.repeat} (ms)",
                ["call", "median ms", "first ms", "target", "verdict"],
                rows,
            )
        )

        # Where `who` spends its time, call by call (heaviest person).
        person = Store(url).person(heavy_acct)
        assert person is not None
        account_id = person.account_id
        parts = {
            "person(acct)  [case-insensitive acct match]": lambda s: s.person(heavy_acct),
            "person(account id)  [primary key]": lambda s: s.person(account_id),
            "interaction_counts": lambda s: s.interaction_counts(account_id),
            "notes": lambda s: s.notes(account_id),
            "drafts_for": lambda s: s.drafts_for(account_id),
        }
        print()
        print(
            table(
                "who, call by call (heaviest person), median ms",
                ["store call", "median ms"],
                [[label, f"{timed(url, call, args.repeat)[1]:.1f}"] for label, call in parts.items()],
            )
        )

        config = write_config(
            workdir / "config.toml", frontrow_config("http://127.0.0.1:9", "unused", url, "alice")
        )
        cli = cli_times(
            config,
            workdir,
            {
                "--help (baseline: start-up and imports)": ["--help"],
                f"who {heavy_acct}": ["who", heavy_acct],
                "people --owed": ["people", "--owed"],
                "stats": ["stats"],
            },
            args.cli_repeat,
        )
        base = next(iter(cli.values()))
        print()
        print(
            table(
                f"End to end: python -m bot ... as a child process, median of {args.cli_repeat} (s)",
                ["command", "wall s", "minus baseline s", "× baseline"],
                [[label, f"{s:.2f}", f"{s - base:+.2f}", f"{s / base:.2f}"] for label, s in cli.items()],
            )
        )


if __name__ == "__main__":
    main()
