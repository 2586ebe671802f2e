"""Service (dispatch): events handled one at a time by kind, commands first, each failure isolated."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.config import Approver
from bot.core.commands import parse_command
from bot.instance import Unauthorized
from bot.model import DirectCommand, Event
from bot.service import commands
from bot.service.announce import Announcer
from bot.store import Store, StoreError
from bot.store.ledger import DigestItem
from bot.text import strip_leading_mentions

LOGGER = logging.getLogger(__name__)
Handler = Callable[[int, Event, datetime], None]
# A round's hooks around a batch: begin(now, batch) reads what the batch needs at once; end() writes what
# was deferred and returns the events it could not finish (event id, event, why), each a failed attempt.
Begin = Callable[[datetime, Sequence[tuple[int, Event]]], None]
End = Callable[[], Sequence[tuple[int, Event, Exception]]]
MAX_ATTEMPTS = 3  # then the event is quarantined: recorded, never drafted, shown to the approvers
FIRST_RETRY = timedelta(seconds=30)
BATCH = 200  # events drafted per round; commands are read again before the next batch
COMMAND_KINDS = ("command",)
# What the instance says about the account itself: handled with the commands, even while paused.
NOTICE_KINDS = ("moderation_warning", "severed_relationships")
FIRST_LANE = COMMAND_KINDS + NOTICE_KINDS


def retry_delay(attempts: int) -> timedelta:
    """30 s, 2 min, 8 min …: a failing event costs little while it waits."""
    return FIRST_RETRY * 4 ** max(attempts - 1, 0)


@dataclass
class Dispatcher:
    """Decides which handler an event goes to and isolates what it does; called by the serve loop.

    Store errors and a revoked token are not the event's fault: they stop the round and go up to the
    serve loop, with the event still unhandled. Anything else counts as one failed attempt.
    """

    store: Store
    clock: Callable[[], datetime]
    handlers: Mapping[str, Handler]
    rounds: list[tuple[Begin, End]] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  # lines for the approvers, not told yet

    def run_round(self) -> int:
        """Commands first, then (unless paused) a batch of other events; returns how many were handled."""
        now = self.clock()
        handled = self._lane(self.store.unhandled_events(now=now, kinds=FIRST_LANE), now)
        if self.store.is_paused():  # paused: recorded now, drafted after `resume`
            return handled
        batch = self.store.unhandled_events(BATCH, now=now, exclude_kinds=FIRST_LANE)
        if not batch:
            return handled
        for begin, _ in self.rounds:
            begin(now, batch)
        try:
            handled += self._lane(batch, now)
        finally:
            for _, end in self.rounds:
                for event_id, event, exc in end():  # written at the end: a failure is still this event's
                    self._failed(event_id, event, exc, now)
        return handled

    def run(self) -> int:
        """Rounds until nothing due is left (a `resume` in one round lets the backlog through in the next)."""
        total = 0
        while handled := self.run_round():
            total += handled
        return total

    def _lane(self, events: list[tuple[int, Event]], now: datetime) -> int:
        handled = 0
        for event_id, event in events:
            handler = self.handlers.get(event.kind, self.handlers["other"])
            try:
                handler(event_id, event, now)
            except (StoreError, Unauthorized):
                raise
            except Exception as exc:  # a bug, or a surprise from the instance: this event only
                self._failed(event_id, event, exc, now)
            handled += 1
            if event.kind in FIRST_LANE and self.store.is_paused():
                break  # `pause` (or a moderation warning): nothing after it in this round
        return handled

    def _failed(self, event_id: int, event: Event, exc: Exception, now: datetime) -> None:
        what = f"event {event_id} ({event.kind} from {event.account.acct})"
        summary = f"{type(exc).__name__}: {exc}"[:300]
        attempts = self.store.fail_event(event_id, summary, now, retry_delay)
        if attempts >= MAX_ATTEMPTS:
            self.store.quarantine_event(event_id, summary, now)
            LOGGER.error("%s failed %d times and is quarantined: %s", what, attempts, summary)
            self.quarantined.append(
                f"Set aside after {attempts} failures: {event.kind} #{event_id} ({summary})"
            )
        elif attempts == 1:  # the traceback once; the retries and the quarantine get one line
            LOGGER.exception("%s failed; retrying in %s", what, retry_delay(1))

    def quarantine_notice(self, now: datetime) -> str | None:
        if not self.quarantined:
            return None
        shown = self.quarantined[:3]
        more = len(self.quarantined) - len(shown)
        lines = [*shown, f"…and {more} more" if more else ""]
        return "\n".join(line for line in lines if line) + '\nSee "frontrow events --quarantined".'

    def quarantine_told(self) -> None:
        self.quarantined.clear()


@dataclass
class CommandLane:
    """Handles approver DMs: the permission check first (failing closed), then the command's handler."""

    store: Store
    announcer: Announcer
    approvers: Callable[[], Mapping[str, Approver]]  # account id → approver
    domain: str
    dry_run: bool
    resolve: Callable[[DigestItem, datetime], DigestItem | None]
    # DMs written before this store began working are history (a new store reads the account's
    # past notifications): recorded, never executed against this store's drafts.
    commands_since: datetime

    def handle(self, event_id: int, event: Event, now: datetime) -> None:
        approver = self.approvers().get(event.account.id)
        # Fail closed: only an approver's account id, only in a direct message.
        if not isinstance(event, DirectCommand) or approver is None or event.status.visibility != "direct":
            LOGGER.warning("ignoring a command-like event from %s", event.account.acct)
            self.store.finish_event(event_id, None, now)
            return
        written_at = event.status.created_at or event.created_at
        if written_at < self.commands_since:
            LOGGER.info(
                "not executing a DM from %s written %s, before this store began (%s)",
                approver.acct,
                f"{written_at:%Y-%m-%d %H:%M}",
                f"{self.commands_since:%Y-%m-%d %H:%M}",
            )
            self.store.finish_event(event_id, None, now)
            return
        outcome = commands.execute(
            commands.Request(
                command=parse_command(strip_leading_mentions(event.status.text)),
                store=self.store,
                approver=approver,
                now=now,
                command_status_id=event.status.id,
                written_at=written_at,
                in_reply_to_id=event.status.in_reply_to_id,
                domain=self.domain,
                room=self.announcer.char_limit - len(approver.acct) - 2,
                char_limit=self.announcer.char_limit,
                dry_run=self.dry_run,
                resolve=self.resolve,
            )
        )
        # Marked handled before replying: a crash here loses a confirmation, never repeats a decision.
        self.store.finish_event(event_id, None, now)
        for text in outcome.messages:
            if (
                self.announcer.send([approver.acct], text, kind="reply", in_reply_to_id=event.status.id)
                is None
            ):
                break
        if outcome.reply:
            self.announcer.reply(approver.acct, outcome.reply, in_reply_to_id=event.status.id)


def record_only(store: Store) -> Handler:
    """For kinds nothing drafts from (polls, moderation warnings, …): recorded, then done."""

    def handle(event_id: int, event: Event, now: datetime) -> None:
        store.finish_event(event_id, None, now)

    return handle
