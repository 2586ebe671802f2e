"""Store (drafts): the draft lifecycle from pending to sent, the DMs that announced them, the DM log."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select

from bot.model import Draft, NewDraft
from bot.store.answers import add_offers
from bot.store.base import NO_SYNC, StoreBase
from bot.store.tables import DmLogRow, DraftMessageRow, DraftRow, InteractionRow, OurPostRow, PersonRow

DRAFT_STATES = ("pending", "approved", "sending", "sent", "rejected", "expired", "failed")
# Our ledger kind for each posted draft: a reply to a status, or a thanks post.
OURS_REPLY, OURS_THANKS = "reply", "thanks"
OURS_KIND = {"boost": "boost", "favourite": "favourite", "follow": "follow"}


def to_draft(row: DraftRow) -> Draft:
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
        shown_at=row.shown_at,
        decided_by=row.decided_by,
        command_status_id=row.command_status_id,
        status_id=row.status_id,
        status_url=row.status_url,
        error=row.error,
        event_id=row.event_id,
    )


class DraftsPart(StoreBase):
    """Drafts: saved pending, decided by an approver, posted once; and what we posted through them."""

    def save_draft(self, draft: NewDraft, now: datetime, event_id: int | None = None) -> int:
        with self.session() as session:
            row = DraftRow(event_id=event_id, created_at=now, **draft.columns())
            session.add(row)
            session.flush()
            assert row.id is not None
            add_offers(session, row.id, draft.offers)
            session.commit()
            return row.id

    def draft(self, draft_id: int) -> Draft | None:
        with self.session() as session:
            row = session.get(DraftRow, draft_id)
            return to_draft(row) if row is not None else None

    def drafts(self, state: str | None = None, limit: int | None = None) -> list[Draft]:
        with self.session() as session:
            query = select(DraftRow).order_by(col(DraftRow.id))
            if state is not None:
                query = query.where(DraftRow.state == state)
            if limit is not None:
                query = query.limit(limit)
            return [to_draft(r) for r in session.exec(query).all()]

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
            return [to_draft(r) for r in rows]

    def mark_announced(
        self, draft_ids: Sequence[int], dm_status_id: str | None, now: datetime, *, shown_at: datetime
    ) -> None:
        """The drafts went out to the approvers at `now` in the DM `dm_status_id` (None: summarised in
        the last one), which the instance dates `shown_at`."""
        if not draft_ids:
            return  # nothing was left over: no statement, no commit (the announcer calls this each DM)
        with self.session() as session:
            session.exec(
                update(DraftRow)
                .where(col(DraftRow.id).in_(draft_ids))
                .values(dm_sent_at=now, shown_at=shown_at),
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
        """Approve or reject a pending draft; False when it is not pending any more. A reason the
        instance gave for refusing it before is cleared: this is a new decision."""
        values: dict[str, Any] = {"state": state, "decided_at": now, "decided_by": by, "error": None}
        if text is not None:
            values["text"] = text
        if command_status_id is not None:
            values["command_status_id"] = command_status_id
        return self._transition(draft_id, ("pending",), values)

    def approved_drafts(self) -> list[Draft]:
        return self.drafts("approved")

    def mark_sending(self, draft_id: int, now: datetime) -> bool:
        """Approved → sending; True too for a draft already sending (a retry: the outbox looks first)."""
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
                if row.action == "follow":
                    person = session.get(PersonRow, (self.owner, row.account_id))
                    if person is not None:
                        person.we_follow = True
                session.add(
                    InteractionRow(
                        account_id=row.account_id,
                        direction="ours",
                        kind=kind,
                        status_id=ledger_status,
                        at=now,
                    )
                )
            self._count_our_post(session, row, status_id, now)
            session.commit()

    def _count_our_post(self, session: Any, row: DraftRow, status_id: str, now: datetime) -> None:
        """What we just posted or boosted counts in the link-love ratio now, not after the next read of our
        profile (sync_our_posts), which then knows the status and skips it. A DM, a favourite and a follow
        are no posts of ours."""
        if row.action not in ("post", "boost") or row.visibility == "direct":
            return
        if session.exec(select(OurPostRow.id).where(OurPostRow.status_id == status_id)).first():
            return  # read back from our profile already (a retried draft found posted)
        someone = row.account_id or None  # "" for a crowd welcome: nobody's
        if row.action == "boost":
            kind, answered, boosted = "boost", None, someone
        else:
            kind = "reply" if row.in_reply_to_id and someone else "post"
            answered, boosted = (someone if row.in_reply_to_id else None), None
        session.add(
            OurPostRow(
                status_id=status_id,
                created_at=now,
                visibility="public" if row.action == "boost" else row.visibility,
                kind=kind,
                in_reply_to_account_id=answered,
                reblog_of_account_id=boosted,
            )
        )

    def hand_back(self, draft_id: int, error: str) -> bool:
        """The instance refused the approved draft: pending again, with the reason, to edit or reject."""
        return self._transition(
            draft_id,
            ("approved", "sending"),
            {
                "state": "pending",
                "error": error[:500],
                "decided_at": None,
                "decided_by": None,
                "command_status_id": None,
                "sending_at": None,
            },
        )

    def expire_drafts(self, older_than: datetime) -> list[Draft]:
        """Pending drafts created before `older_than` become expired; returns them."""
        with self.session() as session:
            rows = session.exec(
                select(DraftRow).where(DraftRow.state == "pending", col(DraftRow.created_at) < older_than)
            ).all()
            for row in rows:
                row.state = "expired"
            session.commit()
            return [to_draft(r) for r in rows]

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

    def drafts_for(self, account_id: str) -> list[Draft]:
        with self.session() as session:
            rows = session.exec(
                select(DraftRow).where(DraftRow.account_id == account_id).order_by(col(DraftRow.id))
            ).all()
            return [to_draft(r) for r in rows]

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

    def threads_of(self, status_ids: Iterable[str]) -> dict[str, str]:
        """`thread_of` for several statuses in one query: status id → thread key (ours only)."""
        ids = list(dict.fromkeys(status_ids))
        if not ids:
            return {}
        with self.session() as session:
            rows = session.exec(
                select(DraftRow.status_id, DraftRow.thread_key).where(col(DraftRow.status_id).in_(ids))
            ).all()
        found: dict[str, str] = {}
        for status_id, thread_key in rows:
            if status_id is not None and thread_key is not None:
                found.setdefault(status_id, thread_key)
        return found

    def count_thread_drafts(self, thread_key: str) -> int:
        return self.count_threads_drafts([thread_key])[thread_key]

    def count_threads_drafts(self, thread_keys: Iterable[str]) -> dict[str, int]:
        """Drafts (not rejected, expired or failed) per thread key, in one query; 0 for a thread without."""
        keys = list(dict.fromkeys(thread_keys))
        if not keys:
            return {}
        with self.session() as session:
            rows = session.exec(
                select(DraftRow.thread_key, func.count())
                .where(
                    col(DraftRow.thread_key).in_(keys),
                    col(DraftRow.state).notin_(("rejected", "expired", "failed")),
                )
                .group_by(DraftRow.thread_key)
            ).all()
        counts = dict.fromkeys(keys, 0)
        counts.update({key: int(count) for key, count in rows if key is not None})
        return counts

    def log_dm(self, now: datetime) -> None:
        with self.session() as session:
            session.add(DmLogRow(at=now))
            session.commit()

    def dm_budget_counts(self, hour_since: datetime, window_since: datetime) -> tuple[int, int]:
        """The DM budget's two figures in one statement (the announcer reads them before every draft
        DM): our DMs since `hour_since`, and our statuses, DMs and posts alike, since `window_since`."""
        dms = select(func.count()).select_from(DmLogRow)
        sent = select(func.count()).select_from(DraftRow).where(col(DraftRow.sent_at) >= window_since)
        with self.session() as session:
            hour, window, posts = session.exec(
                select(
                    dms.where(col(DmLogRow.at) >= hour_since).scalar_subquery(),
                    dms.where(col(DmLogRow.at) >= window_since).scalar_subquery(),
                    sent.scalar_subquery(),
                )
            ).one()
            return int(hour), int(window) + int(posts)

    def count_dms_since(self, since: datetime) -> int:
        with self.session() as session:
            return session.exec(
                select(func.count()).select_from(DmLogRow).where(col(DmLogRow.at) >= since)
            ).one()
