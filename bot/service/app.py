"""Service (app): `build_app` wires every stage from the validated settings; `App` holds them together."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from bot.config import Approver, Settings
from bot.core import rules
from bot.core.render import full_acct
from bot.instance import InstanceError, NotFound, Unauthorized
from bot.instance.client import InstanceFacts, Pacer, connect
from bot.instance.reader import Reader
from bot.instance.stream import Stream
from bot.instance.writer import Writer
from bot.listening import digest
from bot.listening.followers import FollowerWatch
from bot.listening.shares import ShareWatch
from bot.model import Account, Event
from bot.service.announce import Announcer
from bot.service.backfill import HISTORY_SHARE, PAGES_PER_CYCLE, History
from bot.service.dispatch import CommandLane, Dispatcher, Handler, record_only
from bot.service.drafting import Drafter
from bot.service.listen import Listener
from bot.service.notices import InstanceNotices
from bot.service.outbox import Outbox
from bot.store import Store, utcnow
from bot.store.ledger import DigestItem
from bot.store.state import EXPIRED_UNTOLD, Lease

LOGGER = logging.getLogger(__name__)
DRAFTED_KINDS = ("follow", "follow_request", "mention", "reply", "reblog", "favourite", "share", "quote")
# A lease not renewed for this long is free: a service killed on another machine blocks nobody for
# longer. On the same machine a lease whose process is gone is free at once.
LEASE_FOR = timedelta(minutes=5)


@dataclass(frozen=True)
class SentDigest:
    items: list[DigestItem]
    messages: int  # how many DMs the digest needed
    sent: int  # how many went out

    @property
    def digest_id(self) -> int:
        return self.items[0].digest_id if self.items else 0


class StartupError(Exception):
    """The instance refused us at start-up (bad token, unknown approver): a config problem."""


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """The store, migrated, seeing the rows of the account this config signs in as.

    Raises StoreOpenError (one line naming `store.url`) when it cannot be opened.
    """
    store = Store.open(settings.store.url, migrate=migrate)
    store.owner = store.find_owner(settings.mastodon.base_url, settings.mastodon.access_token)
    return store


@dataclass
class App:
    """Every stage, wired by `build_app`. `start()` is the first contact with the instance; the stages
    that need what it learns (our id, the approvers, the instance's limits) are made there."""

    settings: Settings
    store: Store
    api: Any  # the one paced Mastodon.py client (bot.instance.client.connect)
    rules: tuple[rules.Rule, ...]
    clock: Callable[[], datetime] = utcnow
    dry_run: bool = False
    stopping: threading.Event = field(default_factory=threading.Event)  # set by stop() (SIGTERM/SIGINT)
    on_stop: list[Callable[[], None]] = field(default_factory=list)  # wakes whoever waits (the serve loop)
    stream: Stream | None = None
    me: Account | None = None
    approvers: dict[str, Approver] = field(default_factory=dict)  # account id → approver
    facts: InstanceFacts = field(default_factory=lambda: InstanceFacts("localhost", 500))
    _parts: dict[str, Any] = field(default_factory=dict)
    holder: str = field(default_factory=lambda: uuid4().hex)  # this run's name in the store's lease
    _lease: Lease | None = None  # as this run last wrote it
    # Approvers (account id → acct) who do not follow the bot: our DMs may land in their filtered
    # notifications (4.3+). Told once, in the next DM, then cleared.
    unfollowing: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        """Stop soon: nothing new is sent, the request in flight finishes, the waiting loop wakes now."""
        self.stopping.set()
        for wake in self.on_stop:
            wake()

    # --- start-up -----------------------------------------------------------

    def start(self, *, hold: bool = False) -> None:
        """Check the token, resolve approvers to ids and follow them, read the instance's limits.

        With `hold` (the service, `frontrow run`), first take the account's lease on the store, so
        two services never work for one account on one store; StartupError names the holder."""
        reader = Reader(self.api)
        try:
            me = reader.me()
        except Unauthorized as exc:
            raise StartupError("mastodon.access_token: the instance refused the token (401)") from exc
        self.me = me
        self.facts = reader.facts(self.settings.mastodon.base_url)
        self._read_filtered(reader)
        # Several bot accounts may share one database: this one's rows carry its user@instance.
        mastodon = self.settings.mastodon
        self.store.claim(
            f"{me.username}@{self.facts.domain}", mastodon.base_url, mastodon.access_token, self.clock()
        )
        if hold:
            self.hold_lease()
        identity = self.store.identity(self.clock())
        self.approvers = self.resolve_approvers(self.settings.approval.approvers, reader)
        writer = Writer(self.api, char_limit=self.facts.char_limit)
        self._follow_approvers(reader, writer)
        announcer = Announcer(
            writer,
            self.store,
            clock=self.clock,
            approval=self.settings.approval,
            domain=self.facts.domain,
            char_limit=self.facts.char_limit,
            approvers=self.approver_accts,
        )
        drafter = Drafter(
            self.store,
            reader,
            settings=lambda: self.settings,
            compiled=lambda: self.rules,
            self_id=me.id,
            domain=self.facts.domain,
            char_limit=self.facts.char_limit,
        )
        lane = CommandLane(
            self.store,
            announcer,
            approvers=lambda: self.approvers,
            domain=self.facts.domain,
            dry_run=self.dry_run,
            resolve=self._resolve_item,
            commands_since=identity.commands_since,
        )
        history_reader = Reader(self._history_api())
        history_reader.include_filtered = reader.include_filtered  # the history has filtered ones too
        notices = InstanceNotices(
            self.store, announcer, max_event_age=lambda: self.settings.listener.max_event_age
        )
        handlers: dict[str, Handler] = {kind: self._draft for kind in DRAFTED_KINDS}
        handlers |= {
            "command": lane.handle,
            "moderation_warning": notices.moderation_warning,
            "severed_relationships": notices.severed,
            "other": record_only(self.store),
        }
        dispatcher = Dispatcher(self.store, self.clock, handlers, rounds=[(drafter.begin, drafter.end)])
        announcer.notices = [
            self._unfollowing_notice,
            notices.notice,
            drafter.spike_notice,
            self._expiry_notice,
            dispatcher.quarantine_notice,
        ]
        announcer.sent_notices = [
            self.unfollowing.clear,
            notices.told,
            drafter.spike_told,
            self._expiry_told,
            dispatcher.quarantine_told,
        ]
        self._parts = {
            "reader": reader,
            "writer": writer,
            "announcer": announcer,
            "drafter": drafter,
            "dispatcher": dispatcher,
            "listener": Listener(
                reader, self.store, self_id=me.id, approver_ids=frozenset(self.approvers), clock=self.clock
            ),
            "followers": FollowerWatch(
                reader,
                self.store,
                me_id=me.id,
                every=lambda: self.settings.listen.followers_every,
                clock=self.clock,
            ),
            "history": History(
                history_reader,
                self.store,
                self_id=me.id,
                approver_ids=lambda: frozenset(self.approvers),
                clock=self.clock,
            ),
            "shares": ShareWatch(
                reader, self.store, me_id=me.id, settings=lambda: self.settings, clock=self.clock
            ),
            "outbox": Outbox(
                writer,
                reader,
                self.store,
                announcer,
                clock=self.clock,
                limits=self.settings.limits,
                self_id=me.id,
                store_id=identity.store_id,
                dry_run=self.dry_run,
                stopping=self.stopping,
            ),
        }
        LOGGER.info("signed in as %s; %d approver(s)", me.acct, len(self.approvers))

    def hold_lease(self) -> None:
        """Take or renew the account's lease on the store; StartupError when another service has it.
        Called at start and with every heartbeat (then a single UPDATE while nobody else took it)."""
        now = self.clock()
        if self._lease is not None:
            renewed = replace(self._lease, expires=now + LEASE_FOR)
            if self.store.renew_lease(self._lease, renewed):
                self._lease = renewed
                return
        mine = Lease(self.holder, os.getpid(), socket.gethostname(), now, now + LEASE_FOR)
        held = self.store.take_lease(mine, now, stale=_process_gone)
        if held.holder != self.holder:
            self._lease = None
            raise StartupError(
                f"already running (pid {held.pid} on {held.host}, since {held.since:%Y-%m-%d %H:%M} UTC):"
                " one service per account and store"
            )
        self._lease = held

    def release_lease(self) -> None:
        """At a clean stop: the next start need not wait for the lease to expire."""
        if self._lease is not None:
            self.store.release_lease(self.holder)
            self._lease = None

    def resolve_approvers(
        self, approvers: tuple[Approver, ...], reader: Reader | None = None
    ) -> dict[str, Approver]:
        """Approvers by account id; raises StartupError naming one the instance does not know."""
        reader = reader or self.reader
        resolved: dict[str, Approver] = {}
        for approver in approvers:
            local, _, domain = approver.acct.partition("@")
            # An approver on the bot's own instance is looked up by the bare name.
            lookup = local if domain in ("", self.facts.domain) else approver.acct
            try:
                resolved[reader.account_id(lookup)] = approver
            except NotFound as exc:
                raise StartupError(
                    f"approval.approvers: {approver.acct} was not found on the instance"
                ) from exc
        return resolved

    def _follow_approvers(self, reader: Reader, writer: Writer) -> None:
        """Mastodon 4.3+ hides private mentions from accounts one does not follow, both ways: we follow
        the approvers (their commands reach us), and an approver who does not follow us is told."""
        try:
            for relationship in reader.relationships(list(self.approvers)):
                if not relationship.following and not relationship.requested:
                    writer.follow(relationship.account_id)
                    LOGGER.info("following approver %s so their DMs reach us", relationship.account_id)
                approver = self.approvers.get(relationship.account_id)
                if relationship.followed_by or approver is None:
                    self.unfollowing.pop(relationship.account_id, None)
                elif relationship.account_id not in self.unfollowing:
                    self.unfollowing[relationship.account_id] = approver.acct
                    LOGGER.warning(
                        "approver %s does not follow %s: on Mastodon 4.3+ our DMs may land in their "
                        "filtered notifications; they should follow it (or relax their notification policy)",
                        approver.acct,
                        self._my_acct(),
                    )
        except InstanceError as exc:
            LOGGER.warning("could not follow the approvers (%s); their DMs may be filtered", exc)

    def _my_acct(self) -> str:
        return full_acct(self.me.acct, self.facts.domain) if self.me is not None else "the bot account"

    def _unfollowing_notice(self, now: datetime) -> str | None:
        if not self.unfollowing:
            return None
        names = ", ".join(full_acct(acct, self.facts.domain) for acct in self.unfollowing.values())
        return (
            f"{names}: you do not follow {self._my_acct()}, so Mastodon 4.3+ may put these DMs in your "
            "filtered notifications. Fix: follow it, or stop filtering private mentions in your "
            "notification settings."
        )

    def _read_filtered(self, reader: Reader) -> None:
        """On 4.3+ read the notifications the account's policy holds back too; on older servers there is
        no policy and the plain read is everything."""
        if not self.facts.filters_notifications:
            LOGGER.info("the instance has no notification policies (before Mastodon 4.3): plain reads")
            return
        reader.include_filtered = True
        policy = reader.notification_policy()
        held = sorted(name for name, value in (policy or {}).items() if value == "filter")
        # A server that does not mark what it filtered is compared page by page; not needed if nothing is.
        reader.compare_filtered = policy is None or bool(held)
        if held:
            LOGGER.info(
                "notification policy filters %s: Frontrow reads those too and marks their drafts",
                ", ".join(held),
            )

    def _history_api(self) -> Any:
        """A client for the history backfill that waits on a share of the one pacer (HISTORY_SHARE)."""
        pacer = getattr(getattr(self.api, "session", None), "pacer", None)
        if not isinstance(pacer, Pacer):
            return self.api
        mastodon = self.settings.mastodon
        return connect(mastodon.base_url, mastodon.access_token, pacer=pacer.share(HISTORY_SHARE))

    def reload(self, settings: Settings) -> list[str]:
        """Take a new, valid config: rules, limits and approvers from the next event on.

        Raises StartupError, and changes nothing, when a new approver cannot be found. Returns the
        sections that only a restart applies (the store and the account), changed in the file.
        """
        approvers = self.approvers
        if settings.approval.approvers != self.settings.approval.approvers:
            approvers = self.resolve_approvers(settings.approval.approvers)
        compiled = rules.compile_rules(settings.rules)
        restart = [
            name for name in ("mastodon", "store") if getattr(settings, name) != getattr(self.settings, name)
        ]
        self.settings = settings.model_copy(update={name: getattr(self.settings, name) for name in restart})
        self.rules = compiled
        self.outbox.limits = self.settings.limits
        self.announcer.approval = self.settings.approval
        if approvers is not self.approvers:
            self.approvers = approvers
            self._follow_approvers(self.reader, self.writer)
            self.listener.approver_ids = frozenset(approvers)
        LOGGER.info("config reloaded: %d rule(s)", len(self.rules))
        return restart

    # --- the stages, once started ----------------------------------------------

    def _part(self, name: str) -> Any:
        assert name in self._parts, "start() first"
        return self._parts[name]

    @property
    def reader(self) -> Reader:
        return self._part("reader")

    @property
    def writer(self) -> Writer:
        return self._part("writer")

    @property
    def listener(self) -> Listener:
        return self._part("listener")

    @property
    def outbox(self) -> Outbox:
        return self._part("outbox")

    @property
    def announcer(self) -> Announcer:
        return self._part("announcer")

    @property
    def drafter(self) -> Drafter:
        return self._part("drafter")

    @property
    def dispatcher(self) -> Dispatcher:
        return self._part("dispatcher")

    @property
    def history(self) -> History:
        return self._part("history")

    def approver_accts(self) -> list[str]:
        return [a.acct for a in self.approvers.values()]

    # --- one cycle (also what `frontrow run --once` does) ------------------------

    def cycle(self, *, force_dms: bool = True) -> None:
        """One full cycle: catch up, handle events and commands, send draft DMs, post approved drafts."""
        self.catch_up()
        self.sync_our_posts()
        self.listener.check_replies()  # reads the posts the sync just stored
        self.listener.check_quotes()
        self.snapshot_followers()
        self.find_shares()
        self.work(force_dms=force_dms)
        self.backfill_history(PAGES_PER_CYCLE)  # after the DMs: a first run's drafts never wait on it

    def backfill_history(self, max_pages: int) -> int:
        """A few pages of a first run's older history into the ledger (never drafted)."""
        try:
            return self.history.step(max_pages)
        except InstanceError as exc:
            LOGGER.warning("history backfill paused (%s); it resumes next time", exc)
            return 0

    def catch_up(self) -> int:
        """Read what happened since the cursor; each page is handled while the next one is on its way."""

        def on_page(fresh: int) -> None:
            if fresh:
                self.dispatcher.run()

        return self.listener.catch_up(on_page=on_page)

    def sync_our_posts(self) -> None:
        """Our own recent posts, for the link-love ratio (rate-limited inside), the reply and quote checks."""
        assert self.me is not None
        replies: dict[str, int] = {}
        quotes: dict[str, int] = {}
        digest.sync_our_posts(
            self.reader, self.store, self.me.id, self.clock(), replies_seen=replies, quotes_seen=quotes
        )
        self.listener.fresh_reply_counts = replies
        self.listener.fresh_quote_counts = quotes

    def snapshot_followers(self) -> None:
        """A slice of the followers scan when one is due (who left is only seen by comparing lists)."""
        self._part("followers").step()

    def find_shares(self) -> int:
        """Posts in our timelines linking to our sites or naming us become share events (every 5 minutes)."""
        return int(self._part("shares").step())

    def work(self, *, force_dms: bool = False) -> None:
        """Everything after listening: decide, ask, post."""
        self.dispatcher.run()
        self.expire_drafts()
        self.announcer.announce(force=force_dms)
        if not self.store.is_paused():
            self.outbox.flush()

    def _draft(self, event_id: int, event: Event, now: datetime) -> None:
        self.drafter.handle(event_id, event, now)

    def _resolve_item(self, item: DigestItem, now: datetime) -> DigestItem | None:
        return digest.resolve_item(self.reader, self.store, item, now)

    def expire_drafts(self) -> None:
        """Pending drafts past `approval.expire_after` expire; the approvers hear of it in the next DM."""
        expired = self.store.expire_drafts(self.clock() - self.settings.approval.expire_after)
        if expired:
            earlier = self.store.get(EXPIRED_UNTOLD) or ()
            self.store.put(EXPIRED_UNTOLD, (*earlier, *(d.id for d in expired)))

    def _expiry_notice(self, now: datetime) -> str | None:
        ids = self.store.get(EXPIRED_UNTOLD)
        return "Expired without a decision: " + " ".join(f"#{i}" for i in ids) if ids else None

    def _expiry_told(self) -> None:
        self.store.clear(EXPIRED_UNTOLD)

    def send_digest(self, now: datetime) -> SentDigest:
        """Collect a digest and DM it to the approvers now (nothing is sent when nothing is new)."""
        assert self.me is not None, "start() first"
        items = digest.collect_digest(
            self.reader, self.store, self.settings, self.me.id, now, never=self._never_digested()
        )
        if not items:
            LOGGER.info("digest: nothing new to bring to the approvers")
            return SentDigest([], 0, 0)
        # The writer puts the approvers' mentions in front of each DM.
        messages = digest.digest_messages(items, [], self.facts.domain, self.announcer.room)
        sent = 0
        for text in messages:
            if self.announcer.send(self.approver_accts(), text, kind="notice") is None:
                break  # the announcer logged why; the items stay stored, so `boost N` still works
            sent += 1
        LOGGER.info(
            "digest #%d: %d item(s) in %d of %d DM(s)", items[0].digest_id, len(items), sent, len(messages)
        )
        return SentDigest(items, len(messages), sent)

    def _never_digested(self) -> set[str]:
        """The approvers and ourselves, as account ids and accts (local and in full): their own posts are
        no one else's to boost or answer, and we follow the approvers, so home shows them."""
        assert self.me is not None
        domain = self.facts.domain
        accts = [self.me.acct, *(a.acct for a in self.approvers.values())]
        local = {acct.removesuffix(f"@{domain}") for acct in accts}
        full = {f"{acct}@{domain}" for acct in local if "@" not in acct}
        return {self.me.id, *self.approvers, *local, *full}

    def send_weekly_summary(self) -> None:
        self.announcer.tell_all(
            digest.weekly_summary(self.store, self.clock(), self.facts.domain, self.settings.limits.tz)
        )


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


def _process_gone(lease: Lease) -> bool:
    """A lease taken on this machine by a process that no longer runs (or by this very process, as an
    earlier run in it or a restarted container's pid 1) is free."""
    if lease.host != socket.gethostname():
        return False
    if lease.pid == os.getpid():
        return True
    try:
        os.kill(lease.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False
