"""Store (base): the database connection itself: engine, sessions, accounts sharing it, migrations, errors."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from sqlalchemy import event, func, inspect, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError, SQLAlchemyError
from sqlmodel import Session, col, create_engine, select

from bot.store.tables import OWNED_TABLES, AccountRow

# Bulk updates in our short sessions: no loaded rows to keep in step, so skip SQLAlchemy's evaluation.
NO_SYNC = {"synchronize_session": False}


class StoreError(Exception):
    """The store could not be read or written (disk full, read-only, locked, gone): one line, no SQL."""


class StoreOpenError(StoreError):
    """The store cannot be opened at all: a bad `store.url`, a missing driver, a file that is no database."""


class StoreBase:
    """The connection every part of the store works through; `Store` adds the methods for each concern."""

    def __init__(self, url: str, owner: str = "") -> None:
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite") and ":memory:" not in url:
            event.listen(self.engine, "connect", _sqlite_wal)
        self.owner = owner  # the bot account (user@instance) whose rows this store reads and writes

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Self:
        """A store at `url`, checked by one connection (and migrated); raises StoreOpenError."""
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StoreOpenError("store.url: not a database URL SQLAlchemy can read") from None
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            folder = Path(parsed.database).expanduser().absolute().parent
            if not folder.is_dir():
                raise StoreOpenError(f"store.url: the folder {folder} does not exist")
        try:
            store = cls(url)
        except NoSuchModuleError:
            raise StoreOpenError(f"store.url: unknown kind of database {parsed.drivername!r}") from None
        except ImportError as exc:
            hint = ' (pip install "frontrow[postgres]")' if parsed.get_backend_name() == "postgresql" else ""
            missing = f"store.url: the database driver is not installed: {exc.name}{hint}"
            raise StoreOpenError(missing) from None
        try:
            with store.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                if parsed.get_backend_name() == "sqlite":
                    # Reads the file's header: a file that is no database fails here, not mid-run.
                    connection.execute(text("PRAGMA schema_version"))
            if migrate:
                store.upgrade()
        except SQLAlchemyError as exc:
            store.close()
            raise StoreOpenError(f"store.url: the store cannot be opened: {_reason(exc)}") from None
        return store

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session that sees and writes only this store's account's rows.

        A database that cannot be read or written (disk full, read-only, locked, gone) raises
        StoreError; an IntegrityError (a duplicate key) is left as it is for the caller to handle.
        """
        try:
            with Session(self.engine, info={"owner": self.owner}) as session:
                yield session
        except IntegrityError:
            raise
        except DBAPIError as exc:
            raise StoreError(_reason(exc)) from exc

    # --- accounts sharing the store -------------------------------------------

    def claim(self, owner: str, base_url: str, token: str, now: datetime) -> None:
        """Work as `owner` from now on; the first account adopts rows from before accounts existed."""
        fingerprint = token_fingerprint(base_url, token)
        with Session(self.engine) as session:
            first = session.exec(select(func.count()).select_from(AccountRow)).one() == 0
            row = session.get(AccountRow, owner) or AccountRow(
                owner=owner, base_url=base_url, token_fingerprint=""
            )
            row.base_url, row.token_fingerprint, row.last_started = base_url, fingerprint, now
            session.add(row)
            if first:
                for table in OWNED_TABLES:
                    session.exec(update(table).where(col(table.owner) == "").values(owner=owner))  # type: ignore[attr-defined]
            session.commit()
        self.owner = owner

    def find_owner(self, base_url: str, token: str) -> str:
        """The account a config belongs to, without asking the instance (for offline commands)."""
        with Session(self.engine) as session:
            by_token = session.exec(
                select(AccountRow.owner).where(
                    AccountRow.token_fingerprint == token_fingerprint(base_url, token)
                )
            ).first()
            if by_token is not None:
                return by_token
            on_instance = session.exec(select(AccountRow.owner).where(AccountRow.base_url == base_url)).all()
        # A new token for the same account: one account on that instance is unambiguous.
        return on_instance[0] if len(on_instance) == 1 else ""

    def upgrade(self) -> None:
        """Migrate the schema to the newest revision (Alembic; see bot/migrations)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", "bot:migrations")
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            tables = inspect(connection)
            if tables.has_table("drafts") and not tables.has_table("alembic_version"):
                # A store from before migrations: its tables match the revision its columns show.
                columns = {column["name"] for column in tables.get_columns("drafts")}
                columns |= {column["name"] for column in tables.get_columns("events")}
                made_at = (
                    "0005"
                    if "attempts" in columns
                    else "0004"
                    if "owner" in columns
                    else "0002"
                    if "sending_at" in columns
                    else "0001"
                )
                command.stamp(config, made_at)
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_wal(connection: Any, _record: Any) -> None:
    """WAL: readers (the CLI) never block the service, and a commit costs no fsync of the whole file."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _reason(exc: SQLAlchemyError) -> str:
    """The database's own short words ("database or disk is full"), without the SQL or the URL."""
    original = getattr(exc, "orig", None)
    words = str(original if original is not None else exc).strip().splitlines()
    return (words[0] if words else type(exc).__name__)[:200]


def token_fingerprint(base_url: str, token: str) -> str:
    """A short one-way hash: enough to tell accounts apart, useless as a credential."""
    return hashlib.sha256(f"{base_url}\n{token}".encode()).hexdigest()[:16]


def utcnow() -> datetime:
    return datetime.now(UTC)
