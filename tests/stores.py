"""Cheap fresh PostgreSQL stores for the tests (used by tests/conftest.py's `store_url` fixture).

Making and dropping a database per test cost most (DROP DATABASE waits for a checkpoint: up to seconds
on a busy disk). `PgDatabases` keeps a few databases per test process and empties one (every schema
dropped, `public` made again) when its test ends, instead of dropping it; a test still gets an empty
database that no other test is using, with commits that do not wait for the disk (synchronous_commit
off: a crash of the test server may lose the last commits, which no test relies on).
"""

from __future__ import annotations

import contextlib
import uuid
from collections import deque

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

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
