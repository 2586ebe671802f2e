"""Schema migrations: a new store is at the newest revision, and an older store keeps its data."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

from bot.model import Account, Follow, event_to_json
from bot.store import Store
from tests.conftest import to_toml

# Every store here is migrated by Alembic itself, never from the session's record (tests/stores.py).

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def alembic_config(connection: object) -> Config:
    config = Config()
    config.set_main_option("script_location", "bot:migrations")
    config.attributes["connection"] = connection
    return config


def head() -> str | None:
    """The newest revision: every store is migrated up to it."""
    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()


def test_a_new_store_matches_the_models_exactly(store_url: str) -> None:
    store = Store(store_url)
    store.upgrade()
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
        assert differences == []
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == head()
    store.upgrade()  # twice is harmless


def test_db_upgrade_keeps_the_data_of_an_older_store(store_url: str, tmp_path: Path) -> None:
    engine = create_engine(store_url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO events (notification_id, kind, account_id, acct, payload, created_at,"
                " recorded_at) VALUES ('n1', 'follow', 'a1', 'fan', '{}', :now, :now)"
            ),
            {"now": now},
        )
        connection.execute(
            text(
                "INSERT INTO drafts (event_id, rule, account_id, acct, display_name, visibility,"
                " spoiler_text, text, template, state, created_at)"
                " VALUES (1, 'thanks', 'a1', 'fan', 'Fan', 'unlisted', '',"
                " 'Thanks, Fan!', 't', 'pending', :now)"
            ),
            {"now": now},
        )
    engine.dispose()
    config = tmp_path / "config.toml"
    data = {"mastodon": {"base_url": "https://mastodon.example"}, "store": {"url": store_url}}
    data["approval"] = {"approvers": ["alice"]}
    config.write_text(to_toml(data))

    result = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), "db", "upgrade"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr

    store = Store(store_url)
    (draft,) = store.drafts()
    assert (draft.text, draft.state, draft.action, draft.triage) == ("Thanks, Fan!", "pending", "post", 2)
    assert store.count_events() == 1
    assert "sending_at" in {c["name"] for c in inspect(store.engine).get_columns("drafts")}


def test_a_store_made_before_migrations_is_adopted_without_losing_data(store_url: str) -> None:
    engine = create_engine(store_url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0002")
        # Stores made before Alembic had these tables and no version: create_all() made them.
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(text("INSERT INTO state (key, value) VALUES ('notifications_cursor', '42')"))
    engine.dispose()
    store = Store(store_url)
    store.upgrade()
    assert store.get_cursor() == "42"
    store.claim("bot@example.social", "https://example.social", "token", datetime.now(UTC))
    assert store.get_cursor() == "42"  # the first account to start adopts the rows


def test_events_of_a_store_at_0004_gain_attempts_and_stay_due(store_url: str) -> None:
    fan = Account(id="a1", acct="fan", username="fan")
    payload = event_to_json(Follow(id="n1", created_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC), account=fan))
    engine = create_engine(store_url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0004")
        connection.execute(
            text(
                "INSERT INTO events (owner, notification_id, kind, account_id, acct, payload,"
                " created_at, recorded_at)"
                " VALUES ('bot@example.social', 'n1', 'follow', 'a1', 'fan', :payload, :now, :now)"
            ),
            {"now": datetime(2026, 3, 1, 12, 0), "payload": payload},
        )
    engine.dispose()
    store = Store(store_url, owner="bot@example.social")
    store.upgrade()
    now = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    ((event_id, event),) = store.unhandled_events(now=now)
    assert event.id == "n1" and store.next_event_due_at() is None
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT attempts FROM events")).scalar() == 0
    assert store.fail_event(event_id, "boom", now, now) == 1

    with store.engine.begin() as connection:  # and back: 0004 knows nothing of attempts
        command.downgrade(alembic_config(connection), "0004")
        assert "attempts" not in {c["name"] for c in inspect(connection).get_columns("events")}
    store.upgrade()
    assert [e.id for _, e in store.unhandled_events(now=now)] == ["n1"]
    store.close()


def test_an_unversioned_store_with_accounts_is_adopted_before_event_attempts(store_url: str) -> None:
    engine = create_engine(store_url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0004")
        connection.execute(text("DROP TABLE alembic_version"))
    engine.dispose()
    store = Store(store_url)
    store.upgrade()
    with store.engine.connect() as connection:
        assert "attempts" in {c["name"] for c in inspect(connection).get_columns("events")}
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head()
    store.close()


def schema(store_url: str) -> dict[str, Any]:
    """Everything of a store's schema that a migration makes: tables, columns (type, nullability,
    server default), keys, indexes, unique constraints, foreign keys, the triggers, the version."""
    engine = create_engine(store_url)
    try:
        with engine.connect() as connection:
            found = inspect(connection)
            out: dict[str, Any] = {}
            for table in sorted(found.get_table_names()):
                columns = {
                    c["name"]: (str(c["type"]), c["nullable"], str(c.get("default")).strip("'()"))
                    for c in found.get_columns(table)
                }
                out[table] = {
                    "columns": columns,
                    "pk": found.get_pk_constraint(table)["constrained_columns"],
                    "indexes": sorted(
                        (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                        for i in found.get_indexes(table)
                    ),
                    "unique": sorted(
                        (u["name"], tuple(u["column_names"])) for u in found.get_unique_constraints(table)
                    ),
                    "fks": sorted(
                        (tuple(f["constrained_columns"]), f["referred_table"])
                        for f in found.get_foreign_keys(table)
                    ),
                }
            if connection.dialect.name == "postgresql":
                triggers = connection.execute(
                    text(
                        "SELECT trigger_name, event_manipulation, action_statement, action_timing "
                        "FROM information_schema.triggers ORDER BY 1, 2"
                    )
                ).all()
                body = connection.execute(
                    text("SELECT prosrc FROM pg_proc WHERE proname = 'frontrow_person_tally'")
                ).all()
                out["triggers"] = [tuple(t) for t in triggers] + [tuple(b) for b in body]
            else:
                rows = connection.execute(
                    text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
                ).all()
                out["triggers"] = [(name, " ".join(sql.split())) for name, sql in rows]
            out["version"] = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    return out


def empty(store_url: str) -> None:
    """Drop everything a store has, so the same database can be made again another way."""
    engine = create_engine(store_url)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        else:
            for name in inspect(connection).get_table_names():
                connection.execute(text(f'DROP TABLE "{name}"'))
    engine.dispose()


def test_a_new_store_is_made_without_alembic_exactly_as_the_migrations_make_it(store_url: str) -> None:
    """A fresh store is created from the models and stamped at head (no alembic, no mako: run --once on
    a new store stays small, see bench/catchup.py); it equals a store migrated from nothing."""
    made = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bot.store import Store; Store(sys.argv[1]).upgrade(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))",
            store_url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "[]"
    created = schema(store_url)
    empty(store_url)
    engine = create_engine(store_url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    engine.dispose()
    migrated = schema(store_url)
    assert created["triggers"] and created["version"] == head()
    for table in sorted(set(created) | set(migrated)):
        assert created.get(table) == migrated.get(table), table
    # …and it works: a tally follows an interaction.
    store = Store(store_url)
    store.upgrade()  # at head: nothing to do
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO interactions (owner, account_id, direction, kind, at) "
                "VALUES ('', 'a1', 'theirs', 'mention', :at)"
            ),
            {"at": datetime.now(UTC).replace(tzinfo=None)},
        )
        assert connection.execute(text("SELECT theirs_mention FROM person_tallies")).scalar() == 1
