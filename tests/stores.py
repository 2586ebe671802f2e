"""Cheap fresh stores for the tests (used by tests/conftest.py's `store_url` fixture and an autouse fixture).

Two costs dominated the store-backed tests, PostgreSQL most: making and dropping a database per test
(DROP DATABASE waits for a checkpoint: up to seconds on a busy disk) and running the Alembic
migrations on every new store (1-3 s of wall time on PostgreSQL, 0.1 s of CPU on SQLite). Here:

- `PgDatabases` keeps a few databases per test process and empties one (every schema dropped, `public`
  made again) when its test ends, instead of dropping it; a test still gets an empty database that no
  other test is using, with commits that do not wait for the disk (synchronous_commit off: a crash of
  the test server may lose the last commits, which no test relies on).
- `replaying_upgrade` stands in for `StoreBase.upgrade` on a store with no tables at all: the first
  such upgrade per backend runs the real migrations and records the schema they made (SQLite's
  `sqlite_master`, PostgreSQL's `pg_dump --schema-only`), later ones replay that record in one
  transaction. A store with any table (an older schema, a test's own) always gets the real
  migrations, and tests marked `real_migrations` (all of tests/test_migrations.py) never replay.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import uuid
from collections import deque
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot.store.base import StoreBase

# A database given back waits behind this many others before it is used again, so a thread that a
# test left running (it should not) finds its database empty rather than in the next test's hands.
ROTATION = 3


class PgDatabases:
    """The PostgreSQL databases of one test process: made on demand, emptied between tests, dropped at
    the end. Names are random, so parallel workers and other people's runs never collide."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.free: deque[str] = deque()
        self.made: list[str] = []

    def url(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def take(self) -> str:
        """An empty database that no running test uses (its URL)."""
        if len(self.free) > ROTATION:
            return self.url(self.free.popleft())
        name = f"frontrow_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
            connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        self.made.append(name)
        return self.url(name)

    def give_back(self, url: str) -> None:
        """Empty the database (closing whatever connections the test left) and keep it for later."""
        name = str(make_url(url).database)
        try:
            with self.admin.connect() as connection:
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
            engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
            try:
                with engine.connect() as connection:
                    schemas = connection.execute(
                        text(
                            "SELECT nspname FROM pg_namespace "
                            "WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"
                        )
                    ).scalars()
                    for schema in list(schemas):
                        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                    connection.execute(text("CREATE SCHEMA public"))
            finally:
                engine.dispose()
        except Exception:  # whatever the test did to it, the next test must not see it
            self.drop(name)
            return
        self.free.append(name)

    def drop(self, name: str) -> None:
        with contextlib.suppress(Exception), self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        for name in self.made:
            self.drop(name)
        self.admin.dispose()


# --- migrations: run once per backend, then replayed on empty stores --------------------------------

REAL_UPGRADE = StoreBase.upgrade
_SCHEMAS: dict[str, list[str] | None] = {}  # backend -> statements that make the newest schema; None: cannot


def replaying_upgrade(store: StoreBase) -> None:
    """`StoreBase.upgrade`, with the migrations of an empty store replayed from a record (see above)."""
    backend = store.engine.url.get_backend_name()
    with store._translated(), store.engine.connect() as connection:
        empty = not inspect(connection).get_table_names()
    if not empty or backend not in ("sqlite", "postgresql"):
        REAL_UPGRADE(store)
        return
    schema = _SCHEMAS.get(backend, [])
    if not schema:
        REAL_UPGRADE(store)
        if backend not in _SCHEMAS:
            _SCHEMAS[backend] = _record(store, backend)
        return
    with store._translated(), store.engine.begin() as connection:
        for statement in schema:
            connection.exec_driver_sql(statement)


def _record(store: StoreBase, backend: str) -> list[str] | None:
    """The statements that make the store's schema as the migrations left it, or None."""
    with store.engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        if backend == "sqlite":
            made = connection.execute(
                text(
                    "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' "
                    "ESCAPE '\\' ORDER BY rowid"
                )
            ).scalars()
            statements = list(made)
        else:
            statements = _pg_schema(store)
            if statements is None:
                return None
    return [*statements, *(f"INSERT INTO alembic_version (version_num) VALUES ('{v}')" for v in versions)]


def _pg_schema(store: StoreBase) -> list[str] | None:
    """pg_dump's schema of the store as one script, without its session settings (the replay runs on a
    connection the store keeps using) and without the `public` schema, which every database has."""
    if shutil.which("pg_dump") is None:
        return None
    url = store.engine.url
    argv = ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", "--dbname", _libpq(url)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None
    kept = [
        line
        for line in done.stdout.splitlines()
        if not line.startswith(("\\", "SET ", "SELECT pg_catalog.set_config", "--"))
        and not line.startswith(("CREATE SCHEMA public", "ALTER SCHEMA public", "COMMENT ON SCHEMA public"))
    ]
    return ["\n".join(kept)]


def _libpq(url: Any) -> str:
    return str(url.set(drivername="postgresql").render_as_string(hide_password=False))
