"""Store (quick): one person's record read with the standard library's sqlite3, no SQLAlchemy.

Called by bot/cli/base.py `person_reader` for `frontrow who`: a command meant to answer about as
fast as `--help` cannot pay for the ORM's import (~0.4 s of a 0.2 s budget). `QuickReader.open`
takes only a plain SQLite file already at the newest revision (one version read, no migration
check beyond it) and answers None for anything else, so the caller opens `Store` instead:
PostgreSQL, a store that needs migrating, a URL with options, a file that is missing or no
database (the `Store` path says why, as it always has). Each method returns what the `Store`
method of the same name returns; tests/test_quick.py compares them on the same store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bot.model import Draft, Person
from bot.store.plain import HEAD, DepartureRecord, StoreError, token_fingerprint

_PLAIN_SQLITE = ("sqlite:///", "sqlite+pysqlite:///")
_ENGAGING_KINDS = ("mention", "reply", "boost", "favourite")  # as bot/store/followers.py
_DRAFT_COLUMNS = (
    "id, state, rule, account_id, acct, display_name, in_reply_to_id, visibility, spoiler_text, text, "
    "template, action, triage, thread_key, created_at, sending_at, sent_at, dm_sent_at, shown_at, "
    "decided_by, command_status_id, status_id, status_url, error, event_id"
)
_DRAFT_TIMES = ("created_at", "sending_at", "sent_at", "dm_sent_at", "shown_at")


def plain_sqlite_file(url: str, folder: Path) -> Path | None:
    """The file of a plain `sqlite:///path` URL (a relative path read against `folder`, the config's,
    as bot.config.sqlite_beside does), or None for any other URL: those go through SQLAlchemy."""
    prefix = next((p for p in _PLAIN_SQLITE if url.startswith(p)), None)
    if prefix is None:
        return None
    database = url[len(prefix) :]
    if not database or any(c in database for c in "?%#~") or database.startswith(("file:", ":memory:")):
        return None
    path = Path(database)
    return path if path.is_absolute() else folder / path


def _time(value: Any) -> datetime | None:
    """SQLAlchemy keeps an aware UTC time in SQLite as naive ISO text (bot.store.tables.UTCDateTime)."""
    if value is None:
        return None
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def _required_time(value: Any) -> datetime:
    moment = _time(value)
    assert moment is not None, "a NOT NULL time column read as NULL"
    return moment


class QuickReader:
    """The read-only look-ups of `frontrow who`, for one account of a SQLite store."""

    def __init__(self, connection: sqlite3.Connection, owner: str) -> None:
        self._connection = connection
        self.owner = owner

    @classmethod
    def open(cls, url: str, folder: Path, base_url: str, token: str) -> QuickReader | None:
        """The reader, or None when `Store.open` must handle this store (see the module docstring)."""
        path = plain_sqlite_file(url, folder)
        if path is None or not path.is_file():
            return None
        try:
            # mode=rw: an existing file only, never a new one; the same lock wait as the store's engine.
            connection = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=30)
        except sqlite3.Error:
            return None
        try:
            version = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            if version is None or version[0] != HEAD:
                connection.close()
                return None
            return cls(connection, _find_owner(connection, base_url, token))
        except sqlite3.Error:  # no such table, not a database, locked too long: Store.open will say
            connection.close()
            return None

    def close(self) -> None:
        self._connection.close()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """As `Store.session`: the database's own short words become a StoreError."""
        try:
            yield self._connection
        except sqlite3.Error as exc:
            raise StoreError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc

    def person(self, acct_or_id: str, web_host: str = "") -> Person | None:
        """As `Store.person`: by account id, then the exact acct, then the acct in any case."""
        from bot.text import person_acct

        acct = person_acct(acct_or_id, self.owner.partition("@")[2], web_host)
        select = (
            "SELECT account_id, acct, display_name, followers_count, bot, first_seen, follows_us_since, "
            "we_follow FROM people WHERE owner = ? AND "
        )
        with self._reading() as db:
            row = (
                db.execute(select + "account_id = ?", (self.owner, acct_or_id.strip())).fetchone()
                or db.execute(select + "acct = ?", (self.owner, acct)).fetchone()
                or db.execute(select + "lower(acct) = lower(?)", (self.owner, acct)).fetchone()
            )
        if row is None:
            return None
        return Person(
            account_id=row[0],
            acct=row[1],
            display_name=row[2],
            followers_count=row[3],
            bot=bool(row[4]),
            first_seen=_required_time(row[5]),
            follows_us_since=_time(row[6]),
            we_follow=bool(row[7]),
        )

    def interaction_counts(self, account_id: str) -> dict[str, dict[str, int]]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT direction, kind, count(*) FROM interactions WHERE owner = ? AND account_id = ? "
                "GROUP BY direction, kind",
                (self.owner, account_id),
            ).fetchall()
        out: dict[str, dict[str, int]] = {"theirs": {}, "ours": {}}
        for direction, kind, count in rows:
            out.setdefault(direction, {})[kind] = count
        return out

    def notes(self, account_id: str) -> list[tuple[datetime, str]]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT created_at, text FROM notes WHERE owner = ? AND account_id = ? ORDER BY id",
                (self.owner, account_id),
            ).fetchall()
        return [(_required_time(at), text) for at, text in rows]

    def drafts_for(self, account_id: str) -> list[Draft]:
        with self._reading() as db:
            cursor = db.execute(
                f"SELECT {_DRAFT_COLUMNS} FROM drafts WHERE owner = ? AND account_id = ? ORDER BY id",
                (self.owner, account_id),
            )
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        drafts = []
        for row in rows:
            fields = dict(zip(names, row, strict=True))
            for name in _DRAFT_TIMES:
                fields[name] = _time(fields[name])
            drafts.append(Draft(**fields))
        return drafts

    def stopped_at(self, account_id: str) -> datetime | None:
        with self._reading() as db:
            row = db.execute(
                "SELECT max(at) FROM interactions WHERE owner = ? AND account_id = ? "
                "AND direction = 'consent' AND kind = 'stop'",
                (self.owner, account_id),
            ).fetchone()
        return _time(row[0])

    def departures_of(self, account_id: str) -> list[DepartureRecord]:
        """As `followers.departures(store, account_id=...)`: newest first, with their last engagement."""
        marks = ", ".join("?" * len(_ENGAGING_KINDS))
        with self._reading() as db:
            rows = db.execute(
                "SELECT d.account_id, d.acct, p.display_name, d.followed_since, d.after, d.noticed_at, "
                "d.cause "
                "FROM departures AS d LEFT OUTER JOIN people AS p "
                "ON p.account_id = d.account_id AND p.owner = d.owner "
                "WHERE d.owner = ? AND d.account_id = ? ORDER BY d.noticed_at DESC, d.id DESC LIMIT 200",
                (self.owner, account_id),
            ).fetchall()
            out = []
            for who, acct, name, followed_since, after, noticed_at, cause in rows:
                last = db.execute(
                    "SELECT at, kind FROM interactions WHERE owner = ? AND account_id = ? "
                    f"AND direction = 'theirs' AND kind IN ({marks}) AND at <= ? ORDER BY at DESC LIMIT 1",
                    (self.owner, who, *_ENGAGING_KINDS, noticed_at),
                ).fetchone()
                out.append(
                    DepartureRecord(
                        account_id=who,
                        acct=acct,
                        display_name=name or "",
                        followed_since=_time(followed_since),
                        after=_required_time(after),
                        noticed_at=_required_time(noticed_at),
                        cause=cause,
                        last_engaged=_time(last[0]) if last else None,
                        last_engaged_kind=last[1] if last else None,
                    )
                )
        return out


def _find_owner(connection: sqlite3.Connection, base_url: str, token: str) -> str:
    """As `Store.find_owner`: the account of this token, else the one account on this instance."""
    by_token = connection.execute(
        "SELECT owner FROM accounts WHERE token_fingerprint = ?", (token_fingerprint(base_url, token),)
    ).fetchone()
    if by_token is not None:
        return str(by_token[0])
    on_instance = connection.execute("SELECT owner FROM accounts WHERE base_url = ?", (base_url,)).fetchall()
    return str(on_instance[0][0]) if len(on_instance) == 1 else ""
