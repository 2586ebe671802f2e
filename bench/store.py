"""Store at scale: 100k people and 1M interactions; `who`, `people --owed`, `people` and `stats`,
on SQLite and on PostgreSQL.

The SQLite store is built once (schema by `Store.upgrade()`, rows by `sqlite3.executemany`) and kept in
`$TMPDIR/frontrow-bench-store/`, keyed by the schema revision, the generator's version and the sizes: a
re-run at the same revision costs nothing to build. A new migration (new indexes) builds a new one.
PostgreSQL (`--pg-url`, default `$FRONTROW_TEST_PG_URL`): a fresh database `frontrow_bench_store_<pid>`
is made on that server, migrated, filled from the SQLite copy with COPY, analysed, and dropped at the end.

What is timed is what the CLI command asks the store (bot/cli/people.py):

- `who`: the person (by acct), their counts, notes, drafts, stop and departures; on SQLite through
  bot/store/quick.py as `frontrow who` does, on PostgreSQL through `Store`; for the heaviest person;
- `people --owed`, `people` (all, by engagement): `ledger.people(store, now, mode, 50)`;
- `stats`: `ledger.stats(store, now)`.

Each call runs in `--procs` fresh child processes, alternating calls and databases: the *first* call in a
process (after the imports, bot.text's too; with the store's connection opened by it, SQLAlchemy's
mappers configured and its statements compiled, as a one-shot CLI run pays them) and
then `--repeat` *warm* calls on the same store. Printed: the warm median and range over all processes,
the first call's median and range, first ÷ warm, the CPU milliseconds of a warm call and the load
average before and after. Targets (issue #15.5): warm ≤ 300 ms, first ≤ 2 × warm.

    python bench/store.py [--people 100000] [--interactions 1000000] [--procs 5] [--repeat 5]
                          [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test | --no-pg]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.store.plain import HEAD, token_fingerprint
from bot.store.tally_sql import BACKFILL

TARGET_WARM_MS = 300.0
TARGET_FIRST_RATIO = 2.0
GENERATOR = 2  # bump when the rows generated change: the cache key holds it
OWNER = "bench@127.0.0.1"
BASE_URL, TOKEN = "http://127.0.0.1:9", "unused"
CALLS = ("who", "people --owed", "people", "stats")
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
# The tables the generator fills, with their columns (copied as they are into PostgreSQL).
COLUMNS = {
    "accounts": ("owner", "base_url", "token_fingerprint", "last_started"),
    "people": [
        "owner",
        "account_id",
        "acct",
        "display_name",
        "followers_count",
        "bot",
        "first_seen",
        "follows_us_since",
        "we_follow",
    ],
    "interactions": ["id", "owner", "account_id", "direction", "kind", "status_id", "at"],
    "drafts": [
        "id",
        "owner",
        "event_id",
        "rule",
        "account_id",
        "acct",
        "display_name",
        "text",
        "template",
        "visibility",
        "spoiler_text",
        "action",
        "triage",
        "state",
        "created_at",
        "sent_at",
        "decided_at",
    ],
    "notes": ["id", "owner", "account_id", "text", "created_at"],
    "our_posts": ["id", "owner", "status_id", "created_at", "visibility", "kind", "excerpt"],
    "departures": ["id", "owner", "account_id", "acct", "followed_since", "after", "noticed_at", "cause"],
}


def _weighted(pairs: tuple[tuple[str, int], ...]) -> tuple[list[str], list[int]]:
    return [k for k, _ in pairs], [w for _, w in pairs]


def _stamp(moment: datetime) -> str:
    """As bot.store.tables.UTCDateTime keeps a time in SQLite: naive UTC ISO text."""
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


# --- building (once per revision) ---------------------------------------------------------------


def build_sqlite(path: Path, people: int, interactions: int, days: int, seed: int) -> dict[str, Any]:
    """A migrated store at `path` filled with generated rows; returns what the timing needs to know."""
    from bot.store import Store

    store = Store(f"sqlite:///{path}")
    store.upgrade()
    store.close()
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)

    def ago(span: int) -> str:
        # Recent-heavy: about a fifth of everything in the last 30 of 365 days.
        return _stamp(now - timedelta(seconds=int(span * 86400 * rng.random() ** 1.5)))

    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = MEMORY")  # bulk loading only; the store itself uses WAL
    db.execute("PRAGMA synchronous = OFF")
    # Indexes and triggers come back after the rows: building an index once is far cheaper than
    # keeping it sorted through 1M random inserts (the tallies are then counted as the migration does).
    deferred = db.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN ('interactions', 'people', 'drafts') "
        "AND type IN ('index', 'trigger') AND sql IS NOT NULL"
    ).fetchall()
    for kind, name, _ in deferred:
        db.execute(f'DROP {kind.upper()} "{name}"')

    def insert(table: str, rows: Any) -> None:
        names = COLUMNS[table]
        db.executemany(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", rows
        )

    insert("accounts", [(OWNER, BASE_URL, token_fingerprint(BASE_URL, TOKEN), _stamp(now))])

    def person(i: int) -> tuple[Any, ...]:
        remote = i % 3 == 0
        first = ago(days)
        return (
            OWNER,
            str(1_000_000 + i),
            f"user{i}@remote{i % 97}.example" if remote else f"user{i}",
            f"User {i}",
            int(rng.lognormvariate(4, 1.6)),
            rng.random() < 0.02,
            first,
            first if rng.random() < 0.6 else None,
            rng.random() < 0.1,
        )

    insert("people", (person(i) for i in range(people)))
    theirs_k, theirs_w = _weighted(THEIR_KINDS)
    ours_k, ours_w = _weighted(OUR_KINDS)

    def interaction(n: int) -> tuple[Any, ...]:
        # Heavy-tailed: person i gets a share that falls off with i (the first few are very active).
        theirs = rng.random() < 0.9
        return (
            n + 1,
            OWNER,
            str(1_000_000 + int(people * rng.random() ** 2)),
            "theirs" if theirs else "ours",
            rng.choices(theirs_k, theirs_w)[0] if theirs else rng.choices(ours_k, ours_w)[0],
            str(10**15 + n) if rng.random() < 0.8 else None,
            ago(days),
        )

    insert("interactions", (interaction(n) for n in range(interactions)))
    states_k, states_w = _weighted(DRAFT_STATES)

    def draft(n: int) -> tuple[Any, ...]:
        who = int(people * rng.random() ** 2)
        created = now - timedelta(seconds=int(days * 86400 * rng.random() ** 1.5))
        state = rng.choices(states_k, states_w)[0]
        decided = state in ("sent", "rejected", "failed")
        return (
            n + 1,
            OWNER,
            None,
            rng.choice(("thank-new-followers", "answer-questions")),
            str(1_000_000 + who),
            f"user{who}",
            f"User {who}",
            "Thanks for the follow, friend! Glad you're here.",
            "t",
            "unlisted",
            "",
            "post",
            2,
            state,
            _stamp(created),
            _stamp(created + timedelta(minutes=30)) if state == "sent" else None,
            _stamp(created + timedelta(minutes=20)) if decided else None,
        )

    insert("drafts", (draft(n) for n in range(max(1, interactions // 30))))
    insert(
        "notes",
        (
            (
                n + 1,
                OWNER,
                str(1_000_000 + int(people * rng.random() ** 2)),
                "met at the book fair",
                ago(days),
            )
            for n in range(max(1, people // 50))
        ),
    )
    insert(
        "our_posts",
        (
            (
                n + 1,
                OWNER,
                str(2 * 10**15 + n),
                ago(days),
                "public",
                rng.choice(("post", "reply", "boost")),
                "",
            )
            for n in range(max(1, interactions // 300))
        ),
    )

    def departure(n: int) -> tuple[Any, ...]:
        who = int(people * rng.random())
        noticed = now - timedelta(seconds=int(days * 86400 * rng.random()))
        return (
            n + 1,
            OWNER,
            str(1_000_000 + who),
            f"user{who}",
            None,
            _stamp(noticed - timedelta(hours=6)),
            _stamp(noticed),
            "unfollow",
        )

    insert("departures", (departure(n) for n in range(max(1, people // 100))))
    db.commit()
    if any(kind == "trigger" for kind, _, _ in deferred):
        db.execute("DELETE FROM person_tallies")
        db.execute(BACKFILL)
    for _, _, sql in deferred:
        db.execute(sql)
    db.commit()
    db.execute("ANALYZE")
    db.commit()
    heaviest = db.execute(
        "SELECT account_id FROM interactions GROUP BY account_id ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()[0]
    acct, count = db.execute(
        "SELECT p.acct, (SELECT count(*) FROM interactions i WHERE i.account_id = p.account_id) "
        "FROM people p WHERE p.account_id = ?",
        (heaviest,),
    ).fetchone()
    db.close()
    return {"now": now.isoformat(), "who": acct, "who_interactions": count}


def cached_sqlite(people: int, interactions: int, days: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """The SQLite bench store for these sizes at this schema revision, built when missing."""
    folder = Path(tempfile.gettempdir()) / "frontrow-bench-store"
    folder.mkdir(exist_ok=True)
    key = f"r{HEAD}-g{GENERATOR}-{people}-{interactions}-{days}-{seed}"
    path, meta_path = folder / f"{key}.db", folder / f"{key}.json"
    if path.exists() and meta_path.exists():
        print(f"SQLite store: {path} (cached)")
        return path, json.loads(meta_path.read_text())
    for stale in (path, meta_path, path.with_suffix(".db-wal"), path.with_suffix(".db-shm")):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    meta = build_sqlite(path, people, interactions, days, seed)
    meta_path.write_text(json.dumps(meta))
    print(
        f"SQLite store: {path} built in {time.perf_counter() - started:.0f} s, "
        f"{path.stat().st_size / 2**20:.0f} MB"
    )
    return path, meta


def fill_postgres(url: str, source: Path) -> None:
    """Migrate the (empty) database at `url` and copy the SQLite store's rows into it with COPY."""
    import psycopg

    from bot.store import Store

    store = Store(url)
    store.upgrade()
    store.close()
    started = time.perf_counter()
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    with psycopg.connect(plain) as pg, pg.cursor() as cur:
        # As for SQLite: indexes after the rows, and the tallies copied rather than kept row by row.
        tables = [*COLUMNS, "person_tallies"]
        indexes = cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY(%s) "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            (tables,),
        ).fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        cur.execute("ALTER TABLE interactions DISABLE TRIGGER USER")
        tally_columns = [r[1] for r in src.execute("PRAGMA table_info(person_tallies)")]
        for table, names in [*COLUMNS.items(), ("person_tallies", tally_columns)]:
            columns = ", ".join(f'"{n}"' for n in names)
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in src.execute(f"SELECT {', '.join(names)} FROM {table}"):
                    copy.write_row(row)
            if "id" in names:
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")
        cur.execute("ALTER TABLE interactions ENABLE TRIGGER USER")
        for _, definition in indexes:
            cur.execute(definition)
        pg.commit()
        pg.autocommit = True
        cur.execute("VACUUM ANALYZE")
    src.close()
    print(f"PostgreSQL store: copied and analysed in {time.perf_counter() - started:.0f} s")


class Postgres:
    """A fresh database on the server of `url`, dropped on exit."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        self.server = make_url(url)
        self.name = f"frontrow_bench_store_{os.getpid()}"
        self.url = self.server.set(database=self.name).render_as_string(hide_password=False)

    def _admin(self, sql: str) -> None:
        import psycopg

        admin = self.server.set(drivername="postgresql", database="postgres")
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(sql)

    def __enter__(self) -> Postgres:
        self._admin(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *exc: object) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# --- timing (in child processes) -----------------------------------------------------------------


def child(url: str, call: str, acct: str, now_iso: str, repeat: int) -> None:
    """Print JSON: the first call's and the warm calls' wall and CPU milliseconds, in this process."""
    import bot.text  # noqa: F401  (imports are not the store's time: bench/commands.py times them)

    now = datetime.fromisoformat(now_iso)
    sqlite_path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None
    if call == "who" and sqlite_path is not None:
        from bot.store.quick import QuickReader  # what `frontrow who` reads a SQLite store with

        def make() -> Any:
            reader = QuickReader.open(url, Path(sqlite_path).parent, BASE_URL, TOKEN)
            assert reader is not None, "the bench store is not at the newest revision"
            return reader
    else:
        from bot.store import Store, ledger

        def make() -> Any:
            store = Store(url)
            store.owner = store.find_owner(BASE_URL, TOKEN)
            return store

    def run(db: Any) -> None:
        if call == "who":
            person = db.person(acct)
            assert person is not None, acct
            for part in (db.interaction_counts, db.departures_of, db.notes, db.drafts_for, db.stopped_at):
                part(person.account_id)
        elif call == "stats":
            ledger.stats(db, now)
        else:
            ranked = ledger.people(db, now, "owed" if call == "people --owed" else "all", 50)
            assert ranked, call

    wall, cpu = [], []
    db = None
    for n in range(repeat + 1):
        started, cpu_started = time.perf_counter(), time.process_time()
        if n == 0:
            db = make()  # the first call opens the store (a CLI command pays it too)
        run(db)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    print(json.dumps({"wall": wall, "cpu": cpu}))


def in_child(url: str, call: str, acct: str, now: str, repeat: int) -> dict[str, list[float]]:
    argv = [sys.executable, __file__, "--child", url, call, acct, now, str(repeat)]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{call} on {url.split(':')[0]} failed:\n{done.stderr[-3000:]}")
    result: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def measure(
    stores: dict[str, str], calls: tuple[str, ...], acct: str, now: str, procs: int, repeat: int
) -> dict[tuple[str, str], dict[str, list[float]]]:
    """Alternate: for each process round, every call on every database, one fresh child each."""
    out: dict[tuple[str, str], dict[str, list[float]]] = {}
    for _ in range(procs):
        for call in calls:
            for backend, url in stores.items():
                got = in_child(url, call, acct, now, repeat)
                figures = out.setdefault((backend, call), {"first": [], "warm": [], "cpu": []})
                figures["first"].append(got["wall"][0])
                figures["warm"] += got["wall"][1:]
                figures["cpu"] += got["cpu"][1:]
    return out


def report(figures: dict[tuple[str, str], dict[str, list[float]]], loads: tuple[str, str]) -> None:
    from _common import table, verdict

    rows = []
    for (backend, call), f in figures.items():
        warm, first = _median(f["warm"]), _median(f["first"])
        ok = warm <= TARGET_WARM_MS and first <= TARGET_FIRST_RATIO * warm
        rows.append(
            [
                f"{call} [{backend}]",
                f"{warm:.0f}",
                f"{min(f['warm']):.0f}–{max(f['warm']):.0f}",
                f"{first:.0f}",
                f"{min(f['first']):.0f}–{max(f['first']):.0f}",
                f"{first / warm:.2f}",
                f"{_median(f['cpu']):.0f}",
                verdict(ok),
            ]
        )
    print()
    print(
        table(
            f"Store calls (ms); targets: warm ≤ {TARGET_WARM_MS:.0f}, "
            f"first ≤ {TARGET_FIRST_RATIO:.0f} × warm",
            ["call", "warm", "range", "first", "range", "first/warm", "warm CPU", "verdict"],
            rows,
        )
    )
    print(f"load average (1, 5, 15 min) before: {loads[0]}; after: {loads[1]}; CPUs: {os.cpu_count()}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        url, call, acct, now, repeat = sys.argv[2:7]
        child(url, call, acct, now, int(repeat))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365, help="interactions spread over this many days")
    parser.add_argument("--procs", type=int, default=5, help="fresh processes per call and database")
    parser.add_argument("--repeat", type=int, default=5, help="warm calls in each process")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg-url", default=os.environ.get("FRONTROW_TEST_PG_URL", ""))
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--only", choices=CALLS, action="append", help="time only these calls")
    args = parser.parse_args()

    path, meta = cached_sqlite(args.people, args.interactions, args.days, args.seed)
    print(
        f"{args.people:,} people, {args.interactions:,} interactions, {args.interactions // 30:,} drafts; "
        f"`who` asks for {meta['who']} ({meta['who_interactions']:,} interactions)"
    )
    stores = {"SQLite": f"sqlite:///{path}"}
    pg = Postgres(args.pg_url) if args.pg_url and not args.no_pg else None
    try:
        if pg is not None:
            pg.__enter__()
            fill_postgres(pg.url, path)
            stores["PostgreSQL"] = pg.url
        load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
        calls = tuple(args.only) if args.only else CALLS
        figures = measure(stores, calls, meta["who"], meta["now"], args.procs, args.repeat)
        load_after = " ".join(f"{x:.1f}" for x in os.getloadavg())
    finally:
        if pg is not None:
            pg.__exit__()
    report(figures, (load_before, load_after))


if __name__ == "__main__":
    main()
