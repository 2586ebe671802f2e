"""Store (state): every piece of small state, declared once with its type; stored as text in `state`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import update
from sqlmodel import Session, col

from bot.store.base import NO_SYNC, StoreBase
from bot.store.tables import StateRow

T = TypeVar("T")


@dataclass(frozen=True)
class Key(Generic[T]):
    """One state row: its name and how its value is written and read back."""

    name: str
    dump: Callable[[T], str]
    load: Callable[[str], T]


def _text(name: str) -> Key[str]:
    return Key(name, str, str)


def _moment(name: str) -> Key[datetime]:
    return Key(name, datetime.isoformat, datetime.fromisoformat)


def _flag(name: str) -> Key[bool]:
    return Key(name, lambda value: "1" if value else "0", lambda text: text == "1")


def _ids(name: str) -> Key[tuple[int, ...]]:
    # Written as "#3 #4" by earlier versions, "3 4" now: both read back.
    return Key(
        name,
        lambda ids: " ".join(str(i) for i in ids),
        lambda text: tuple(int(w.lstrip("#")) for w in text.split() if w.lstrip("#").isdigit()),
    )


CURSOR = _text("notifications_cursor")  # the newest notification recorded: catch-up reads after it
PAUSED = _flag("paused")  # `pause`: events are recorded, nothing is drafted or posted
HEARTBEAT = _moment("heartbeat")  # written by a healthy service; read by `frontrow health`
UNHEALTHY = _text("unhealthy")  # why the running service cannot work (a revoked token); read by health
LAST_DRAFT_DM = _moment("last_draft_dm_at")  # the batch window counts from here
EXPIRED_UNTOLD = _ids("expired_untold")  # drafts expired since the last draft DM told of them
SPIKE_SINCE = _moment("spike_since")  # stadium mode: when the crowd began to arrive
SPIKE_LAST_ACTIVE = _moment("spike_last_active")
SPIKE_NOTICE = _text("spike_notice")  # "pending" until the approvers were told, then "sent"
OUR_POSTS_CURSOR = _text("our_posts_cursor")  # the link-love sync pages our own posts forward from here
OUR_POSTS_SYNCED = _moment("our_posts_synced_at")
OUR_POSTS_BACKFILL = _text("our_posts_backfill_before")  # "" when the backfill reached the window's start


class StatePart(StoreBase):
    """The store's small state: one row per key, read and written through the typed keys above."""

    def get(self, key: Key[T]) -> T | None:
        with self.session() as session:
            row = session.get(StateRow, (self.owner, key.name))
            return key.load(row.value) if row is not None and row.value != "" else None

    def put(self, key: Key[T], value: T) -> None:
        with self.session() as session:
            put_in(session, self.owner, key, value)
            session.commit()

    def clear(self, key: Key[T]) -> None:
        with self.session() as session:
            _write(session, self.owner, key.name, "")
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
