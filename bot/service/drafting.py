"""Service (drafting): an event and what the store knows → the rules' draft, saved with the event."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config import Settings
from bot.core import answers, rules, stadium
from bot.core.render import full_acct
from bot.instance.reader import Reader
from bot.model import Event, NewDraft, StatusEvent
from bot.service.answering import Knowledge
from bot.store import Store
from bot.store.state import SPIKE_LAST_ACTIVE, SPIKE_NOTICE, SPIKE_SINCE
from bot.text import clean_name

LOGGER = logging.getLogger(__name__)
SILENCED_FRESH_FOR = timedelta(minutes=5)


@dataclass
class Round:
    """What one dispatch round reads once instead of per event."""

    drafts_left: int
    recent_posts: frozenset[str]
    capped: int = 0


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

    def begin(self, now: datetime) -> None:
        """Read once per round: a query per event cost more than the drafting itself."""
        limit = self.settings().limits.max_drafts_per_day
        self.round = Round(
            drafts_left=limit - self.store.count_drafts_since(now - timedelta(days=1)),
            recent_posts=self.store.recent_post_texts(),
        )
        self.knowledge.refresh()  # answers learned or remembered since the last round, a reloaded config

    def end(self) -> None:
        if self.round is not None and self.round.capped:
            LOGGER.warning(
                "limits.max_drafts_per_day reached: %d event(s) recorded, not drafted", self.round.capped
            )
        self.round = None

    def handle(self, event_id: int, event: Event, now: datetime) -> None:
        """Draft for one event (or decide not to) and mark it handled, in one transaction."""
        if self.round is None:
            self.begin(now)
        assert self.round is not None
        draft = None
        if rules.is_stop_reply(event, self.self_id, self.settings().etiquette.stop_words):
            assert isinstance(event, StatusEvent)
            retired = self.store.record_stop(event.account.id, event.status.id, now)
            LOGGER.info(
                "%s asked us to stop: never drafted for again (%d waiting draft(s) rejected)",
                event.account.acct,
                retired,
            )
        elif self.round.drafts_left > 0:
            draft = self.draft_for(event_id, event, now, self.silenced(now), self.round.recent_posts)
        else:
            self.round.capped += 1
        self.store.finish_event(event_id, draft, now)
        self.round.drafts_left -= draft is not None

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
        if isinstance(event, StatusEvent) and event.kind in ("mention", "reply"):
            parent = event.status.in_reply_to_id
            thread_key = (self.store.thread_of(parent) or parent) if parent else event.status.id
        ctx = rules.Context(
            now=now,
            self_id=self.self_id,
            history=self.store.history(event.account.id),
            max_event_age=settings.listener.max_event_age,
            skip_bots=settings.etiquette.skip_bots,
            respect_nobot=settings.etiquette.respect_nobot,
            consent_tags=settings.etiquette.consent_tags,
            char_limit=self.char_limit,
            silenced=silenced,
            thread_key=thread_key,
            thread_replies=self.store.count_thread_drafts(thread_key) if thread_key else 0,
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
        """True while more follows than `limits.spike_threshold` arrived within `limits.spike_window`."""
        limits = self.settings().limits
        window_start = now - limits.spike_window
        count, first = self.store.follows_since(window_start)
        decision = stadium.spike(
            now=now,
            follows=count,
            threshold=limits.spike_threshold,
            window=limits.spike_window,
            last_active=self.store.get(SPIKE_LAST_ACTIVE),
        )
        if not decision.active:
            return False
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
