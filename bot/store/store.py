"""Store (joined): `Store`, one class joining a part per thing the store keeps; `bot.store` exports it."""

from __future__ import annotations

from bot.store.answers import AnswersPart
from bot.store.base import StoreBase
from bot.store.drafts import DraftsPart
from bot.store.events import EventsPart
from bot.store.people import PeoplePart
from bot.store.state import StatePart


class Store(EventsPart, DraftsPart, PeoplePart, StatePart, AnswersPart, StoreBase):
    """The store: every read and write of Frontrow's data goes through these methods.

    Events (bot/store/events.py), drafts (drafts.py), people (people.py), small state (state.py) and
    answers (answers.py) share one engine and one owner (base.py); the ledger and listening queries
    are functions over a store (ledger.py, listening.py).
    """
