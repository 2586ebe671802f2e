"""Service (drafting): an event and what the store knows → the rules' draft, saved with the event.

A dispatch round (Dispatcher.run_round) calls `begin(now, batch)`, `handle` per event, then `end()`:
what the rules need of the store is read once for the batch (histories, threads, the follow count of
the stadium check), and the drafts and "handled" marks are written in one transaction at `end()`, so a
page of catch-up costs a few statements, not a few per event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.config import Settings
from bot.core import answers, rules, stadium
from bot.core.render import full_acct
from bot.instance.reader import Reader
from bot.model import Event, NewDraft, PersonHistory, StatusEvent
from bot.service.answering import Knowledge
from bot.store import Store, StoreError
from bot.store.state import SPIKE_LAST_ACTIVE, SPIKE_NOTICE, SPIKE_SINCE
from bot.text import clean_name

LOGGER = logging.getLogger(__name__)
SILENCED_FRESH_FOR = timedelta(minutes=5)


Failure = tuple[int, Event, Exception]  # an event whose handled mark could not be written, and why


@dataclass
class Round:
    """What one dispatch round reads once instead of per event, and what it has yet to write.

    The caches are kept as the store would answer with `pending` written: a draft waiting to be saved
    counts in its person's history and its thread at once."""

    now: datetime
    drafts_left: int
    recent_posts: frozenset[str]
    capped: int = 0
    histories: dict[str, PersonHistory] = field(default_factory=dict)  # account id → history
    threads: dict[str, str | None] = field(default_factory=dict)  # parent status id → our thread key
    thread_drafts: dict[str, int] = field(default_factory=dict)  # thread key → drafts in it
    follows: tuple[int, datetime | None] | None = None  # the stadium check's count, read once a round
    stadium_done: bool = False  # the spike's writes are done for this round (the count does not change)
    pending: list[tuple[int, Event, NewDraft | None]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


class Drafter:
    """Handles every drafting event kind for the dispatcher; the rules decide, this reads and saves."""

    def __init__(
        self,
        store: Store,
        reader: Reader,
        *,
        settings: Callable[[], Settings],
        compiled: Callable[[], tuple[rules.Rule, ...]],
        self_id: str,
        domain: str,
        char_limit: int,
    ) -> None:
        self.store = store
        self.reader = reader
        self.settings = settings
        self.compiled = compiled
        self.self_id = self_id
        self.domain = domain
        self.char_limit = char_limit
        self._silenced: tuple[datetime | None, frozenset[str]] = (None, frozenset())
        self.round: Round | None = None
        self.knowledge = Knowledge(store, settings)

    def begin(self, now: datetime, batch: Sequence[tuple[int, Event]] = ()) -> None:
        """Read once per round what the batch's events need: a query per event cost more than the
        drafting itself."""
        limit = self.settings().limits.max_drafts_per_day
        self.round = Round(
            now=now,
            drafts_left=limit - self.store.count_drafts_since(now - timedelta(days=1)),
            recent_posts=self.store.recent_post_texts(),
        )
        self.knowledge.refresh()  # answers learned or remembered since the last round, a reloaded config
        if not batch:
            return
        self.round.histories = self.store.histories(event.account.id for _, event in batch)
        parents = [p for p in (_parent(event) for _, event in batch) if p is not None]
        found = self.store.threads_of(parents)
        self.round.threads = {parent: found.get(parent) for parent in parents}
        keys = [
            (self.round.threads[parent] or parent) if parent else event.status.id
            for _, event in batch
            if isinstance(event, StatusEvent) and event.kind in THREADED
            for parent in [event.status.in_reply_to_id]
        ]
        self.round.thread_drafts = self.store.count_threads_drafts(keys)

    def end(self) -> list[Failure]:
        """Write what the round drafted (one transaction); returns the events that could not be marked
        handled, for the dispatcher to count a failed attempt of each. Raises StoreError."""
        if self.round is None:
            return []
        current = self.round
        try:
            self._flush()
        finally:
            self.round = None
            if current.capped:
                LOGGER.warning(
                    "limits.max_drafts_per_day reached: %d event(s) recorded, not drafted", current.capped
                )
        return current.failures

    def handle(self, event_id: int, event: Event, now: datetime) -> None:
        """Draft for one event (or decide not to); the draft and the handled mark are written together at
        the end of the round (outside a round: at once)."""
        alone = self.round is None
        if alone:
            self.begin(now, [(event_id, event)])
        assert self.round is not None
        draft = None
        if rules.is_stop_reply(event, self.self_id, self.settings().etiquette.stop_words):
            assert isinstance(event, StatusEvent)
            self._flush()  # their drafts drafted earlier in this round are rejected too
            retired = self.store.record_stop(event.account.id, event.status.id, now)
            self.round.histories.pop(event.account.id, None)  # read again: stopped, drafts rejected
            LOGGER.info(
                "%s asked us to stop: never drafted for again (%d waiting draft(s) rejected)",
                event.account.acct,
                retired,
            )
        elif self.round.drafts_left > 0:
            draft = self.draft_for(event_id, event, now, self.silenced(now), self.round.recent_posts)
        else:
            self.round.capped += 1
        self.round.pending.append((event_id, event, draft))
        self.round.drafts_left -= draft is not None
        if draft is not None:
            self._drafted(draft, now)
        if alone:
            failures = self.end()
            if failures:
                raise failures[0][2]

    def _flush(self) -> None:
        """Save the round's drafts and mark their events handled in one transaction. A statement failure
        (a value the database refuses) rolls it back; then each event is finished alone, and the one at
        fault is kept in `failures` while the rest are written."""
        assert self.round is not None
        pending, self.round.pending = self.round.pending, []
        if not pending:
            return
        now = self.round.now
        try:
            self.store.finish_events([(event_id, draft) for event_id, _, draft in pending], now)
            return
        except StoreError:
            raise
        except Exception as exc:
            LOGGER.info("saving %d drafts at once failed (%s); one by one", len(pending), type(exc).__name__)
        for event_id, event, draft in pending:
            try:
                self.store.finish_event(event_id, draft, now)
            except StoreError:
                raise
            except Exception as exc:  # this event only: the dispatcher counts a failed attempt
                self.round.failures.append((event_id, event, exc))

    def _drafted(self, draft: NewDraft, now: datetime) -> None:
        """A draft waiting in `pending` counts in its person's history and its thread at once."""
        assert self.round is not None
        history = self._history(draft.account_id)
        self.round.histories[draft.account_id] = replace(
            history,
            last_drafted={**history.last_drafted, draft.rule: now},
            templates_used=history.templates_used | {draft.template},
        )
        if draft.thread_key:
            self.round.thread_drafts[draft.thread_key] = self._thread_drafts(draft.thread_key) + 1

    def _history(self, account_id: str) -> PersonHistory:
        assert self.round is not None
        if account_id not in self.round.histories:
            self.round.histories[account_id] = self.store.history(account_id)
        return self.round.histories[account_id]

    def _thread_of(self, parent: str) -> str | None:
        assert self.round is not None
        if parent not in self.round.threads:
            self.round.threads[parent] = self.store.thread_of(parent)
        return self.round.threads[parent]

    def _thread_drafts(self, thread_key: str) -> int:
        assert self.round is not None
        if thread_key not in self.round.thread_drafts:
            self.round.thread_drafts[thread_key] = self.store.count_thread_drafts(thread_key)
        return self.round.thread_drafts[thread_key]

    def silenced(self, now: datetime) -> frozenset[str]:
        """Whom we block or mute, read at most every few minutes (two requests, not one per person)."""
        read_at, ids = self._silenced
        if read_at is None or now - read_at > SILENCED_FRESH_FOR:
            ids = self.reader.silenced()
            self._silenced = (now, ids)
        return ids

    def draft_for(
        self,
        event_id: int,
        event: Event,
        now: datetime,
        silenced: frozenset[str] = frozenset(),
        recent_posts: frozenset[str] = frozenset(),
    ) -> NewDraft | None:
        compiled = self.compiled()
        settings = self.settings()
        wanted = {rule.on for rule in compiled}
        if event.kind not in wanted and not ("reply" in wanted and rules.answers_us(event, self.self_id)):
            return None
        if event.kind == "follow" and self._stadium(event_id, now):
            return None
        thread_key = None
        if isinstance(event, StatusEvent) and event.kind in THREADED:
            parent = event.status.in_reply_to_id
            thread_key = (self._thread_of(parent) or parent) if parent else event.status.id
        ctx = rules.Context(
            now=now,
            self_id=self.self_id,
            history=self._history(event.account.id),
            max_event_age=settings.listener.max_event_age,
            skip_bots=settings.etiquette.skip_bots,
            respect_nobot=settings.etiquette.respect_nobot,
            consent_tags=settings.etiquette.consent_tags,
            char_limit=self.char_limit,
            silenced=silenced,
            thread_key=thread_key,
            thread_replies=self._thread_drafts(thread_key) if thread_key else 0,
            max_replies_per_thread=settings.etiquette.max_replies_per_thread,
            recent_posts=recent_posts,
        )
        draft = rules.match(compiled, event, ctx)
        if draft is not None and isinstance(event, StatusEvent):
            rule = next(r for r in compiled if r.name == draft.rule)
            if rule.answer_from == "knowledge":
                index = self.knowledge.index(now)
                draft = answers.answer(draft, event, index, settings.answers.min_score, self.char_limit)
        return draft

    def _stadium(self, event_id: int, now: datetime) -> bool:
        """True while more follows than `limits.spike_threshold` arrived within `limits.spike_window`.

        Read once a round: every follow in it sees the same count (events are recorded between rounds),
        so after the first follow of an active spike the writes below would change nothing."""
        assert self.round is not None
        if self.round.stadium_done:
            return True
        limits = self.settings().limits
        window_start = now - limits.spike_window
        if self.round.follows is None:
            self.round.follows = self.store.follows_since(window_start)
        count, first = self.round.follows
        if count <= limits.spike_threshold:  # no spike (stadium.spike says so too): skip the state read
            return False
        decision = stadium.spike(
            now=now,
            follows=count,
            threshold=limits.spike_threshold,
            window=limits.spike_window,
            last_active=self.store.get(SPIKE_LAST_ACTIVE),
        )
        if not decision.active:
            return False
        self._flush()  # the thanks drafted earlier in this round give way to the welcome too
        self.round.stadium_done = True
        rule = next((r for r in self.compiled() if r.on == "follow"), None)
        if rule is not None and decision.new:
            since = first or now
            welcome = self.store.save_draft(
                NewDraft(
                    rule=rule.name,
                    account_id="",
                    acct="",
                    display_name="everyone who just arrived",
                    text=stadium.WELCOME_TEXT,
                    template=stadium.WELCOME_TEXT,
                    visibility=rule.visibility,
                    triage=3,
                ),
                now,
                event_id=event_id,
            )
            self.store.put(SPIKE_SINCE, since)
            self.store.put(SPIKE_NOTICE, "pending")
            LOGGER.info("stadium mode: %d follows since %s; welcome draft #%d", count, since, welcome)
        if rule is not None:
            self.store.retire_follow_thanks(
                window_start, rule.name, "stadium mode: one welcome draft instead"
            )
        self.store.put(SPIKE_LAST_ACTIVE, now)
        return True

    def spike_notice(self, now: datetime) -> str | None:
        """For the announcer: the once-per-spike line, while one is pending."""
        if self.store.get(SPIKE_NOTICE) != "pending":
            return None
        since = self.store.get(SPIKE_SINCE) or now
        count, _ = self.store.follows_since(since)
        booster = self.store.biggest_booster_since(since - self.settings().limits.spike_window)
        who = None
        if booster is not None:
            who = (
                f"{clean_name(booster.display_name, booster.acct)} ({full_acct(booster.acct, self.domain)}, "
                f"{booster.followers_count} followers)"
            )
        return stadium.spike_notice(count, since, who)

    def spike_told(self) -> None:
        if self.store.get(SPIKE_NOTICE) == "pending":
            self.store.put(SPIKE_NOTICE, "sent")


THREADED = ("mention", "reply")  # the event kinds a reply to which counts in a thread


def _parent(event: Event) -> str | None:
    """The status a mention or reply answers (None: it starts a thread, or is no status event)."""
    if isinstance(event, StatusEvent) and event.kind in THREADED:
        return event.status.in_reply_to_id
    return None
