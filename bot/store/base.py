"""Store (base): the database connection itself: engine, sessions, accounts sharing it, migrations, errors."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from sqlalchemy import event, func, inspect, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NoSuchModuleError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlmodel import Session, col, create_engine, select

from bot.store.plain import HEAD, NoStore, StoreError, StoreOpenError, token_fingerprint
from bot.store.tables import OWNED_TABLES, AccountRow, all_tables
from bot.store.tally_sql import create_triggers

# Bulk updates in our short sessions: no loaded rows to keep in step, so skip SQLAlchemy's evaluation.
NO_SYNC = {"synchronize_session": False}


# What the database says of itself (a full disk, a lock, a lost connection, a damaged file) becomes a
# StoreError. What it says of one statement stays as it is: a duplicate key (record_events relies on
# IntegrityError), bad data, or an error in our SQL are the caller's to handle, not a broken store.
_STORE_FAILURES = (OperationalError, InterfaceError, InternalError, DatabaseError, PoolTimeoutError)
_STATEMENT_FAILURES = (IntegrityError, DataError, ProgrammingError, NotSupportedError)
# …but a missing table or column is the store's, as SQLite says too ("no such table"): PostgreSQL's codes.
_MISSING_SCHEMA = ("42P01", "42703")
UPGRADE_HINT = "frontrow db upgrade migrates the store"


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
    def open(cls, url: str, *, migrate: bool = True, create: bool = True) -> Self:
        """The store at `url`, checked by one connection and (unless `migrate=False`) migrated.

        `create=False` is for the commands that read a store: where there is none they raise NoStore
        instead of leaving an empty one behind. A new SQLite file is made owner-only (0600), and so
        is a missing folder for it (0700, one level: a deeper typo stays an error). A store already at
        the newest revision costs one version read, no migration run.

        Raises StoreOpenError, one line naming `store.url`: a URL SQLAlchemy cannot read, an unknown
        kind of database, a driver that is not installed, a folder that does not exist, a file that is
        no database, a server that does not answer, a schema this version does not know.
        """
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StoreOpenError(
                "store.url: not a database URL (sqlite:///path/to/frontrow.db or "
                "postgresql+psycopg://user@host/name)"
            ) from None
        backend = parsed.get_backend_name()
        path = sqlite_file(url)
        if path is not None:
            if path.is_dir():
                raise StoreOpenError(f"store.url: {path} is a folder, not a database file")
            if not path.exists():
                if not create:
                    raise NoStore(path)
                _create_owner_only(path)
        try:
            store = cls(url)
        except NoSuchModuleError:
            raise StoreOpenError(f"store.url: unknown kind of database {parsed.drivername!r}") from None
        except ImportError as exc:
            raise StoreOpenError(missing_driver(url, exc.name)) from None
        try:
            with store._translated(), store.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                if backend == "sqlite":
                    # Reads the file's header: a file that is no database fails here, not mid-run.
                    connection.execute(text("PRAGMA schema_version"))
                version = _schema_version(connection)
            if version is None and not create:
                raise NoStore(path or _safe(url))
            if migrate and version != HEAD:
                store.upgrade()
        except NoStore:
            store.close()
            raise
        except (StoreError, SQLAlchemyError) as exc:
            store.close()
            why = str(exc) if isinstance(exc, StoreError) else store._reason(exc)
            raise StoreOpenError(f"store.url: cannot open the store: {why}") from None
        return store

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session that sees and writes only this store's account's rows.

        A database that cannot be read or written (disk full, read-only, locked, gone, damaged) raises
        StoreError with its short reason; IntegrityError (a duplicate key), DataError and
        ProgrammingError are left as they are: they are about one statement, not the store.
        """
        with self._translated(), Session(self.engine, info={"owner": self.owner}) as session:
            yield session

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Database failures inside become StoreError (see _STORE_FAILURES)."""
        try:
            yield
        except _STATEMENT_FAILURES as exc:
            if getattr(exc.orig, "sqlstate", None) not in _MISSING_SCHEMA:
                raise
            raise StoreError(f"{self._reason(exc)} ({UPGRADE_HINT})") from exc
        except _STORE_FAILURES as exc:
            reason = self._reason(exc)
            if reason.startswith(("no such table", "no such column")):
                reason += f" ({UPGRADE_HINT})"
            raise StoreError(reason) from exc

    def _reason(self, exc: SQLAlchemyError) -> str:
        """The database's own short words ("database or disk is full"): one line, no SQL, no password."""
        original = getattr(exc, "orig", None)
        words = _first_line(str(original if original is not None else exc))
        password = self.engine.url.password
        if password:
            words = words.replace(str(password), "***")
        return words or type(exc).__name__

    # --- accounts sharing the store -------------------------------------------

    def claim(self, owner: str, base_url: str, token: str, now: datetime) -> None:
        """Work as `owner` from now on; the first account adopts rows from before accounts existed."""
        fingerprint = token_fingerprint(base_url, token)
        with self._translated(), Session(self.engine) as session:
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
        with self._translated(), Session(self.engine) as session:
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
        """Migrate the schema to the newest revision (Alembic; see bot/migrations). A database with no
        tables yet is created from the models and stamped at the newest revision, without Alembic.

        Raises StoreError when the store cannot be written, or is at a revision this version does not
        know (a newer Frontrow migrated it).
        """
        with self._translated(), self.engine.begin() as connection:
            if not inspect(connection).get_table_names():
                _create_at_head(connection)
                return
        # Alembic (and mako under it, ~15 MB and 0.3 s) only for a store that has tables already.
        from alembic import command
        from alembic.config import Config
        from alembic.util.exc import CommandError

        config = Config()
        config.set_main_option("script_location", "bot:migrations")
        with self._translated(), self.engine.begin() as connection:
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
            try:
                command.upgrade(config, "head")
            except CommandError as exc:  # "Can't locate revision identified by '0009'"
                why = _first_line(str(exc))
                raise StoreError(f"the schema is newer than this version of Frontrow knows ({why})") from None

    def close(self) -> None:
        self.engine.dispose()


def _create_at_head(connection: Any) -> None:
    """A new store made from the models as the migrations would make it, and stamped at HEAD.

    The tables and indexes of bot/store/tables.py, the tally triggers (bot/store/tally_sql.py) and
    Alembic's version table, in one transaction; tests/test_migrations.py checks that the result equals
    a store migrated from nothing, on SQLite and PostgreSQL.
    """
    tables = all_tables()
    tables[0].metadata.create_all(connection, tables=tables)
    for statement in create_triggers(connection.dialect.name):
        connection.exec_driver_sql(statement)
    # As Alembic makes it (its name for the primary key included), so later migrations find it.
    connection.exec_driver_sql(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
        "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
    )
    connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": HEAD})


def _schema_version(connection: Any) -> str | None:
    """The store's Alembic revision; "" for tables from before migrations; None for no store at all."""
    tables = inspect(connection)
    if tables.has_table("alembic_version"):
        row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
        return str(row[0]) if row is not None else ""
    return "" if tables.has_table("drafts") else None


def sqlite_file(url: str) -> Path | None:
    """The file of an on-disk SQLite URL (absolute), else None (another database, memory, a URI)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if "uri" in parsed.query:
        return None
    return Path(parsed.database).expanduser().absolute()


def url_problem(url: str) -> str | None:
    """What `Store.open` would refuse in `url` that can be told without connecting, as one line
    naming `store.url`, or None: an unknown kind of database, a driver that is not installed, a
    SQLite folder that does not exist or cannot be written, a file that cannot be written."""
    import difflib

    from sqlalchemy.dialects import registry

    try:
        parsed = make_url(url)
    except ArgumentError:
        return (
            "store.url: not a database URL (sqlite:///path/to/frontrow.db or "
            "postgresql+psycopg://user@host/name)"
        )
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        known = ["sqlite", "postgresql", "postgresql+psycopg", "mysql", *registry.impls]
        close = difflib.get_close_matches(parsed.drivername, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"store.url: unknown kind of database {parsed.drivername!r}{hint}"
    except ImportError as exc:
        return missing_driver(url, exc.name)
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        return missing_driver(url, exc.name)
    path = sqlite_file(url)
    if path is None:
        return None
    if path.is_dir():
        return f"store.url: {path} is a folder, not a database file"
    folder = path.parent if path.parent.is_dir() else path.parent.parent  # one level is created
    if not folder.is_dir():
        return f"store.url: the folder {path.parent} does not exist"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"store.url: {path} cannot be written (check its owner and mode)"
    try:  # by trying: permissions, a read-only mount, a root that may write anywhere but /proc
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        return f"store.url: the folder {folder} cannot be written ({why}; SQLite keeps its journal there)"
    return None


def missing_driver(url: str, module: str | None) -> str:
    """The line for a database driver that is not installed, with the pip command that installs it."""
    parsed = make_url(url)
    hint = ""
    if parsed.get_backend_name() == "postgresql":
        plus = "" if parsed.get_driver_name() == "psycopg" else ", and write postgresql+psycopg://"
        hint = f' (pip install "frontrow[postgres]"{plus})'
    return f"store.url: the database driver {module or parsed.drivername} is not installed{hint}"


def _create_owner_only(path: Path) -> None:
    """An empty SQLite file only its owner can read (0600; SQLite gives its -wal and -shm the same)."""
    folder = path.parent
    if not folder.is_dir():
        if not folder.parent.is_dir():
            raise StoreOpenError(f"store.url: the folder {folder} does not exist")
        try:
            folder.mkdir(mode=0o700)
        except OSError as exc:
            raise StoreOpenError(f"store.url: cannot create the folder {folder}: {exc.strerror}") from None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreOpenError(f"store.url: cannot create {path}: {exc.strerror}") from None
    os.fchmod(fd, 0o600)  # the umask can only remove bits
    os.close(fd)


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_wal(connection: Any, _record: Any) -> None:
    """WAL: readers (the CLI) never block the service, and a commit costs no fsync of the whole file."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _first_line(words: str) -> str:
    """The first line of a message, without SQLAlchemy's "Background on this error" link; 200 at most."""
    line = words.strip().splitlines()[0] if words.strip() else ""
    return line.split(" (Background on this error at:")[0].strip()[:200]
