"""Service (approval): what an approver needs to decide a draft — what the person wrote, where, and
who they are to us. Read from the store for the announcer, `list` and `frontrow drafts --long`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.core.render import who_they_are
from bot.model import THEIR_POSTS, Draft, DraftContext, StatusEvent
from bot.store import Store
from bot.store.ledger import OWED_MIN_INTERACTIONS, OWED_WINDOW


def draft_context(store: Store, draft: Draft, now: datetime) -> DraftContext | None:
    """The context of a draft made from an event (None for one made by a command, e.g. `reply N`)."""
    return draft_contexts(store, [draft], now)[draft.id]


def draft_contexts(store: Store, drafts: Sequence[Draft], now: datetime) -> dict[int, DraftContext | None]:
    """`draft_context` of many drafts (the announcer's, after a catch-up: a hundred or more) in four
    queries, not four per draft (the interaction counts, ever and lately, are one)."""
    events = store.events_by_id(d.event_id for d in drafts if d.event_id is not None)
    people = store.people_by_id(d.account_id for d in drafts)
    for draft in drafts:  # not found by id: as `Store.person` reads a name (a draft keeps the id)
        if draft.account_id not in people and draft.event_id in events:
            person = store.person(draft.account_id)
            if person is not None:
                people[draft.account_id] = person
    counts = store.interaction_counts_ever_and_since(people, since=now - OWED_WINDOW)
    out: dict[int, DraftContext | None] = {}
    for draft in drafts:
        event = events.get(draft.event_id) if draft.event_id is not None else None
        if event is None:
            out[draft.id] = None
            continue
        quote = link = ""
        if isinstance(event, StatusEvent) and event.kind in THEIR_POSTS:
            quote, link = event.status.text, event.status.url
        person = people.get(draft.account_id)
        if person is None:
            out[draft.id] = DraftContext(quote, link, filtered=event.filtered)
            continue
        ever, lately = counts[person.account_id]
        theirs_30d, ours_30d = sum(lately["theirs"].values()), sum(lately["ours"].values())
        who = who_they_are(
            kind=event.kind,
            of_kind_30d=lately["theirs"].get(event.kind, 0),
            ours_ever=sum(ever["ours"].values()),
            follows_since=person.follows_us_since,
            followers=person.followers_count,
            owed=theirs_30d >= OWED_MIN_INTERACTIONS and ours_30d == 0,
        )
        out[draft.id] = DraftContext(quote, link, who, filtered=event.filtered)
    return out
