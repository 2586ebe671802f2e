"""Store: the only package that opens SQL sessions; `Store` has a method named for each thing it does."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, inspect, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError, SQLAlchemyError
from sqlmodel import Session, col, create_engine, select

from bot.model import (
    Account,
    Draft,
    Event,
    NewDraft,
    Person,
    PersonHistory,
    event_from_json,
    event_to_json,
)
from bot.store.state import CURSOR, HEARTBEAT, PAUSED, Key, T
from bot.store.tables import (
    OWNED_TABLES,
    AccountRow,
    DigestItemRow,
    DigestRow,
    DmLogRow,
    DraftMessageRow,
    DraftRow,
    EventRow,
    FeedEntryRow,
    FeedStateRow,
    InteractionRow,
    NoteRow,
    OurPostRow,
    PersonRow,
    StateRow,
    UTCDateTime,
)

LOGGER = logging.getLogger(__name__)

__all__ = [
    "DRAFT_STATES",
    "OWNED_TABLES",
    "AccountRow",
    "DigestItemRow",
    "DigestRow",
    "DmLogRow",
    "DraftMessageRow",
    "DraftRow",
    "EventRow",
    "FeedEntryRow",
    "FeedStateRow",
    "InteractionRow",
    "NoteRow",
    "OurPostRow",
    "PersonRow",
    "QuarantinedEvent",
    "StateRow",
    "Store",
    "StoreError",
    "StoreOpenError",
    "UTCDateTime",
    "token_fingerprint",
    "utcnow",
]
# Bulk updates in our short sessions: no loaded rows to keep in step, so skip SQLAlchemy's evaluation.
NO_SYNC = {"synchronize_session": False}
DRAFT_STATES = ("pending", "approved", "sending", "sent", "rejected", "expired", "failed")


def _draft(row: DraftRow) -> Draft:
    assert row.id is not None
    return Draft(
        id=row.id,
        state=row.state,
        rule=row.rule,
        account_id=row.account_id,
        acct=row.acct,
        display_name=row.display_name,
        in_reply_to_id=row.in_reply_to_id,
        visibility=row.visibility,
        spoiler_text=row.spoiler_text,
        text=row.text,
        template=row.template,
        action=row.action,
        triage=row.triage,
        thread_key=row.thread_key,
        created_at=row.created_at,
        sending_at=row.sending_at,
        sent_at=row.sent_at,
        dm_sent_at=row.dm_sent_at,
        decided_by=row.decided_by,
        command_status_id=row.command_status_id,
        status_id=row.status_id,
        status_url=row.status_url,
        error=row.error,
        event_id=row.event_id,
    )


def _person(row: PersonRow) -> Person:
    return Person(
        account_id=row.account_id,
        acct=row.acct,
        display_name=row.display_name,
        followers_count=row.followers_count,
        bot=row.bot,
        first_seen=row.first_seen,
        follows_us_since=row.follows_us_since,
        we_follow=row.we_follow,
    )


# The ledger kinds recorded for each incoming event kind.
THEIR_KIND = {
    "follow": "follow",
    "follow_request": "follow_request",
    "mention": "mention",
    "reply": "reply",
    "reblog": "boost",
    "favourite": "favourite",
}
# Our ledger kind for each posted draft: a reply to a status, or a thanks post.
OURS_REPLY, OURS_THANKS = "reply", "thanks"
OURS_KIND = {"boost": "boost", "favourite": "favourite"}


class Store:
    """The store: every read and write of Frontrow's data goes through these methods."""

    def __init__(self, url: str, owner: str = "") -> None:
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite") and ":memory:" not in url:
            event.listen(self.engine, "connect", _sqlite_wal)
        self.owner = owner  # the bot account (user@instance) whose rows this store reads and writes

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
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
                made_at = "head" if "owner" in columns else "0002" if "sending_at" in columns else "0001"
                command.stamp(config, made_at)
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    # --- events -------------------------------------------------------------

    def record_event(self, event: Event, now: datetime) -> bool:
        """Record an event once; False when its notification id was seen before."""
        return self.record_events([event], now) == 1

    def record_events(self, events: Sequence[Event], now: datetime, *, cursor: str | None = None) -> int:
        """Record a page of events in one transaction (with the cursor past them); returns how many were new.

        Notification ids are unique keys, so the stream and the poll may deliver the same one safely.
        """
        try:
            return self._record(events, now, cursor)
        except IntegrityError:  # the stream and the poll raced on the same notification: go one by one
            recorded = 0
            for event in events:
                with contextlib.suppress(IntegrityError):  # recorded meanwhile by the other path
                    recorded += self._record([event], now, None)
            if cursor is not None:
                self.set_cursor(cursor)
            return recorded

    def _record(self, events: Sequence[Event], now: datetime, cursor: str | None) -> int:
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
            for event in fresh:
                status = getattr(event, "status", None)
                status_id = status.id if status is not None else None
                session.add(
                    EventRow(
                        notification_id=event.id,
                        kind=event.kind,
                        account_id=event.account.id,
                        acct=event.account.acct,
                        status_id=status_id,
                        created_at=event.created_at,
                        recorded_at=now,
                        payload=event_to_json(event),
                    )
                )
                person = people.get(event.account.id)
                if person is None:
                    person = people[event.account.id] = PersonRow(
                        owner=self.owner, account_id=event.account.id, acct=event.account.acct, first_seen=now
                    )
                _update_person(person, event.account)
                if event.kind == "follow" and person.follows_us_since is None:
                    person.follows_us_since = event.created_at
                session.add(person)
                their_kind = THEIR_KIND.get(event.kind)
                if their_kind is not None:
                    session.add(
                        InteractionRow(
                            account_id=event.account.id,
                            direction="theirs",
                            kind=their_kind,
                            status_id=status_id,
                            at=event.created_at,
                        )
                    )
            if cursor is not None:
                self._put(session, CURSOR, cursor)
            session.commit()
            return len(fresh)

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
        """Recorded events not handled yet, not set aside and due by `now`, oldest first.

        `kinds` selects a lane (the approvers' commands), `exclude_kinds` the rest.
        """
        with self.session() as session:
            query = select(EventRow.id, EventRow.payload).where(
                col(EventRow.handled_at).is_(None), col(EventRow.quarantined_at).is_(None)
            )
            if now is not None:
                due = col(EventRow.next_attempt_at)
                query = query.where(due.is_(None) | (due <= now))
            if kinds is not None:
                query = query.where(col(EventRow.kind).in_(tuple(kinds)))
            if exclude_kinds is not None:
                query = query.where(col(EventRow.kind).notin_(tuple(exclude_kinds)))
            rows = session.exec(query.order_by(col(EventRow.id)).limit(limit)).all()
        out = []
        for row_id, payload in rows:
            assert row_id is not None
            out.append((row_id, event_from_json(payload)))
        return out

    def count_unhandled(self) -> int:
        with self.session() as session:
            return session.exec(
                select(func.count())
                .select_from(EventRow)
                .where(col(EventRow.handled_at).is_(None), col(EventRow.quarantined_at).is_(None))
            ).one()

    def next_event_due_at(self) -> datetime | None:
        """When the earliest event waiting for a retry is due (None: none waits)."""
        with self.session() as session:
            return session.exec(
                select(func.min(EventRow.next_attempt_at)).where(
                    col(EventRow.handled_at).is_(None),
                    col(EventRow.quarantined_at).is_(None),
                    col(EventRow.next_attempt_at).is_not(None),
                )
            ).one()

    def fail_event(
        self, event_id: int, error: str, now: datetime, retry_after: Callable[[int], timedelta]
    ) -> int:
        """Count a failed attempt; the event is due again after `retry_after(attempts)`; returns attempts."""
        with self.session() as session:
            row = session.get(EventRow, event_id)
            assert row is not None
            row.attempts = (row.attempts or 0) + 1
            row.last_error = error[:500]
            row.next_attempt_at = now + retry_after(row.attempts)
            session.add(row)
            session.commit()
            return row.attempts

    def quarantine_event(self, event_id: int, error: str, now: datetime) -> None:
        """Set an event aside: recorded, never handled again unless released."""
        with self.session() as session:
            session.exec(
                update(EventRow)
                .where(col(EventRow.id) == event_id)
                .values(quarantined_at=now, last_error=error[:500]),
                execution_options=NO_SYNC,
            )
            session.commit()

    def quarantined_events(self) -> list[QuarantinedEvent]:
        with self.session() as session:
            rows = session.exec(
                select(EventRow).where(col(EventRow.quarantined_at).is_not(None)).order_by(col(EventRow.id))
            ).all()
            return [
                QuarantinedEvent(
                    id=row.id or 0,
                    notification_id=row.notification_id,
                    kind=row.kind,
                    acct=row.acct,
                    attempts=row.attempts,
                    last_error=row.last_error or "",
                    quarantined_at=row.quarantined_at or row.recorded_at,
                )
                for row in rows
            ]

    def release_event(self, event_id: int) -> bool:
        """A quarantined event goes back to the queue with a clean slate."""
        with self.session() as session:
            result = session.exec(
                update(EventRow)
                .where(col(EventRow.id) == event_id, col(EventRow.quarantined_at).is_not(None))
                .values(quarantined_at=None, attempts=0, next_attempt_at=None),
                execution_options=NO_SYNC,
            )
            session.commit()
            return bool(result.rowcount)

    def finish_event(self, event_id: int, draft: NewDraft | None, now: datetime) -> int | None:
        """Save the event's draft (if any) and mark the event handled, in one transaction."""
        with self.session() as session:
            draft_id: int | None = None
            if draft is not None:
                exists = session.exec(
                    select(DraftRow.id).where(DraftRow.event_id == event_id, DraftRow.rule == draft.rule)
                ).first()
                if exists is None:
                    row = DraftRow(event_id=event_id, created_at=now, **draft.__dict__)
                    session.add(row)
                    session.flush()
                    draft_id = row.id
            session.exec(
                update(EventRow).where(col(EventRow.id) == event_id).values(handled_at=now),
                execution_options=NO_SYNC,
            )
            session.commit()
            return draft_id

    # --- drafts ---------------------------------------------------------------

    def save_draft(self, draft: NewDraft, now: datetime, event_id: int | None = None) -> int:
        with self.session() as session:
            row = DraftRow(event_id=event_id, created_at=now, **draft.__dict__)
            session.add(row)
            session.commit()
            assert row.id is not None
            return row.id

    def draft(self, draft_id: int) -> Draft | None:
        with self.session() as session:
            row = session.get(DraftRow, draft_id)
            return _draft(row) if row is not None else None

    def drafts(self, state: str | None = None, limit: int | None = None) -> list[Draft]:
        with self.session() as session:
            query = select(DraftRow).order_by(col(DraftRow.id))
            if state is not None:
                query = query.where(DraftRow.state == state)
            if limit is not None:
                query = query.limit(limit)
            return [_draft(r) for r in session.exec(query).all()]

    def pending_drafts(self) -> list[Draft]:
        return self.drafts("pending")

    def drafts_to_announce(self) -> list[Draft]:
        """Pending drafts whose DM to the approvers has not gone out yet."""
        with self.session() as session:
            rows = session.exec(
                select(DraftRow)
                .where(DraftRow.state == "pending", col(DraftRow.dm_sent_at).is_(None))
                .order_by(col(DraftRow.id))
            ).all()
            return [_draft(r) for r in rows]

    def mark_announced(self, draft_ids: Sequence[int], dm_status_id: str | None, now: datetime) -> None:
        with self.session() as session:
            session.exec(
                update(DraftRow).where(col(DraftRow.id).in_(draft_ids)).values(dm_sent_at=now),
                execution_options=NO_SYNC,
            )
            if dm_status_id is not None:
                for draft_id in draft_ids:
                    session.add(DraftMessageRow(dm_status_id=dm_status_id, draft_id=draft_id))
            session.commit()

    def drafts_in_message(self, dm_status_id: str) -> list[int]:
        with self.session() as session:
            return list(
                session.exec(
                    select(DraftMessageRow.draft_id).where(DraftMessageRow.dm_status_id == dm_status_id)
                ).all()
            )

    def decide(
        self,
        draft_id: int,
        state: str,
        *,
        now: datetime,
        by: str | None,
        text: str | None = None,
        command_status_id: str | None = None,
    ) -> bool:
        """Approve or reject a pending draft; False when it is not pending any more."""
        values: dict[str, Any] = {"state": state, "decided_at": now, "decided_by": by}
        if text is not None:
            values["text"] = text
        if command_status_id is not None:
            values["command_status_id"] = command_status_id
        return self._transition(draft_id, ("pending",), values)

    def approved_drafts(self) -> list[Draft]:
        return self.drafts("approved")

    def mark_sending(self, draft_id: int, now: datetime) -> bool:
        """Approved → sending (the time is kept: Mastodon forgets idempotency keys after an hour)."""
        if self._transition(draft_id, ("approved",), {"state": "sending", "sending_at": now}):
            return True
        current = self.draft(draft_id)
        return current is not None and current.state == "sending"  # a retry after a crash

    def mark_sent(self, draft_id: int, status_id: str, status_url: str, now: datetime) -> None:
        with self.session() as session:
            row = session.get(DraftRow, draft_id)
            assert row is not None
            row.state, row.status_id, row.status_url, row.sent_at = "sent", status_id, status_url, now
            if row.account_id:  # a crowd welcome is nobody's ledger entry
                kind = OURS_KIND.get(row.action) or (OURS_REPLY if row.in_reply_to_id else OURS_THANKS)
                # A boost or favourite is recorded with *their* status id, as our profile's read-back is.
                ledger_status = row.in_reply_to_id if row.action in OURS_KIND else status_id
                session.add(
                    InteractionRow(
                        account_id=row.account_id,
                        direction="ours",
                        kind=kind,
                        status_id=ledger_status,
                        at=now,
                    )
                )
            session.commit()

    def mark_failed(self, draft_id: int, error: str) -> None:
        self._transition(draft_id, ("approved", "sending"), {"state": "failed", "error": error[:500]})

    def expire_drafts(self, older_than: datetime) -> list[Draft]:
        """Pending drafts created before `older_than` become expired; returns them."""
        with self.session() as session:
            rows = session.exec(
                select(DraftRow).where(DraftRow.state == "pending", col(DraftRow.created_at) < older_than)
            ).all()
            for row in rows:
                row.state = "expired"
            session.commit()
            return [_draft(r) for r in rows]

    def _transition(self, draft_id: int, from_states: Iterable[str], values: dict[str, Any]) -> bool:
        with self.session() as session:
            result = session.exec(
                update(DraftRow)
                .where(col(DraftRow.id) == draft_id, col(DraftRow.state).in_(tuple(from_states)))
                .values(**values),
                execution_options=NO_SYNC,
            )
            session.commit()
            return bool(result.rowcount)

    # --- people and the ledger ----------------------------------------------

    def _touch_person(self, session: Session, account: Account, now: datetime) -> None:
        row = session.get(PersonRow, (self.owner, account.id))
        if row is None:
            row = PersonRow(owner=self.owner, account_id=account.id, acct=account.acct, first_seen=now)
        _update_person(row, account)
        session.add(row)
        session.flush()

    def remember_person(self, account: Account, now: datetime, *, we_follow: bool | None = None) -> None:
        with self.session() as session:
            self._touch_person(session, account, now)
            if we_follow is not None:
                row = session.get(PersonRow, (self.owner, account.id))
                assert row is not None
                row.we_follow = we_follow
            session.commit()

    def person(self, acct_or_id: str) -> Person | None:
        with self.session() as session:
            acct = acct_or_id.lstrip("@")
            # By id, then the exact acct (indexed), and only then the slow case-insensitive scan.
            row = (
                session.get(PersonRow, (self.owner, acct))
                or session.exec(select(PersonRow).where(PersonRow.acct == acct)).first()
                or session.exec(select(PersonRow).where(func.lower(PersonRow.acct) == acct.lower())).first()
            )
            return _person(row) if row is not None else None

    def history(self, account_id: str) -> PersonHistory:
        with self.session() as session:
            rows = session.exec(
                select(DraftRow.rule, DraftRow.created_at, DraftRow.template, DraftRow.state).where(
                    DraftRow.account_id == account_id
                )
            ).all()
            ours = session.exec(
                select(InteractionRow.id).where(
                    InteractionRow.account_id == account_id, InteractionRow.direction == "ours"
                )
            ).first()
        last: dict[str, datetime] = {}
        templates = set()
        for rule, created_at, template, state in rows:
            if state in ("rejected", "expired", "failed"):
                continue
            if rule not in last or created_at > last[rule]:
                last[rule] = created_at
            templates.add(template)
        return PersonHistory(
            last_drafted=last, templates_used=frozenset(templates), engaged_before=ours is not None
        )

    def interaction_counts(self, account_id: str) -> dict[str, dict[str, int]]:
        with self.session() as session:
            rows = session.exec(
                select(InteractionRow.direction, InteractionRow.kind, func.count())
                .where(InteractionRow.account_id == account_id)
                .group_by(InteractionRow.direction, InteractionRow.kind)
            ).all()
        out: dict[str, dict[str, int]] = {"theirs": {}, "ours": {}}
        for direction, kind, count in rows:
            out.setdefault(direction, {})[kind] = count
        return out

    def add_note(self, account_id: str, text: str, now: datetime) -> None:
        with self.session() as session:
            session.add(NoteRow(account_id=account_id, text=text, created_at=now))
            session.commit()

    def notes(self, account_id: str) -> list[tuple[datetime, str]]:
        with self.session() as session:
            rows = session.exec(
                select(NoteRow.created_at, NoteRow.text)
                .where(NoteRow.account_id == account_id)
                .order_by(col(NoteRow.id))
            ).all()
            return [(at, text) for at, text in rows]

    def drafts_for(self, account_id: str) -> list[Draft]:
        with self.session() as session:
            rows = session.exec(
                select(DraftRow).where(DraftRow.account_id == account_id).order_by(col(DraftRow.id))
            ).all()
            return [_draft(r) for r in rows]

    def count_drafts_since(self, since: datetime) -> int:
        with self.session() as session:
            return session.exec(
                select(func.count()).select_from(DraftRow).where(col(DraftRow.created_at) >= since)
            ).one()

    def sent_status_ids_since(self, since: datetime) -> list[str]:
        """Our posts (made through Frontrow) since `since`, newest first."""
        with self.session() as session:
            rows = session.exec(
                select(DraftRow.status_id)
                .where(col(DraftRow.sent_at) >= since, col(DraftRow.status_id).is_not(None))
                .order_by(col(DraftRow.sent_at).desc())
            ).all()
            return [r for r in rows if r]

    def our_post_ids_since(self, since: datetime) -> list[str]:
        """Our own posts and replies (not boosts) read back from our profile since `since`, newest first."""
        with self.session() as session:
            return list(
                session.exec(
                    select(OurPostRow.status_id)
                    .where(col(OurPostRow.created_at) >= since, OurPostRow.kind != "boost")
                    .order_by(col(OurPostRow.created_at).desc())
                ).all()
            )

    def recent_post_texts(self, limit: int = 20) -> frozenset[str]:
        """The texts of our latest posts, so a template does not repeat itself in view."""
        with self.session() as session:
            rows = session.exec(
                select(DraftRow.text)
                .where(col(DraftRow.sent_at).is_not(None))
                .order_by(col(DraftRow.sent_at).desc())
                .limit(limit)
            ).all()
            return frozenset(rows)

    def count_sent_since(self, since: datetime) -> int:
        with self.session() as session:
            return session.exec(
                select(func.count()).select_from(DraftRow).where(col(DraftRow.sent_at) >= since)
            ).one()

    def follows_since(self, since: datetime) -> tuple[int, datetime | None]:
        """How many follows arrived since `since`, and when the first of them came."""
        with self.session() as session:
            count, first = session.exec(
                select(func.count(), func.min(EventRow.created_at)).where(
                    EventRow.kind == "follow", col(EventRow.created_at) >= since
                )
            ).one()
        return int(count), first

    def biggest_booster_since(self, since: datetime) -> Person | None:
        """The account with the most followers that boosted one of our posts since `since`."""
        with self.session() as session:
            row = session.exec(
                select(PersonRow)
                .join(EventRow, col(EventRow.account_id) == col(PersonRow.account_id))
                .where(EventRow.kind == "reblog", col(EventRow.created_at) >= since)
                .order_by(col(PersonRow.followers_count).desc())
            ).first()
            return _person(row) if row is not None else None

    def retire_follow_thanks(self, since: datetime, rule: str, reason: str) -> int:
        """Pending, not yet announced thanks of `rule` since `since` give way to one welcome draft."""
        with self.session() as session:
            result = session.exec(
                update(DraftRow)
                .where(
                    col(DraftRow.rule) == rule,
                    col(DraftRow.acct) != "",  # the welcome itself stays
                    col(DraftRow.state) == "pending",
                    col(DraftRow.dm_sent_at).is_(None),
                    col(DraftRow.created_at) >= since,
                )
                .values(state="expired", error=reason),
                execution_options=NO_SYNC,
            )
            session.commit()
            return int(result.rowcount)

    def thread_of(self, status_id: str) -> str | None:
        """The thread key of our post `status_id`, when it is one of our sent replies."""
        with self.session() as session:
            return session.exec(select(DraftRow.thread_key).where(DraftRow.status_id == status_id)).first()

    def count_thread_drafts(self, thread_key: str) -> int:
        with self.session() as session:
            return session.exec(
                select(func.count())
                .select_from(DraftRow)
                .where(
                    DraftRow.thread_key == thread_key,
                    col(DraftRow.state).notin_(("rejected", "expired", "failed")),
                )
            ).one()

    def log_dm(self, now: datetime) -> None:
        with self.session() as session:
            session.add(DmLogRow(at=now))
            session.commit()

    def count_dms_since(self, since: datetime) -> int:
        with self.session() as session:
            return session.exec(
                select(func.count()).select_from(DmLogRow).where(col(DmLogRow.at) >= since)
            ).one()

    # --- small state (bot/store/state.py declares every key) ----------------------

    def get(self, key: Key[T]) -> T | None:
        with self.session() as session:
            row = session.get(StateRow, (self.owner, key.name))
            return key.load(row.value) if row is not None and row.value != "" else None

    def put(self, key: Key[T], value: T) -> None:
        with self.session() as session:
            self._put(session, key, value)
            session.commit()

    def clear(self, key: Key[T]) -> None:
        with self.session() as session:
            self._set_state(session, key.name, "")
            session.commit()

    def _put(self, session: Session, key: Key[T], value: T) -> None:
        self._set_state(session, key.name, key.dump(value))

    def _set_state(self, session: Session, name: str, value: str) -> None:
        row = session.get(StateRow, (self.owner, name)) or StateRow(owner=self.owner, key=name, value=value)
        row.value = value
        session.add(row)

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


def _sqlite_wal(connection: Any, _record: Any) -> None:
    """WAL: readers (the CLI) never block the service, and a commit costs no fsync of the whole file."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def token_fingerprint(base_url: str, token: str) -> str:
    """A short one-way hash: enough to tell accounts apart, useless as a credential."""
    return hashlib.sha256(f"{base_url}\n{token}".encode()).hexdigest()[:16]


def _update_person(row: PersonRow, account: Account) -> None:
    """What the latest sighting says of a person wins."""
    row.acct = account.acct
    row.display_name = account.display_name
    row.followers_count = account.followers_count
    row.bot = account.bot


class StoreError(Exception):
    """The store could not be read or written (disk full, read-only, locked, gone): one line, no SQL."""


class StoreOpenError(StoreError):
    """The store cannot be opened at all: a bad `store.url`, a missing driver, a file that is no database."""


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


def _reason(exc: SQLAlchemyError) -> str:
    """The database's own short words ("database or disk is full"), without the SQL or the URL."""
    original = getattr(exc, "orig", None)
    words = str(original if original is not None else exc).strip().splitlines()
    return (words[0] if words else type(exc).__name__)[:200]


def utcnow() -> datetime:
    return datetime.now(UTC)
