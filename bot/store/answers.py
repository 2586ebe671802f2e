"""Store (answers): the texts offered for each answering draft, and the answers the store remembers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from bot.model import Offer, StatusEvent, StoredAnswer, event_from_json
from bot.store.base import NO_SYNC, StoreBase
from bot.store.tables import AnswerRow, DraftOfferRow, DraftRow, EventRow


def add_offers(session: Session, draft_id: int, offers: Sequence[Offer]) -> None:
    """Keep a new draft's offers, in the session that saves the draft."""
    for offer in offers:
        session.add(
            DraftOfferRow(
                draft_id=draft_id,
                rank=offer.rank,
                source=offer.source,
                entry=offer.entry,
                label=offer.label,
                score=offer.score,
                text=offer.text,
                chosen=offer.chosen,
            )
        )


def _offer(row: DraftOfferRow) -> Offer:
    return Offer(row.rank, row.source, row.label, row.score, row.text, row.entry, row.chosen)


def _answer(row: AnswerRow) -> StoredAnswer:
    assert row.id is not None
    return StoredAnswer(
        id=row.id,
        kind=row.kind,
        question=row.question,
        text=row.text,
        language=row.language,
        person=row.person,
        answered_at=row.answered_at,
        draft_id=row.draft_id,
    )


class AnswersPart(StoreBase):
    """Offers per draft (`use 12 2` picks one) and the remembered and learned answers."""

    def offers(self, draft_id: int) -> list[Offer]:
        return self.offers_for([draft_id]).get(draft_id, [])

    def offers_for(self, draft_ids: Sequence[int]) -> dict[int, list[Offer]]:
        """The offers of each of these drafts that has any, by rank."""
        found: dict[int, list[Offer]] = defaultdict(list)
        if not draft_ids:
            return {}
        with self.session() as session:
            rows = session.exec(
                select(DraftOfferRow)
                .where(col(DraftOfferRow.draft_id).in_(tuple(draft_ids)))
                .order_by(col(DraftOfferRow.draft_id), col(DraftOfferRow.rank))
            ).all()
            for row in rows:
                found[row.draft_id].append(_offer(row))
        return dict(found)

    def choose_offer(self, draft_id: int, rank: int) -> bool:
        """A pending draft's text becomes its offer `rank`; False: not pending, or no such offer."""
        with self.session() as session:
            offer = session.exec(
                select(DraftOfferRow).where(DraftOfferRow.draft_id == draft_id, DraftOfferRow.rank == rank)
            ).first()
            if offer is None:
                return False
            changed = session.exec(
                update(DraftRow)
                .where(col(DraftRow.id) == draft_id, col(DraftRow.state) == "pending")
                .values(text=offer.text),
                execution_options=NO_SYNC,
            )
            if not changed.rowcount:
                return False
            session.exec(
                update(DraftOfferRow)
                .where(col(DraftOfferRow.draft_id) == draft_id)
                .values(chosen=col(DraftOfferRow.rank) == rank),
                execution_options=NO_SYNC,
            )
            session.commit()
            return True

    def question_of(self, draft_id: int) -> tuple[str, str | None] | None:
        """The text and language of the post a draft answers (None: it answers no post)."""
        with self.session() as session:
            payload = session.exec(
                select(EventRow.payload)
                .join(DraftRow, col(DraftRow.event_id) == col(EventRow.id))
                .where(DraftRow.id == draft_id)
            ).first()
        if payload is None:
            return None
        event = event_from_json(payload)
        if not isinstance(event, StatusEvent) or not event.status.text.strip():
            return None
        return event.status.text, event.status.language

    def save_answer(
        self,
        *,
        kind: str,
        question: str,
        text: str,
        language: str | None,
        person: str,
        answered_at: datetime,
        draft_id: int | None,
    ) -> int:
        """Remember an answer; one per draft (a second call for the same draft updates it)."""
        with self.session() as session:
            row = None
            if draft_id is not None:
                row = session.exec(select(AnswerRow).where(AnswerRow.draft_id == draft_id)).first()
            if row is None:
                row = AnswerRow(kind=kind, question=question, text=text, draft_id=draft_id)
            row.kind, row.question, row.text, row.language = kind, question, text, language
            row.person, row.answered_at = person, answered_at
            session.add(row)
            session.commit()
            assert row.id is not None
            return row.id

    def answer_of_draft(self, draft_id: int) -> StoredAnswer | None:
        with self.session() as session:
            row = session.exec(select(AnswerRow).where(AnswerRow.draft_id == draft_id)).first()
            return _answer(row) if row is not None else None

    def stored_answers(self) -> list[StoredAnswer]:
        with self.session() as session:
            return [_answer(r) for r in session.exec(select(AnswerRow).order_by(col(AnswerRow.id))).all()]

    def forget_answer(self, answer_id: int) -> bool:
        with self.session() as session:
            result = session.exec(delete(AnswerRow).where(col(AnswerRow.id) == answer_id))
            session.commit()
            return bool(result.rowcount)
