"""App: builds every stage from the validated settings in one place, and runs the cycle and the service."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mastodon import Mastodon, MastodonError, MastodonNotFoundError, MastodonUnauthorizedError

from bot.config import Approver, ConfigError, Settings
from bot.core import render, rules
from bot.core.commands import Command, parse_command
from bot.core.render import full_acct
from bot.instance.client import InstanceFacts, Pacer, connect, instance_facts
from bot.instance.convert import to_account
from bot.instance.reader import Listener, Stream, StreamInbox
from bot.listening import digest
from bot.model import Account, DirectCommand, Event, NewDraft, StatusEvent
from bot.service import commands
from bot.service.jobs import Scheduler
from bot.service.outbox import Outbox
from bot.store import Store, utcnow
from bot.text import clean_name, defang, strip_leading_mentions

LOGGER = logging.getLogger(__name__)
LAST_DRAFT_DM = "last_draft_dm_at"
DIGEST_ACTIONS = {"boost": "boost", "fav": "favourite", "reply": "post"}
SPIKE_SINCE, SPIKE_LAST, SPIKE_NOTICE = "spike_since", "spike_last_active", "spike_notice"
EXPIRED_UNTOLD = "expired_untold"
SUMMARY_ROOM = 40
MAX_DMS_PER_ROUND = 3
SILENCED_FRESH_FOR = timedelta(minutes=5)
WELCOME_TEXT = "A warm welcome to everyone who just followed us! We're glad you're here. Say hello any time."


class StartupError(Exception):
    """The instance refused us at start-up (bad token, unknown approver): a config problem."""


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """The store, migrated, seeing the rows of the account this config signs in as."""
    store = Store(settings.store.url)
    if migrate:
        store.upgrade()
    store.owner = store.find_owner(settings.mastodon.base_url, settings.mastodon.access_token)
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
    stopping: threading.Event = field(default_factory=threading.Event)  # set by SIGTERM/SIGINT
    stream: Stream | None = None
    me: Account | None = None
    approvers: dict[str, Approver] = field(default_factory=dict)  # account id → approver
    facts: InstanceFacts = field(default_factory=lambda: InstanceFacts("localhost", 500))
    _listener: Listener | None = None
    _outbox: Outbox | None = None
    _silenced: tuple[datetime | None, frozenset[str]] = (None, frozenset())

    # --- start-up -----------------------------------------------------------

    def start(self) -> None:
        """Check the token, resolve approvers to ids and follow them, read the instance's limits."""
        try:
            me = to_account(self.api.account_verify_credentials())
        except MastodonUnauthorizedError as exc:
            raise StartupError("mastodon.access_token: the instance refused the token (401)") from exc
        self.me = me
        self.facts = instance_facts(self.api, self.settings.mastodon.base_url)
        # Several bot accounts may share one database: this one's rows carry its user@instance.
        mastodon = self.settings.mastodon
        self.store.claim(
            f"{me.username}@{self.facts.domain}", mastodon.base_url, mastodon.access_token, self.clock()
        )
        self.approvers = self._resolve_approvers()
        self._follow_approvers()
        self._listener = Listener(
            self.api, self.store, self_id=me.id, approver_ids=frozenset(self.approvers), clock=self.clock
        )
        self._outbox = Outbox(
            self.api,
            self.store,
            clock=self.clock,
            char_limit=self.facts.char_limit,
            limits=self.settings.limits,
            self_id=me.id,
            dry_run=self.dry_run,
            stopping=self.stopping,
        )
        LOGGER.info("signed in as %s; %d approver(s)", me.acct, len(self.approvers))

    def _resolve_approvers(self, approvers: tuple[Approver, ...] | None = None) -> dict[str, Approver]:
        resolved: dict[str, Approver] = {}
        for approver in approvers if approvers is not None else self.settings.approval.approvers:
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

    def reload(self, settings: Settings) -> None:
        """Take a new, valid config: new rules and limits from the next event on.

        Raises StartupError (and changes nothing) when a new approver cannot be found.
        """
        approvers = self.approvers
        if settings.approval.approvers != self.settings.approval.approvers:
            approvers = self._resolve_approvers(settings.approval.approvers)
        self.settings = settings
        self.rules = rules.compile_rules(settings.rules)
        self.outbox.limits = settings.limits
        if approvers is not self.approvers:
            self.approvers = approvers
            self._follow_approvers()
            self.listener.approver_ids = frozenset(approvers)
        LOGGER.info("config reloaded: %d rule(s)", len(self.rules))

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
        self.catch_up()
        self.sync_our_posts()
        self.listener.check_replies()  # reads the posts the sync just stored
        self.work(force_dms=force_dms)

    def catch_up(self) -> int:
        """Read what happened since the cursor; each page is drafted while the next one is on its way."""
        return self.listener.catch_up(on_page=lambda fresh: self.process_events() if fresh else None)

    def sync_our_posts(self) -> None:
        """Our own recent posts, for the link-love ratio (rate-limited inside) and the reply check."""
        assert self.me is not None
        replies: dict[str, int] = {}
        digest.sync_our_posts(self.api, self.store, self.me.id, self.clock(), replies_seen=replies)
        self.listener.fresh_reply_counts = replies

    def work(self, *, force_dms: bool = False) -> None:
        """Everything after listening: decide, ask, post."""
        self.process_events()
        self.expire_drafts()
        self.announce(force=force_dms)
        if not self.store.is_paused():
            self.outbox.flush()

    def process_events(self) -> None:
        recent_posts = self.store.recent_post_texts()
        # Read once per round and counted here: a query per event cost more than the drafting itself.
        drafts_left = self.settings.limits.max_drafts_per_day - self.store.count_drafts_since(
            self.clock() - timedelta(days=1)
        )
        capped = 0
        while True:
            batch = self.store.unhandled_events()
            progressed = False
            paused = self.store.is_paused()
            for event_id, event in batch:
                if isinstance(event, DirectCommand):
                    self.handle_command(event_id, event)
                    paused = self.store.is_paused()  # the command may have been `pause` or `resume`
                    progressed = True
                elif not paused:  # paused: recorded now, drafted after `resume`
                    now = self.clock()
                    draft = None
                    if drafts_left > 0:
                        draft = self.draft_for(event_id, event, now, self.silenced(now), recent_posts)
                    else:
                        capped += 1
                    self.store.finish_event(event_id, draft, now)
                    drafts_left -= draft is not None
                    progressed = True
            if not progressed:  # a `resume` in this batch lets the skipped events through next round
                if capped:
                    LOGGER.warning(
                        "limits.max_drafts_per_day reached: %d event(s) recorded, not drafted", capped
                    )
                return

    def silenced(self, now: datetime) -> frozenset[str]:
        """Whom we block or mute, read at most every few minutes (two requests, not one per person)."""
        read_at, ids = self._silenced
        if read_at is None or now - read_at > SILENCED_FRESH_FOR:
            ids = self.listener.silenced()
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
        assert self.me is not None
        wanted = {rule.on for rule in self.rules}
        if event.kind not in wanted and not ("reply" in wanted and rules.answers_us(event, self.me.id)):
            return None
        if event.kind == "follow" and self._stadium(event_id, now):
            return None
        thread_key = None
        if isinstance(event, StatusEvent) and event.kind in ("mention", "reply"):
            parent = event.status.in_reply_to_id
            thread_key = (self.store.thread_of(parent) or parent) if parent else event.status.id
        ctx = rules.Context(
            now=now,
            self_id=self.me.id,
            history=self.store.history(event.account.id),
            max_event_age=self.settings.listener.max_event_age,
            skip_bots=self.settings.etiquette.skip_bots,
            respect_nobot=self.settings.etiquette.respect_nobot,
            char_limit=self.facts.char_limit,
            silenced=silenced,
            thread_key=thread_key,
            thread_replies=self.store.count_thread_drafts(thread_key) if thread_key else 0,
            max_replies_per_thread=self.settings.etiquette.max_replies_per_thread,
            recent_posts=recent_posts,
        )
        return rules.match(self.rules, event, ctx)

    def _stadium(self, event_id: int, now: datetime) -> bool:
        """True while more follows than `limits.spike_threshold` arrived within `limits.spike_window`.

        Then individual thanks stop: one welcome draft greets the crowd, and the approvers hear of it once.
        """
        limits = self.settings.limits
        window_start = now - limits.spike_window
        count, first = self.store.follows_since(window_start)
        if count <= limits.spike_threshold:
            return False
        rule = next((r for r in self.rules if r.on == "follow"), None)
        last_active = self.store.get_state(SPIKE_LAST)
        if rule is not None and (last_active is None or datetime.fromisoformat(last_active) < window_start):
            since = first or now
            welcome = self.store.save_draft(
                NewDraft(
                    rule=rule.name,
                    account_id="",
                    acct="",
                    display_name="everyone who just arrived",
                    text=WELCOME_TEXT,
                    template=WELCOME_TEXT,
                    visibility=rule.visibility,
                    triage=3,
                ),
                now,
                event_id=event_id,
            )
            self.store.set_state(SPIKE_SINCE, since.isoformat())
            self.store.set_state(SPIKE_NOTICE, "pending")
            LOGGER.info("stadium mode: %d follows since %s; welcome draft #%d", count, since, welcome)
        if rule is not None:
            reason = "stadium mode: one welcome draft instead"
            self.store.retire_follow_thanks(window_start, rule.name, reason)
        self.store.set_state(SPIKE_LAST, now.isoformat())
        return True

    def _spike_notice(self, now: datetime) -> str | None:
        """The once-per-spike line for the approvers: how many, since when, and the likely cause."""
        if self.store.get_state(SPIKE_NOTICE) != "pending":
            return None
        since = datetime.fromisoformat(self.store.get_state(SPIKE_SINCE) or now.isoformat())
        count, _ = self.store.follows_since(since)
        notice = (
            f"Stadium mode: {count} people followed since {since:%H:%M} UTC. "
            "Individual thanks are paused; one welcome draft greets them all."
        )
        booster = self.store.biggest_booster_since(since - self.settings.limits.spike_window)
        if booster is not None:
            who = full_acct(booster.acct, self.facts.domain)
            notice += f" Likely cause: {clean_name(booster.display_name, booster.acct)} ({who}, "
            notice += f"{booster.followers_count} followers) boosted one of our posts."
        return notice

    def handle_command(self, event_id: int, event: DirectCommand) -> None:
        now = self.clock()
        approver = self.approvers.get(event.account.id)
        # Fail closed: only an approver's account id, only in a direct message.
        if approver is None or event.status.visibility != "direct":
            LOGGER.warning("ignoring a command-like event from %s", event.account.acct)
            self.store.finish_event(event_id, None, now)
            return
        command = parse_command(strip_leading_mentions(event.status.text))
        if command.verb in DIGEST_ACTIONS and not command.error:
            reply = self.act_on_digest(command, approver, event, now)
            self.store.finish_event(event_id, None, now)
            if reply:
                self.outbox.send_dm([approver.acct], reply, in_reply_to_id=event.status.id)
            return
        outcome = commands.execute(
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

    def act_on_digest(
        self, command: Command, approver: Approver, event: DirectCommand, now: datetime
    ) -> str | None:
        """`boost N`, `fav N`, `reply N <text>`: the command is the approval; the outbox acts once."""
        number = command.ids[0]
        item = digest.digest_item(self.store, number)
        if item is None:
            return f"[{number}]: no such item in the latest digest"
        resolved = digest.resolve_item(self.api, self.store, item, now)
        if resolved is None or resolved.status_id is None or resolved.account_id is None:
            return f"[{number}]: could not find that post from our instance"
        draft_id = self.store.save_draft(
            NewDraft(
                rule="digest",
                account_id=resolved.account_id,
                acct=resolved.acct,
                display_name=clean_name(resolved.display_name, resolved.acct),
                text=defang(command.text.strip()),
                template="",
                visibility="unlisted" if command.verb == "reply" else "public",
                in_reply_to_id=resolved.status_id,
                action=DIGEST_ACTIONS[command.verb],
                triage=0,
            ),
            now,
        )
        self.store.decide(draft_id, "approved", now=now, by=approver.acct, command_status_id=event.status.id)
        return None  # the outbox confirms once it has acted

    def expire_drafts(self) -> None:
        """Pending drafts past `approval.expire_after` expire; the approvers hear of it in the next DM."""
        now = self.clock()
        expired = self.store.expire_drafts(now - self.settings.approval.expire_after)
        if expired:
            earlier = self.store.get_state(EXPIRED_UNTOLD) or ""
            ids = " ".join(f"#{d.id}" for d in expired)
            self.store.set_state(EXPIRED_UNTOLD, f"{earlier} {ids}".strip())

    def announce(self, *, force: bool) -> None:
        """DM new drafts to the approvers: batched, triaged, within the hourly DM cap."""
        now = self.clock()
        drafts = sorted(self.store.drafts_to_announce(), key=lambda d: (d.triage, d.id))
        notices = [n for n in (self._spike_notice(now), self._expiry_notice()) if n]
        if not drafts and not notices:
            return
        last = self.store.get_state(LAST_DRAFT_DM)
        window: timedelta = self.settings.approval.batch_window
        if not force and last is not None and now - datetime.fromisoformat(last) < window:
            return  # inside the batch window: gather, send when it ends
        sent_lately = self.store.count_dms_since(now - timedelta(hours=1))
        # A backlog (after downtime, or a crowd) never floods: a few DMs now, the rest summarised.
        allowed = min(self.settings.approval.max_dms_per_hour - sent_lately, MAX_DMS_PER_ROUND)
        if allowed <= 0:
            return
        head = " ".join(f"@{a}" for a in self.approver_accts())
        blocks = [*notices, *(render.draft_block(d, self.facts.domain) for d in drafts)]
        owners = [None] * len(notices) + [d.id for d in drafts]  # the draft each block shows
        # Leave room for the "…and N more" line in the last message the cap allows.
        messages = render.compose(head, blocks, self.facts.char_limit - SUMMARY_ROOM)
        for number, (text, group) in enumerate(messages[:allowed], start=1):
            later = [owners[i] for _, g in messages[number:] for i in g] if number == allowed else []
            rest = [draft_id for draft_id in later if draft_id is not None]
            if rest:
                text += f'\n\n…and {len(rest)} more: send "list"'
            dm_id = self.outbox.send_dm([], text)
            if dm_id is None:
                return
            self.store.log_dm(now)
            self.store.mark_announced([o for i in group if (o := owners[i]) is not None], dm_id, now)
            # Summarised, not dropped: they stay pending and `list` shows them.
            self.store.mark_announced(rest, None, now)
        if notices:
            self.store.set_state(EXPIRED_UNTOLD, "")
            if self.store.get_state(SPIKE_NOTICE) == "pending":
                self.store.set_state(SPIKE_NOTICE, "sent")
        self.store.set_state(LAST_DRAFT_DM, now.isoformat())

    def _expiry_notice(self) -> str | None:
        ids = self.store.get_state(EXPIRED_UNTOLD)
        return f"Expired without a decision: {ids}" if ids else None

    def send_weekly_summary(self) -> None:
        text = digest.weekly_summary(self.store, self.clock(), self.facts.domain)
        for piece in _split(text, self.facts.char_limit - 40):
            self.outbox.send_dm(self.approver_accts(), piece)

    def approver_accts(self) -> list[str]:
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
    stopping = threading.Event()
    # One pacer for every thread that talks to the instance; it gives up waiting when we stop.
    pacer = Pacer(stop=stopping)
    return App(
        settings=settings,
        store=open_store(settings),
        api=connect(settings.mastodon.base_url, settings.mastodon.access_token, pacer=pacer),
        rules=rules.compile_rules(settings.rules),
        clock=clock,
        dry_run=dry_run,
        stopping=stopping,
    )


@dataclass
class ConfigWatch:
    """Reloads the config on SIGHUP (`requested`) or when the file changes; a broken one is refused."""

    path: Path
    load: Callable[[Path], Settings]
    requested: threading.Event = field(default_factory=threading.Event)
    _seen: float | None = None

    def _mtime(self) -> float | None:
        try:
            return self.path.stat().st_mtime_ns / 1e9
        except OSError:
            return None

    def __post_init__(self) -> None:
        self._seen = self._mtime()

    def poll(self, app: App) -> None:
        mtime = self._mtime()
        if not self.requested.is_set() and mtime == self._seen:
            return
        self.requested.clear()
        self._seen = mtime
        try:
            settings = self.load(self.path)
        except ConfigError as exc:
            LOGGER.error("config reload refused, the previous config stays: %s", "; ".join(exc.errors))
            shown = "\n".join(exc.errors[:5])
            app.outbox.send_dm(
                app.approver_accts(), f"Config reload refused; the previous config stays.\n{shown}"
            )
            return
        app.reload(settings)


def serve(app: App, watch: ConfigWatch | None = None, *, stream_timeout: float = 60.0) -> None:
    """The long-lived service: stream + poll until `app.stopping` is set, then close cleanly."""
    stop = app.stopping
    app.start()
    settings = app.settings
    inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
    wake = threading.Event()
    stream = None
    if settings.listener.streaming:
        stream = app.stream = Stream(app.api, StreamInbox(inbox, wake.set), timeout=stream_timeout)
        stream.open()
    scheduler = Scheduler(on_error=lambda exc: LOGGER.error("job failed: %s", exc))

    def request(kind: str) -> Callable[[], None]:
        def job() -> None:
            inbox.put((kind, None))
            wake.set()

        return job

    scheduler.every("catch-up poll", settings.listener.poll_interval, request("poll"))
    listen = settings.listen
    digest_at = f"{listen.digest_at:%H:%M}"
    scheduler.daily("listening digest", digest_at, request("digest"), timezone=settings.limits.timezone)
    scheduler.daily(
        "weekly summary",
        digest_at,
        request("weekly"),
        timezone=settings.limits.timezone,
        day=listen.weekly_on,
    )
    scheduler.start()
    inbox.put(("poll", None))  # the first cycle catches up on what happened while we were away
    try:
        while not stop.is_set():
            if stream is not None:
                stream.watchdog()
            if watch is not None:
                watch.poll(app)
            try:
                _drain(app, inbox)
                app.work()
            except MastodonError as exc:
                LOGGER.warning("cycle interrupted: %s", exc)
            except Exception:  # a bug must not take the service down; the event stays unhandled
                LOGGER.exception("cycle failed")
            app.store.beat(app.clock())
            wake.wait(timeout=1.0)
            wake.clear()
    finally:
        scheduler.shutdown()
        if stream is not None:
            stream.close()
    LOGGER.info("stopped")


def _drain(app: App, inbox: queue.Queue[tuple[str, Any]]) -> None:
    catch_up = check_replies = False
    while True:
        try:
            kind, data = inbox.get_nowait()
        except queue.Empty:
            break
        if kind in ("poll", "reconnected"):
            catch_up = True
            check_replies = check_replies or kind == "poll"
        elif kind == "digest":
            digest.send_digest(app, app.clock())
        elif kind == "weekly":
            app.send_weekly_summary()
        else:
            app.listener.record(kind, data)
    try:
        if catch_up:
            app.catch_up()
        if check_replies:
            app.sync_our_posts()
            app.listener.check_replies()
    except MastodonError as exc:
        LOGGER.warning("catch-up failed (%s); will retry at the next poll", exc)
