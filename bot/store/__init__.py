"""Store: the only package that opens SQL sessions; `Store` joins one part per thing it keeps."""

from __future__ import annotations

from bot.store.answers import AnswersPart
from bot.store.base import NoStore, StoreBase, StoreError, StoreOpenError, token_fingerprint, utcnow
from bot.store.drafts import DRAFT_STATES, DraftsPart
from bot.store.events import EventsPart, QuarantinedEvent
from bot.store.people import PeoplePart
from bot.store.state import StatePart
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
    "NoStore",
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


class Store(EventsPart, DraftsPart, PeoplePart, StatePart, AnswersPart, StoreBase):
    """The store: every read and write of Frontrow's data goes through these methods.

    Events (bot/store/events.py), drafts (drafts.py), people (people.py), small state (state.py) and
    answers (answers.py) share one engine and one owner (base.py); the ledger and listening queries
    are functions over a store (ledger.py, listening.py).
    """
