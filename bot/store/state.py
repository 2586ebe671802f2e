"""Store (state): every piece of small state, declared once with its type; stored as text in `state`."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import uuid4

from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.store.base import NO_SYNC, StoreBase
from bot.store.tables import OWNER_IN_KEY, EventRow, StateRow

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
# This store's own name for the account's work: in every Idempotency-Key, so two stores never share one.
STORE_ID = _text("store_id")
# When this store began working for the account: approver DMs written before it are history, not commands.
COMMANDS_SINCE = _moment("commands_since")
LEASE = _text("lease")  # the one service working for the account on this store (JSON; see Lease)
# A first run starts from the newest notifications; the older history is read into the ledger in the
# background (bot/service/backfill.py), never drafted. It reads older than HISTORY_BEFORE next.
HISTORY_BEFORE = _text("history_before")
HISTORY_RECORDED = Key("history_recorded", int, str)  # older notifications recorded so far
HISTORY_OLDEST = _moment("history_oldest")  # the oldest of them
HISTORY_DONE = _moment("history_done_at")  # when the backfill reached the start of the history
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
    STORE_ID,
    COMMANDS_SINCE,
    LEASE,
    HISTORY_BEFORE,
    HISTORY_RECORDED,
    HISTORY_OLDEST,
    HISTORY_DONE,
)


@dataclass(frozen=True)
class HistoryProgress:
    """How far the backfill of the account's older notifications has come (for the log and `stats`)."""

    recorded: int
    oldest: datetime | None
    done_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "recorded": self.recorded,
            "oldest": self.oldest.isoformat() if self.oldest else None,
            "done": self.done_at is not None,
        }

    def line(self) -> str:
        back = f", back to {self.oldest:%Y-%m-%d}" if self.oldest else ""
        state = "complete" if self.done_at else "in progress"
        return f"Older history: {state}, {self.recorded} notifications recorded{back} (never drafted)."


@dataclass(frozen=True)
class Identity:
    """Who this store is for the account: its id (for idempotency keys) and since when it commands."""

    store_id: str
    commands_since: datetime


@dataclass(frozen=True)
class Lease:
    """The service holding the account's work on this store, until `expires` unless renewed."""

    holder: str  # a random name per service run
    pid: int
    host: str
    since: datetime
    expires: datetime

    def dump(self) -> str:
        return json.dumps(
            {**self.__dict__, "since": self.since.isoformat(), "expires": self.expires.isoformat()}
        )

    @classmethod
    def load(cls, text: str) -> Lease | None:
        try:
            data = json.loads(text)
            return cls(
                holder=str(data["holder"]),
                pid=int(data["pid"]),
                host=str(data["host"]),
                since=_load_moment(data["since"]),
                expires=_load_moment(data["expires"]),
            )
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: nobody holds it


class StatePart(StoreBase):
    """The store's small state: one row per key, read and written through the typed keys above."""

    def get(self, key: Key[T]) -> T | None:
        """The value of `key`; None when it was never set, was cleared, or holds text it cannot read."""
        with self.session() as session:
            row = session.get(StateRow, (self.owner, key.name), execution_options=OWNER_IN_KEY)
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
            row = session.get(StateRow, (self.owner, key), execution_options=OWNER_IN_KEY)
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

    def identity(self, now: datetime) -> Identity:
        """The store's id and the moment it began taking commands, made on first use. A store that
        worked before these existed began with its first recorded event."""
        store_id, since = self.get(STORE_ID), self.get(COMMANDS_SINCE)
        if store_id is None or since is None:
            with self.session() as session:
                if store_id is None:
                    store_id = uuid4().hex[:12]
                    put_in(session, self.owner, STORE_ID, store_id)
                if since is None:
                    first = session.exec(select(func.min(EventRow.recorded_at))).one()
                    since = first.replace(tzinfo=UTC) if first is not None else now
                    put_in(session, self.owner, COMMANDS_SINCE, since)
                session.commit()
        return Identity(store_id, since)

    def take_lease(self, mine: Lease, now: datetime, *, stale: Callable[[Lease], bool]) -> Lease:
        """Take the account's lease, or renew it; returns the lease now in the store (another's when
        it is held: not expired, and not `stale`, its process known to be gone). Atomic: the row is
        replaced only if it still holds what was read, so of two services starting at once one wins."""
        with self.session() as session:
            row = session.get(StateRow, (self.owner, LEASE.name), execution_options=OWNER_IN_KEY)
            current = Lease.load(row.value) if row is not None else None
            if current is not None and current.holder != mine.holder:
                if current.expires > now and not stale(current):
                    return current
            elif current is not None:
                mine = replace(mine, since=current.since)  # a renewal keeps the start
            if row is None:
                session.add(StateRow(owner=self.owner, key=LEASE.name, value=mine.dump()))
                try:
                    session.commit()
                    return mine
                except IntegrityError:
                    session.rollback()
                    return self._lease_now(session) or mine
            if self._swap_lease(session, row.value, mine):
                return mine
            return self._lease_now(session) or mine

    def renew_lease(self, held: Lease, renewed: Lease) -> bool:
        """One UPDATE, with the heartbeat: True while the row still holds `held` (nobody took it)."""
        with self.session() as session:
            return self._swap_lease(session, held.dump(), renewed)

    def _swap_lease(self, session: Session, was: str, lease: Lease) -> bool:
        swapped = session.exec(
            update(StateRow)
            .where(
                col(StateRow.owner) == self.owner, col(StateRow.key) == LEASE.name, col(StateRow.value) == was
            )
            .values(value=lease.dump()),
            execution_options=NO_SYNC,
        )
        session.commit()
        return swapped.rowcount == 1

    def _lease_now(self, session: Session) -> Lease | None:
        session.expire_all()
        row = session.get(StateRow, (self.owner, LEASE.name), execution_options=OWNER_IN_KEY)
        return Lease.load(row.value) if row is not None else None

    def release_lease(self, holder: str) -> None:
        """Give the lease up at a clean stop, if `holder` still has it."""
        with self.session() as session:
            row = session.get(StateRow, (self.owner, LEASE.name), execution_options=OWNER_IN_KEY)
            current = Lease.load(row.value) if row is not None else None
            if row is not None and current is not None and current.holder == holder:
                session.exec(
                    delete(StateRow).where(
                        col(StateRow.owner) == self.owner,
                        col(StateRow.key) == LEASE.name,
                        col(StateRow.value) == row.value,
                    ),
                    execution_options=NO_SYNC,
                )
                session.commit()

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


def get_in(session: Session, owner: str, key: Key[T]) -> T | None:
    """`key` read in `session` (None: unset or unreadable), for a store part that writes it alongside."""
    row = session.get(StateRow, (owner, key.name), execution_options=OWNER_IN_KEY)
    if row is None or row.value == "":
        return None
    try:
        return key.load(row.value)
    except ValueError:
        return None


def history_progress(session: Session, owner: str) -> HistoryProgress | None:
    """The backfill's progress; None when this store never started one (it began before first runs
    started from now, or has not caught up yet)."""
    if get_in(session, owner, HISTORY_BEFORE) is None and get_in(session, owner, HISTORY_DONE) is None:
        return None
    return HistoryProgress(
        recorded=get_in(session, owner, HISTORY_RECORDED) or 0,
        oldest=get_in(session, owner, HISTORY_OLDEST),
        done_at=get_in(session, owner, HISTORY_DONE),
    )


def put_in(session: Session, owner: str, key: Key[T], value: T) -> None:
    """Write `key` in `session`, to be committed by the caller with whatever else it writes."""
    _write(session, owner, key.name, key.dump(value))


def _write(session: Session, owner: str, name: str, value: str) -> None:
    row = session.get(StateRow, (owner, name), execution_options=OWNER_IN_KEY)
    row = row or StateRow(owner=owner, key=name, value=value)
    row.value = value
    session.add(row)
