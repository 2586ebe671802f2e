"""Service (answering): the knowledge base and the store's answers put to questions; what approvers teach."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from bot.config import Settings
from bot.core import answers
from bot.core.answers import Entry, Index
from bot.core.stopwords import STOPWORDS
from bot.model import Draft, StoredAnswer
from bot.store import Store
from bot.text import safe_text

LOGGER = logging.getLogger(__name__)
DECIDED = ("approved", "sending", "sent")
QUOTE = 60  # characters of a question quoted back to an approver


def entries(settings: Settings, stored: Iterable[StoredAnswer], now: datetime) -> list[Entry]:
    """The config's entries, then what the store learned and remembered."""
    found = [
        Entry(f"knowledge:{e.name}", "knowledge", e.name, e.questions, e.text, e.language)
        for e in settings.answers.entries
    ]
    for a in stored:
        label = f"#{a.id}" if a.kind == "learned" else answers.reply_label(a.person, a.answered_at, now)
        language = a.language or answers.DEFAULT_LANGUAGE
        found.append(Entry(f"{a.kind}:{a.id}", a.kind, label, (a.question,), a.text, language))
    return found


class Knowledge:
    """The index of what we can answer: built when first needed, again after `refresh()`."""

    def __init__(self, store: Store, settings: Callable[[], Settings]) -> None:
        self.store = store
        self.settings = settings
        self._index: Index | None = None

    def refresh(self) -> None:
        """Read the config's entries and the store's answers again at the next question."""
        self._index = None

    def index(self, now: datetime) -> Index:
        if self._index is None:
            self._index = Index(entries(self.settings(), self.store.stored_answers(), now))
        return self._index


def _language(question: str, language: str | None) -> str | None:
    return answers.language_code(language) or answers.guess_language(question, STOPWORDS)


def remember(store: Store, draft_id: int, text: str, now: datetime) -> int | None:
    """Keep an approved answering draft with the question it answered (the text as approved, unsigned).

    The rule's own text approved unchanged (a holding line) is not an answer and is not kept.
    """
    offers = store.offers(draft_id)
    if not offers:
        return None  # not a rule with answer_from
    chosen = next((o for o in offers if o.chosen), offers[0])
    if chosen.source == "template" and text.strip() == chosen.text.strip():
        return None
    asked = store.question_of(draft_id)
    draft = store.draft(draft_id)
    if asked is None or draft is None:
        return None
    question, language = asked
    return store.save_answer(
        kind="reply",
        question=question,
        text=answers.as_template(text.strip(), draft.display_name),
        language=_language(question, language),
        person=draft.display_name,
        answered_at=now,
        draft_id=draft_id,
    )


def learn(store: Store, draft_id: int, signs: Sequence[str], now: datetime) -> str:
    """`learn 12`: a decided draft's answer becomes knowledge of the store. Returns what to tell."""
    draft = store.draft(draft_id)
    if draft is None:
        return f"#{draft_id}: no such draft"
    if draft.state not in DECIDED:
        return f"#{draft_id} is {draft.state}: approve or edit it first, then learn it"
    kept = store.answer_of_draft(draft_id)
    if kept is not None:
        question, language, text, person = kept.question, kept.language, kept.text, kept.person
    else:
        asked = store.question_of(draft_id)
        if asked is None:
            return f"#{draft_id} answers no question: nothing to learn"
        question, language = asked[0], _language(*asked)
        text = answers.as_template(_unsigned(draft.text, signs), draft.display_name)
        person = draft.display_name
    answer_id = store.save_answer(
        kind="learned",
        question=question,
        text=text,
        language=language,
        person=person,
        answered_at=kept.answered_at if kept else now,
        draft_id=draft_id,
    )
    quoted = safe_text(" ".join(question.split()))
    quoted = quoted if len(quoted) <= QUOTE else quoted[: QUOTE - 1] + "…"
    return f'Learned #{draft_id} as answer #{answer_id}: questions like "{quoted}" get it from now on.'


def _unsigned(text: str, signs: Sequence[str]) -> str:
    """The text without an approver's signature line."""
    for sign in signs:
        if sign and text.endswith(f"\n{sign}"):
            return text[: -len(sign) - 1]
    return text


def use(store: Store, draft_id: int, rank: int) -> tuple[Draft | None, str]:
    """`use 12 2`: a pending draft's text becomes its offer 2. Returns the draft as it is now, or why not."""
    draft = store.draft(draft_id)
    if draft is None:
        return None, f"#{draft_id}: no such draft"
    if draft.state != "pending":
        return None, f"#{draft_id} is already {draft.state}"
    offers = [o for o in store.offers(draft_id) if o.rank > 0]
    if not offers:
        return None, f"#{draft_id} has no answers from knowledge to choose from"
    if rank not in {o.rank for o in offers}:
        choices = " or ".join(str(o.rank) for o in offers)
        return None, f"#{draft_id} has no answer {rank}: use {choices}"
    if not store.choose_offer(draft_id, rank):
        return None, f"#{draft_id} changed meanwhile; nothing done"
    return store.draft(draft_id), ""


def notes(store: Store, drafts: Sequence[Draft]) -> dict[int, str]:
    """The answer line of each answering draft's DM block."""
    return {
        draft_id: answers.offers_line(draft_id, offers)
        for draft_id, offers in store.offers_for([d.id for d in drafts]).items()
    }
