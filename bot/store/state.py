"""Store (state): every piece of small state, declared once with its type; stored as text in `state`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import delete, update
from sqlmodel import Session, col

from bot.store.base import NO_SYNC, StoreBase
from bot.store.tables import StateRow

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Key(Generic[T]):
    """One state row: its name, how its text is read back (`load`) and how a value is written (`dump`).

    The texts are the ones earlier versions wrote under the same names, so an older store reads the same.
    """

    name: str
    load: Callable[[str], T]
    dump: Callable[[T], str]


def _text(name: str) -> Key[str]:
    return Key(name, str, str)


def _load_moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _moment(name: str) -> Key[datetime]:
    """An aware UTC moment as ISO 8601 text ("2026-01-01T12:00:00+00:00")."""
    return Key(name, _load_moment, lambda moment: moment.astimezone(UTC).isoformat())


def _flag(name: str) -> Key[bool]:
    return Key(name, lambda text: text == "1", lambda value: "1" if value else "0")


def _load_ids(text: str) -> tuple[int, ...]:
    # Written as "#3 #4" by earlier versions, "3 4" now: both read back.
    return tuple(int(word.lstrip("#")) for word in text.split() if word.lstrip("#").isdigit())


def _ids(name: str) -> Key[tuple[int, ...]]:
    return Key(name, _load_ids, lambda ids: " ".join(str(i) for i in ids))


CURSOR = _text("notifications_cursor")  # the newest notification recorded: catch-up reads after it
PAUSED = _flag("paused")  # `pause`: events are recorded, nothing is drafted or posted
HEARTBEAT = _moment("heartbeat")  # written by a healthy service; read by `frontrow health`
STARTED_AT = _moment("started_at")  # when the running service started
# Why the running service cannot work (a revoked token); cleared once it works again; read by health.
UNHEALTHY = _text("unhealthy")
LAST_DRAFT_DM = _moment("last_draft_dm_at")  # the batch window counts from here
EXPIRED_UNTOLD = _ids("expired_untold")  # drafts expired since the last draft DM told of them
SPIKE_SINCE = _moment("spike_since")  # stadium mode: when the crowd began to arrive
SPIKE_LAST_ACTIVE = _moment("spike_last_active")  # the last follow of the crowd
SPIKE_NOTICE = _text("spike_notice")  # "pending" until the approvers were told, then "sent"
OUR_POSTS_CURSOR = _text("our_posts_cursor")  # the link-love sync pages our own posts forward from here
OUR_POSTS_SYNCED = _moment("our_posts_synced_at")  # the sync runs at most every few minutes
OUR_POSTS_BACKFILL = _text("our_posts_backfill_before")  # "" when the backfill reached the window's start
KEYS: tuple[Key[Any], ...] = (  # every key, for tests and tools that list the state
    CURSOR,
    PAUSED,
    HEARTBEAT,
    STARTED_AT,
    UNHEALTHY,
    LAST_DRAFT_DM,
    EXPIRED_UNTOLD,
    SPIKE_SINCE,
    SPIKE_LAST_ACTIVE,
    SPIKE_NOTICE,
    OUR_POSTS_CURSOR,
    OUR_POSTS_SYNCED,
    OUR_POSTS_BACKFILL,
)


class StatePart(StoreBase):
    """The store's small state: one row per key, read and written through the typed keys above."""

    def get(self, key: Key[T]) -> T | None:
        """The value of `key`; None when it was never set, was cleared, or holds text it cannot read."""
        with self.session() as session:
            row = session.get(StateRow, (self.owner, key.name))
            text = row.value if row is not None else ""
        if text == "":  # earlier versions cleared a key by writing ""
            return None
        try:
            return key.load(text)
        except ValueError:
            LOGGER.warning("state %s: cannot read %r; taken as unset", key.name, text[:40])
            return None

    def put(self, key: Key[T], value: T) -> None:
        with self.session() as session:
            put_in(session, self.owner, key, value)
            session.commit()

    def clear(self, key: Key[T]) -> None:
        """Unset `key`: `get` answers None until it is put again."""
        with self.session() as session:
            session.exec(
                delete(StateRow).where(col(StateRow.owner) == self.owner, col(StateRow.key) == key.name),
                execution_options=NO_SYNC,
            )
            session.commit()

    def get_state(self, key: str) -> str | None:
        """Deprecated: the raw text under `key`; use `get` with a key from bot/store/state.py."""
        with self.session() as session:
            row = session.get(StateRow, (self.owner, key))
            return row.value if row is not None else None

    def set_state(self, key: str, value: str) -> None:
        """Deprecated: write raw text under `key`; use `put` with a key from bot/store/state.py."""
        with self.session() as session:
            _write(session, self.owner, key, value)
            session.commit()

    def get_cursor(self) -> str | None:
        return self.get(CURSOR)

    def set_cursor(self, notification_id: str) -> None:
        self.put(CURSOR, notification_id)

    def is_paused(self) -> bool:
        return self.get(PAUSED) is True

    def set_paused(self, paused: bool) -> None:
        self.put(PAUSED, paused)

    def beat(self, now: datetime) -> None:
        """The heartbeat: one UPDATE once the row exists (it is written every few seconds)."""
        with self.session() as session:
            value = HEARTBEAT.dump(now)
            result = session.exec(
                update(StateRow)
                .where(col(StateRow.owner) == self.owner, col(StateRow.key) == HEARTBEAT.name)
                .values(value=value),
                execution_options=NO_SYNC,
            )
            if not result.rowcount:
                session.add(StateRow(owner=self.owner, key=HEARTBEAT.name, value=value))
            session.commit()

    def last_beat(self) -> datetime | None:
        return self.get(HEARTBEAT)


def put_in(session: Session, owner: str, key: Key[T], value: T) -> None:
    """Write `key` in `session`, to be committed by the caller with whatever else it writes."""
    _write(session, owner, key.name, key.dump(value))


def _write(session: Session, owner: str, name: str, value: str) -> None:
    row = session.get(StateRow, (owner, name)) or StateRow(owner=owner, key=name, value=value)
    row.value = value
    session.add(row)
