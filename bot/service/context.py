"""Service (approval): what an approver needs to decide a draft — what the person wrote, where, and
who they are to us. Read from the store for the announcer, `list` and `frontrow drafts --long`."""

from __future__ import annotations

from datetime import datetime

from bot.core.render import who_they_are
from bot.model import THEIR_POSTS, Draft, DraftContext, StatusEvent
from bot.store import Store
from bot.store.ledger import OWED_MIN_INTERACTIONS, OWED_WINDOW


def draft_context(store: Store, draft: Draft, now: datetime) -> DraftContext | None:
    """The context of a draft made from an event (None for one made by a command, e.g. `reply N`)."""
    event = store.event(draft.event_id) if draft.event_id is not None else None
    if event is None:
        return None
    quote = link = ""
    if isinstance(event, StatusEvent) and event.kind in THEIR_POSTS:
        quote, link = event.status.text, event.status.url
    person = store.person(draft.account_id)
    if person is None:
        return DraftContext(quote, link, filtered=event.filtered)
    ever, recent = store.interaction_counts_ever_and_since(draft.account_id, now - OWED_WINDOW)
    theirs_30d, ours_30d = sum(recent["theirs"].values()), sum(recent["ours"].values())
    who = who_they_are(
        kind=event.kind,
        of_kind_30d=recent["theirs"].get(event.kind, 0),
        ours_ever=sum(ever["ours"].values()),
        follows_since=person.follows_us_since,
        followers=person.followers_count,
        owed=theirs_30d >= OWED_MIN_INTERACTIONS and ours_30d == 0,
    )
    return DraftContext(quote, link, who, filtered=event.filtered)
