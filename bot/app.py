"""App: builds every stage from the validated settings in one place, and runs the cycle and the service."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mastodon import Mastodon, MastodonError, MastodonNotFoundError, MastodonUnauthorizedError

from bot import approval, rules
from bot.client import InstanceFacts, connect, instance_facts
from bot.commands import parse_command
from bot.config import Approver, Settings
from bot.edge import to_account
from bot.events import Account, DirectCommand, Event
from bot.listener import Listener, StreamInbox, open_stream
from bot.outbox import Outbox
from bot.scheduler import Scheduler
from bot.store import Store, utcnow
from bot.text import strip_leading_mentions

LOGGER = logging.getLogger(__name__)
LAST_DRAFT_DM = "last_draft_dm_at"


class StartupError(Exception):
    """The instance refused us at start-up (bad token, unknown approver): a config problem."""


def open_store(settings: Settings) -> Store:
    store = Store(settings.store.url)
    store.upgrade()
    return store


@dataclass
class App:
    """Everything wired together. `start()` is the first contact with the instance."""

    settings: Settings
    store: Store
    api: Mastodon
    rules: tuple[rules.Rule, ...]
    clock: Callable[[], datetime] = utcnow
    dry_run: bool = False
    me: Account | None = None
    approvers: dict[str, Approver] = field(default_factory=dict)  # account id → approver
    facts: InstanceFacts = field(default_factory=lambda: InstanceFacts("localhost", 500))
    _listener: Listener | None = None
    _outbox: Outbox | None = None

    # --- start-up -----------------------------------------------------------

    def start(self) -> None:
        """Check the token, resolve approvers to ids and follow them, read the instance's limits."""
        try:
            me = to_account(self.api.account_verify_credentials())
        except MastodonUnauthorizedError as exc:
            raise StartupError("mastodon.access_token: the instance refused the token (401)") from exc
        self.me = me
        self.facts = instance_facts(self.api, self.settings.mastodon.base_url)
        self.approvers = self._resolve_approvers()
        self._follow_approvers()
        self._listener = Listener(
            self.api, self.store, self_id=me.id, approver_ids=frozenset(self.approvers), clock=self.clock
        )
        self._outbox = Outbox(
            self.api, self.store, clock=self.clock, char_limit=self.facts.char_limit, dry_run=self.dry_run
        )
        LOGGER.info("signed in as %s; %d approver(s)", me.acct, len(self.approvers))

    def _resolve_approvers(self) -> dict[str, Approver]:
        resolved: dict[str, Approver] = {}
        for approver in self.settings.approval.approvers:
            acct = approver.acct
            local, _, domain = acct.partition("@")
            # An approver on the bot's own instance is looked up by the bare name.
            lookup = local if domain in ("", self.facts.domain) else acct
            try:
                account = self.api.account_lookup(lookup)
            except MastodonNotFoundError as exc:
                raise StartupError(f"approval.approvers: {acct} was not found on the instance") from exc
            resolved[str(account["id"])] = approver
        return resolved

    def _follow_approvers(self) -> None:
        """Mastodon 4.3+ hides private mentions from accounts we do not follow."""
        ids = list(self.approvers)
        try:
            relationships = self.api.account_relationships(ids)
            for relationship in relationships:
                if not relationship["following"] and not relationship["requested"]:
                    self.api.account_follow(relationship["id"])
                    LOGGER.info("following approver %s so their DMs reach us", relationship["id"])
        except MastodonError as exc:
            LOGGER.warning("could not follow the approvers (%s); their DMs may be filtered", exc)

    @property
    def listener(self) -> Listener:
        assert self._listener is not None, "start() first"
        return self._listener

    @property
    def outbox(self) -> Outbox:
        assert self._outbox is not None, "start() first"
        return self._outbox

    # --- the cycle ------------------------------------------------------------

    def cycle(self, *, force_dms: bool = True) -> None:
        """One full cycle: catch up, handle events and commands, send draft DMs, post approved drafts."""
        self.listener.catch_up()
        self.work(force_dms=force_dms)

    def work(self, *, force_dms: bool = False) -> None:
        """Everything after listening: decide, ask, post."""
        self.process_events()
        self.expire_drafts()
        self.announce(force=force_dms)
        if not self.store.is_paused():
            self.outbox.flush()

    def process_events(self) -> None:
        now = self.clock()
        while True:
            batch = self.store.unhandled_events()
            progressed = False
            for event_id, event in batch:
                if isinstance(event, DirectCommand):
                    self.handle_command(event_id, event)
                    progressed = True
                elif not self.store.is_paused():
                    self.store.finish_event(event_id, self.draft_for(event, now), now)
                    progressed = True
            if not progressed or len(batch) < 500:
                return

    def draft_for(self, event: Event, now: datetime) -> Any:
        assert self.me is not None
        if event.kind not in {rule.on for rule in self.rules}:
            return None
        ctx = rules.Context(
            now=now,
            self_id=self.me.id,
            history=self.store.history(event.account.id),
            max_event_age=self.settings.listener.max_event_age,
            skip_bots=self.settings.etiquette.skip_bots,
            respect_nobot=self.settings.etiquette.respect_nobot,
            char_limit=self.facts.char_limit,
        )
        return rules.match(self.rules, event, ctx)

    def handle_command(self, event_id: int, event: DirectCommand) -> None:
        now = self.clock()
        approver = self.approvers.get(event.account.id)
        # Fail closed: only an approver's account id, only in a direct message.
        if approver is None or event.status.visibility != "direct":
            LOGGER.warning("ignoring a command-like event from %s", event.account.acct)
            self.store.finish_event(event_id, None, now)
            return
        command = parse_command(strip_leading_mentions(event.status.text))
        outcome = approval.execute(
            command,
            store=self.store,
            approver=approver,
            now=now,
            command_status_id=event.status.id,
            in_reply_to_id=event.status.in_reply_to_id,
            domain=self.facts.domain,
            dry_run=self.dry_run,
        )
        # Mark handled before replying: a crash here loses a confirmation, never repeats a decision.
        self.store.finish_event(event_id, None, now)
        if outcome.reply:
            for text in _split(outcome.reply, self.facts.char_limit - 40):
                self.outbox.send_dm([approver.acct], text, in_reply_to_id=event.status.id)

    def expire_drafts(self) -> None:
        now = self.clock()
        expired = self.store.expire_drafts(now - self.settings.approval.expire_after)
        if expired:
            ids = ", ".join(f"#{d.id}" for d in expired)
            self.outbox.send_dm(self._approver_accts(), f"Expired without a decision: {ids}")

    def announce(self, *, force: bool) -> None:
        """DM new drafts to the approvers, gathered within the batch window."""
        drafts = self.store.drafts_to_announce()
        if not drafts:
            return
        now = self.clock()
        last = self.store.get_state(LAST_DRAFT_DM)
        window: timedelta = self.settings.approval.batch_window
        if not force and last is not None and now - datetime.fromisoformat(last) < window:
            return
        accts = self._approver_accts()
        head = " ".join(f"@{a}" for a in accts)
        blocks = [approval.draft_block(d, self.facts.domain) for d in drafts]
        for text, group in approval.compose(head, blocks, self.facts.char_limit):
            dm_id = self.outbox.send_dm([], text)
            if dm_id is None:
                return
            self.store.mark_announced([drafts[i].id for i in group], dm_id, now)
        self.store.set_state(LAST_DRAFT_DM, now.isoformat())

    def _approver_accts(self) -> list[str]:
        return [a.acct for a in self.approvers.values()]


def _split(text: str, limit: int) -> list[str]:
    """Split a long reply on line boundaries into pieces of at most `limit` characters."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit and current:
            pieces.append(current)
            candidate = line
        current = candidate[:limit]
    if current:
        pieces.append(current)
    return pieces


def build_app(settings: Settings, *, dry_run: bool = False, clock: Callable[[], datetime] = utcnow) -> App:
    """The one place that wires everything. Nothing here contacts the instance."""
    return App(
        settings=settings,
        store=open_store(settings),
        api=connect(settings.mastodon.base_url, settings.mastodon.access_token),
        rules=rules.compile_rules(settings.rules),
        clock=clock,
        dry_run=dry_run,
    )


def serve(app: App, stop: threading.Event) -> None:
    """The long-lived service: stream + poll until `stop` is set, then close cleanly."""
    app.start()
    settings = app.settings
    inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
    wake = threading.Event()
    stream = None
    if settings.listener.streaming:
        stream = open_stream(app.api, StreamInbox(inbox, wake.set))
    scheduler = Scheduler(on_error=lambda exc: LOGGER.error("job failed: %s", exc))

    def request_poll() -> None:
        inbox.put(("poll", None))
        wake.set()

    scheduler.every("catch-up poll", settings.listener.poll_interval, request_poll)
    scheduler.start()
    try:
        app.cycle(force_dms=False)
        while not stop.is_set():
            wake.wait(timeout=1.0)
            wake.clear()
            _drain(app, inbox)
            try:
                app.work()
                app.store.beat(app.clock())
            except MastodonError as exc:
                LOGGER.warning("cycle interrupted: %s", exc)
    finally:
        scheduler.shutdown()
        if stream is not None:
            stream.close()
    LOGGER.info("stopped")


def _drain(app: App, inbox: queue.Queue[tuple[str, Any]]) -> None:
    catch_up = False
    while True:
        try:
            kind, data = inbox.get_nowait()
        except queue.Empty:
            break
        if kind in ("poll", "reconnected"):
            catch_up = True
        else:
            app.listener.record(kind, data)
    if catch_up:
        try:
            app.listener.catch_up()
        except MastodonError as exc:
            LOGGER.warning("catch-up failed (%s); will retry at the next poll", exc)
