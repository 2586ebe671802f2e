"""Store (events): what the instance told us, recorded once; which events wait, fail, or are set aside."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.model import Event, NewDraft, event_from_json, event_to_json, word_for
from bot.store.answers import add_offers
from bot.store.base import NO_SYNC, StoreBase
from bot.store.people import update_person
from bot.store.state import (
    CURSOR,
    HISTORY_BEFORE,
    HISTORY_DONE,
    HISTORY_OLDEST,
    HISTORY_RECORDED,
    HistoryProgress,
    get_in,
    history_progress,
    put_in,
)
from bot.store.tables import DraftRow, EventRow, InteractionRow, PersonRow

# The drafts table's columns but the id: what a draft saved with a Core insert is given.
DRAFT_COLUMNS = tuple(c.name for c in DraftRow.__table__.columns if c.name != "id")  # type: ignore[attr-defined]

# The ledger kinds recorded for each incoming event kind: the word people use (a reblog is a boost).
THEIR_KIND = {
    kind: word_for(kind)
    for kind in ("follow", "follow_request", "mention", "reply", "reblog", "favourite", "share", "quote")
}


@dataclass(frozen=True)
class QuarantinedEvent:
    """An event that failed too often: recorded, set aside, listed for the approvers."""

    id: int
    notification_id: str
    kind: str
    acct: str
    attempts: int
    last_error: str
    quarantined_at: datetime


class EventsPart(StoreBase):
    """Events: recorded with the cursor past them, then handled once (a draft or nothing), or set aside."""

    def record_event(self, event: Event, now: datetime) -> bool:
        """Record an event once; False when its notification id was seen before."""
        return self.record_events([event], now) == 1

    def record_events(
        self,
        events: Sequence[Event],
        now: datetime,
        *,
        cursor: str | None = None,
        history_before: str | None = None,
    ) -> int:
        """Record a page of events in one transaction (with the cursor past them); returns how many were new.

        Notification ids are unique keys, so the stream and the poll may deliver the same one safely.
        `history_before` (a first run's newest page): the older history is to be backfilled below it.
        """

        def mark_history(session: Session, _fresh: int = 0) -> None:
            if history_before is not None:
                put_in(session, self.owner, HISTORY_BEFORE, history_before)

        try:
            return self._record(events, now, cursor, also=mark_history)
        except IntegrityError:  # the stream and the poll raced on the same notification: go one by one
            recorded = 0
            for event in events:
                with contextlib.suppress(IntegrityError):  # recorded meanwhile by the other path
                    recorded += self._record([event], now, None)
            with self.session() as session:
                if cursor is not None:
                    put_in(session, self.owner, CURSOR, cursor)
                mark_history(session)
                session.commit()
            return recorded

    def record_history(self, events: Sequence[Event], now: datetime, *, before: str | None) -> int:
        """Record a backfilled page of the older history as already handled (the ledger counts it; it is
        never drafted for, never run as a command), with the backfill's progress in the same
        transaction; `before` None: the history is complete. Returns how many were new."""

        def progress(session: Session, fresh: int) -> None:
            recorded = get_in(session, self.owner, HISTORY_RECORDED) or 0
            put_in(session, self.owner, HISTORY_RECORDED, recorded + fresh)
            oldest = min((e.created_at for e in events), default=None)
            if oldest is not None:
                put_in(session, self.owner, HISTORY_OLDEST, oldest)
            if before is None:
                put_in(session, self.owner, HISTORY_DONE, now)
            else:
                put_in(session, self.owner, HISTORY_BEFORE, before)

        try:
            return self._record(events, now, None, handled=True, also=progress)
        except IntegrityError:  # a notification the poll recorded meanwhile: go one by one
            fresh = 0
            for event in events:
                with contextlib.suppress(IntegrityError):
                    fresh += self._record([event], now, None, handled=True)
            with self.session() as session:
                progress(session, fresh)
                session.commit()
            return fresh

    def history_progress(self) -> HistoryProgress | None:
        with self.session() as session:
            return history_progress(session, self.owner)

    def _record(
        self,
        events: Sequence[Event],
        now: datetime,
        cursor: str | None,
        *,
        handled: bool = False,
        also: Callable[..., None] | None = None,
    ) -> int:
        """Insert the new ones; `handled`: as already handled (history); `also(session, fresh)` writes
        state in the same transaction."""
        with self.session() as session:
            ids = list(dict.fromkeys(event.id for event in events))
            seen = set(
                session.exec(
                    select(EventRow.notification_id).where(col(EventRow.notification_id).in_(ids))
                ).all()
            )
            fresh = [event for event in {e.id: e for e in events}.values() if event.id not in seen]
            people = {
                row.account_id: row
                for row in session.exec(
                    select(PersonRow).where(col(PersonRow.account_id).in_({e.account.id for e in fresh}))
                ).all()
            }
            # Events and interactions are inserted with one executemany each: nothing here needs their ids,
            # and the ORM inserted them a row (and a statement) at a time.
            event_rows: list[dict[str, Any]] = []
            interaction_rows: list[dict[str, Any]] = []
            for event in fresh:
                status = getattr(event, "status", None)
                status_id = status.id if status is not None else None
                event_rows.append(
                    {
                        "owner": self.owner,
                        "notification_id": event.id,
                        "kind": event.kind,
                        "account_id": event.account.id,
                        "acct": event.account.acct,
                        "status_id": status_id,
                        "created_at": event.created_at,
                        "recorded_at": now,
                        "payload": event_to_json(event),
                        "handled_at": now if handled else None,
                        "attempts": 0,
                        "next_attempt_at": None,
                        "last_error": None,
                        "quarantined_at": None,
                    }
                )
                person = people.get(event.account.id)
                known = person is not None
                if person is None:
                    person = people[event.account.id] = PersonRow(
                        owner=self.owner, account_id=event.account.id, acct=event.account.acct, first_seen=now
                    )
                if not (handled and known):  # history is older than the profile we know: keep ours
                    update_person(person, event.account)
                if event.kind == "follow" and person.follows_us_since is None:
                    person.follows_us_since = event.created_at
                session.add(person)
                their_kind = THEIR_KIND.get(event.kind)
                if their_kind is not None:
                    interaction_rows.append(
                        {
                            "owner": self.owner,
                            "account_id": event.account.id,
                            "direction": "theirs",
                            "kind": their_kind,
                            "status_id": status_id,
                            "at": event.created_at,
                        }
                    )
            # Core inserts of the tables: the ORM's bulk insert splits rows by the keys that are None.
            if event_rows:
                session.execute(insert(EventRow.__table__), event_rows)  # type: ignore[attr-defined]
            if interaction_rows:
                session.execute(insert(InteractionRow.__table__), interaction_rows)  # type: ignore[attr-defined]
            if cursor is not None:
                put_in(session, self.owner, CURSOR, cursor)
            if also is not None:
                also(session, len(fresh))
            session.commit()
            return len(fresh)

    def event(self, event_id: int) -> Event | None:
        """One recorded event as it was recorded (None: no such event)."""
        with self.session() as session:
            row = session.get(EventRow, event_id)
            return event_from_json(row.payload) if row is not None else None

    def events_by_id(self, event_ids: Iterable[int]) -> dict[int, Event]:
        """Recorded events as they were recorded, in one query (ids not found are left out)."""
        ids = list(dict.fromkeys(event_ids))
        if not ids:
            return {}
        with self.session() as session:
            rows = session.exec(select(EventRow.id, EventRow.payload).where(col(EventRow.id).in_(ids))).all()
        return {row_id: event_from_json(payload) for row_id, payload in rows if row_id is not None}

    def count_events(self) -> int:
        with self.session() as session:
            return session.exec(select(func.count()).select_from(EventRow)).one()

    def unhandled_events(
        self,
        limit: int = 500,
        *,
        now: datetime | None = None,
        kinds: Sequence[str] | None = None,
        exclude_kinds: Sequence[str] | None = None,
    ) -> list[tuple[int, Event]]:
        """Recorded events not handled yet and not quarantined, oldest first, as (event id, event).

        With `now`, only those due by then (never failed, or their retry time has come); without it,
        every waiting one. `kinds=("command",)` is the approvers' lane, `exclude_kinds=("command",)`
        everything else.
        """
        with self.session() as session:
            query = _waiting(select(EventRow.id, EventRow.payload), now, kinds, exclude_kinds)
            rows = session.exec(query.order_by(col(EventRow.id)).limit(limit)).all()
        out = []
        for row_id, payload in rows:
            assert row_id is not None
            out.append((row_id, event_from_json(payload)))
        return out

    def has_unhandled_events(
        self,
        now: datetime,
        *,
        kinds: Sequence[str] | None = None,
        exclude_kinds: Sequence[str] | None = None,
    ) -> bool:
        """Whether any event is due by `now` (as `unhandled_events` would give): one indexed LIMIT 1 read."""
        with self.session() as session:
            query = _waiting(select(EventRow.id), now, kinds, exclude_kinds)
            return session.exec(query.limit(1)).first() is not None

    def count_unhandled(self) -> int:
        """Events not handled yet and not quarantined, due or waiting for a retry."""
        with self.session() as session:
            return session.exec(_waiting(select(func.count()).select_from(EventRow), None, None, None)).one()

    def next_event_due_at(self) -> datetime | None:
        """The earliest retry time among unhandled, unquarantined events (None: no event waits for one)."""
        with self.session() as session:
            return session.exec(
                _waiting(select(func.min(EventRow.next_attempt_at)), None, None, None).where(
                    col(EventRow.next_attempt_at).is_not(None)
                )
            ).one()

    def fail_event(
        self, event_id: int, error: str, now: datetime, retry_at: datetime | Callable[[int], timedelta]
    ) -> int:
        """Count one failed attempt and keep `error` (cut to 500 characters); returns the attempts so far.

        The event is not handed out again before `retry_at`: a moment, or a backoff that is given the
        new attempt count (`retry_at(attempts)` after `now`).
        """
        with self.session() as session:
            row = session.get(EventRow, event_id)
            if row is None:
                raise LookupError(f"no event {event_id} in the store")
            row.attempts = (row.attempts or 0) + 1
            row.last_error = error[:500]
            row.next_attempt_at = retry_at if isinstance(retry_at, datetime) else now + retry_at(row.attempts)
            session.add(row)
            session.commit()
            return row.attempts

    def quarantine_event(self, event_id: int, error: str, now: datetime) -> None:
        """Set an event aside: kept, never handed out again unless `release_event` lets it back."""
        with self.session() as session:
            session.exec(
                update(EventRow)
                .where(col(EventRow.id) == event_id)
                .values(quarantined_at=now, last_error=error[:500]),
                execution_options=NO_SYNC,
            )
            session.commit()

    def quarantined_events(self) -> list[QuarantinedEvent]:
        """The events set aside, oldest first (for `frontrow events --quarantined`)."""
        with self.session() as session:
            rows = session.exec(
                select(EventRow)
                .where(col(EventRow.handled_at).is_(None), col(EventRow.quarantined_at).is_not(None))
                .order_by(col(EventRow.id))
            ).all()
            out = []
            for row in rows:
                assert row.id is not None and row.quarantined_at is not None
                out.append(
                    QuarantinedEvent(
                        id=row.id,
                        notification_id=row.notification_id,
                        kind=row.kind,
                        acct=row.acct,
                        attempts=row.attempts,
                        last_error=row.last_error or "",
                        quarantined_at=row.quarantined_at,
                    )
                )
            return out

    def release_event(self, event_id: int) -> bool:
        """A quarantined event is due again now, with no attempts counted; False when it was not set aside.

        Its last error stays for the record until the next failure replaces it.
        """
        with self.session() as session:
            result = session.exec(
                update(EventRow)
                .where(col(EventRow.id) == event_id, col(EventRow.quarantined_at).is_not(None))
                .values(quarantined_at=None, attempts=0, next_attempt_at=None),
                execution_options=NO_SYNC,
            )
            session.commit()
            return bool(result.rowcount)

    def finish_events(self, finished: Sequence[tuple[int, NewDraft | None]], now: datetime) -> int:
        """`finish_event` for a dispatch batch in one transaction: each event's draft (if any, once per
        event and rule) saved and every event marked handled; returns how many drafts were saved. A
        statement failure (IntegrityError, DataError …) rolls all of it back and reaches the caller,
        which then finishes them one by one to find the event at fault."""
        if not finished:
            return 0
        with self.session() as session:
            event_ids = list(dict.fromkeys(event_id for event_id, _ in finished))
            saved = set(
                session.exec(
                    select(DraftRow.event_id, DraftRow.rule).where(col(DraftRow.event_id).in_(event_ids))
                ).all()
            )
            rows: list[dict[str, Any]] = []
            drafts: list[NewDraft] = []
            for event_id, draft in finished:
                if draft is None or (event_id, draft.rule) in saved:
                    continue
                saved.add((event_id, draft.rule))
                row = DraftRow(event_id=event_id, created_at=now, owner=self.owner, **draft.columns())
                rows.append({name: getattr(row, name) for name in DRAFT_COLUMNS})
                drafts.append(draft)
            if rows:
                # One executemany, so the drafts are numbered in the order the events happened (answers
                # with offers among them too); the offers then find their drafts by event and rule.
                session.execute(insert(DraftRow.__table__), rows)  # type: ignore[attr-defined]
                if any(d.offers for d in drafts):
                    ids = {
                        (event_id, rule): draft_id
                        for draft_id, event_id, rule in session.exec(
                            select(DraftRow.id, DraftRow.event_id, DraftRow.rule).where(
                                col(DraftRow.event_id).in_(event_ids)
                            )
                        ).all()
                    }
                    for values, draft in zip(rows, drafts, strict=True):
                        draft_id = ids[(values["event_id"], draft.rule)]
                        if draft.offers and draft_id is not None:
                            add_offers(session, draft_id, draft.offers)
            session.exec(
                update(EventRow).where(col(EventRow.id).in_(event_ids)).values(handled_at=now),
                execution_options=NO_SYNC,
            )
            session.commit()
            return len(rows)

    def finish_event(self, event_id: int, draft: NewDraft | None, now: datetime) -> int | None:
        """Save the event's draft (if any) and mark the event handled, in one transaction."""
        with self.session() as session:
            draft_id: int | None = None
            if draft is not None:
                exists = session.exec(
                    select(DraftRow.id).where(DraftRow.event_id == event_id, DraftRow.rule == draft.rule)
                ).first()
                if exists is None:
                    row = DraftRow(event_id=event_id, created_at=now, **draft.columns())
                    session.add(row)
                    session.flush()
                    draft_id = row.id
                    assert draft_id is not None
                    add_offers(session, draft_id, draft.offers)
            session.exec(
                update(EventRow).where(col(EventRow.id) == event_id).values(handled_at=now),
                execution_options=NO_SYNC,
            )
            session.commit()
            return draft_id


def _waiting(
    query: Any, now: datetime | None, kinds: Sequence[str] | None, exclude_kinds: Sequence[str] | None
) -> Any:
    """`query` narrowed to events not handled and not quarantined, due by `now`, in the lane asked for."""
    query = query.where(col(EventRow.handled_at).is_(None), col(EventRow.quarantined_at).is_(None))
    if now is not None:
        due = col(EventRow.next_attempt_at)
        query = query.where(due.is_(None) | (due <= now))
    if kinds is not None:
        query = query.where(col(EventRow.kind).in_(tuple(kinds)))
    if exclude_kinds is not None:
        query = query.where(col(EventRow.kind).notin_(tuple(exclude_kinds)))
    return query
