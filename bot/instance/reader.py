"""Listener: the only reader of Mastodon — min_id catch-up plus the user stream, both into the store."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from mastodon import Mastodon, MastodonError
from mastodon.streaming import StreamListener

from bot.instance.convert import to_event, to_reply
from bot.model import Event
from bot.store import Store

LOGGER = logging.getLogger(__name__)
PAGE_SIZE = 80  # Mastodon's maximum page of notifications
# A first start reads the whole history forward; old events are recorded, never drafted for.
START_CURSOR = "0"
REPLY_CHECK_WINDOW = timedelta(days=7)
REPLY_CHECK_EVERY = timedelta(hours=1)
REPLY_CHECK_MAX_POSTS = 20


class Listener:
    """Turns notifications into recorded events. Only `catch_up` and the stream call Mastodon."""

    def __init__(
        self,
        api: Mastodon,
        store: Store,
        *,
        self_id: str,
        approver_ids: frozenset[str],
        clock: Callable[[], datetime],
    ) -> None:
        self.api = api
        self.store = store
        self.self_id = self_id
        self.approver_ids = approver_ids
        self.clock = clock
        self._lock = threading.Lock()  # one catch-up at a time (poll job, reconnects)
        self._context_checked: dict[str, datetime] = {}
        # Reply counts the link-love sync read this cycle: a post just seen with none needs no thread read.
        self.fresh_reply_counts: dict[str, int] = {}

    def convert(self, kind: str, data: Mapping[str, Any]) -> Event | None:
        """A stream or poll payload as our event (None for what we do not listen to)."""
        if kind == "notification":
            return to_event(data, self_id=self.self_id, approver_ids=self.approver_ids)
        if kind == "update":
            return to_reply(data, self_id=self.self_id)
        return None

    def record(self, kind: str, data: Mapping[str, Any]) -> bool:
        event = self.convert(kind, data)
        return event is not None and self.store.record_event(event, self.clock())

    def catch_up(self, on_page: Callable[[int], None] | None = None) -> int:
        """Page forward from the stored cursor until nothing is newer; returns events recorded.

        The next page is read while this one is recorded and `on_page` (called with the number of new
        events) works on it: a backlog costs the instance's time or ours, not the sum of both.
        """
        recorded = 0
        with self._lock, ThreadPoolExecutor(1, thread_name_prefix="catch-up") as ahead:
            cursor = self.store.get_cursor() or START_CURSOR
            pending = ahead.submit(self._page_after, cursor)
            while True:
                page = pending.result()
                if not page:
                    break
                cursor = str(page[0]["id"])  # pages come newest first
                pending = ahead.submit(self._page_after, cursor)
                # Recorded oldest first, so drafts follow the order of events.
                events = [self.convert("notification", n) for n in reversed(page)]
                fresh = self.store.record_events(
                    [e for e in events if e is not None], self.clock(), cursor=cursor
                )
                recorded += fresh
                if on_page is not None:
                    # Recording must not wait on drafting: what failed is retried by the next round.
                    try:
                        on_page(fresh)
                    except MastodonError as exc:  # e.g. a confirmation DM the instance refused
                        LOGGER.warning("working on a caught-up page stopped (%s); recording the rest", exc)
                        on_page = None
                    except Exception:
                        LOGGER.exception("working on a caught-up page failed; recording the rest")
                        on_page = None
        if recorded:
            LOGGER.info("caught up: %d new events", recorded)
        return recorded

    def _page_after(self, cursor: str) -> list[Any]:
        return list(self.api.notifications(min_id=cursor, limit=PAGE_SIZE))

    def silenced(self) -> frozenset[str]:
        """Ids of the accounts we block or mute: never drafted for. Two requests, not one per person."""
        ids: set[str] = set()
        for listing in (self.api.blocks, self.api.mutes):
            try:
                page = listing(limit=80)
                while page:
                    ids.update(str(account["id"]) for account in page)
                    page = self.api.fetch_next(page)
            except MastodonError as exc:  # e.g. a token without read:blocks / read:mutes
                LOGGER.warning("could not read whom we block or mute (%s); assuming nobody", exc)
        return frozenset(ids)

    def check_replies(self, *, max_posts: int = REPLY_CHECK_MAX_POSTS) -> int:
        """Replies that did not mention us raise no notification: read the threads of our recent posts.

        Bounded: posts of the last week, each at most once an hour, a few per call.
        """
        now = self.clock()
        since = now - REPLY_CHECK_WINDOW
        # Our posts as the store knows them: made through Frontrow, or read back from our profile
        # (the people behind the account write too) by the link-love sync; no request of its own.
        ours = self.store.sent_status_ids_since(since) + self.store.our_post_ids_since(since)
        never = datetime.min.replace(tzinfo=now.tzinfo)
        unanswered, self.fresh_reply_counts = self.fresh_reply_counts, {}
        due = [
            status_id
            for status_id in dict.fromkeys(ours)
            if now - self._context_checked.get(status_id, never) >= REPLY_CHECK_EVERY
            and unanswered.get(status_id) != 0
        ]
        recorded = 0
        for status_id in due[:max_posts]:
            self._context_checked[status_id] = now
            try:
                context = self.api.status_context(status_id)
            except MastodonError as exc:
                LOGGER.info("could not read the thread of %s: %s", status_id, exc)
                continue
            for status in context.get("descendants") or []:
                if str(status.get("in_reply_to_id")) == status_id:
                    recorded += self.record("update", status)
        return recorded


class StreamInbox(StreamListener):
    """User-stream handlers: they only enqueue (no work on the socket thread)."""

    def __init__(self, inbox: queue.Queue[tuple[str, Any]], wake: Callable[[], None]) -> None:
        super().__init__()
        self.inbox = inbox
        self.wake = wake
        self.last_seen = time.monotonic()
        self.handle: Any = None  # set by Stream.open
        # Mastodon.py reconnects silently (not every drop reaches on_abort): a new connection object
        # seen alive is a reconnect, and the first connect counts as one too. Catch up then.
        self._connection: Any = None

    def _put(self, kind: str, data: Any) -> None:
        self.inbox.put((kind, data))
        self.wake()

    def _alive(self) -> None:
        self.last_seen = time.monotonic()
        connection = getattr(self.handle, "connection", None)
        if connection is not None and connection is not self._connection:
            self._connection = connection
            self._put("reconnected", None)

    def on_any_event(self, name: str, data: Any = None, for_stream: Any = None) -> None:
        self._alive()

    def handle_heartbeat(self) -> None:
        self._alive()

    def on_notification(self, notification: Any) -> None:
        self._put("notification", notification)

    def on_update(self, status: Any) -> None:
        self._put("update", status)

    def on_abort(self, err: Exception) -> None:
        LOGGER.warning("stream interrupted (%s); reconnecting", err)

    def on_unknown_event(self, name: str, unknown_event: Any = None) -> None:
        LOGGER.debug("ignoring stream event %s", name)


class Stream:
    """The user stream with a watchdog: silent for 2 × timeout (no event, no heartbeat) → reconnect."""

    def __init__(
        self, api: Mastodon, inbox: StreamInbox, *, timeout: float = 60.0, reconnect_wait: float = 5.0
    ):
        self.api = api
        self.inbox = inbox
        self.timeout = timeout
        self.reconnect_wait = reconnect_wait
        self.handle: Any = None

    def open(self) -> None:
        self.inbox.last_seen = time.monotonic()
        try:
            self.handle = self.api.stream_user(
                self.inbox,
                run_async=True,
                reconnect_async=True,
                reconnect_async_wait_sec=self.reconnect_wait,
                timeout=self.timeout,
            )
        except MastodonError as exc:
            LOGGER.warning("could not open the user stream (%s); polling until it opens", exc)
            self.handle = None
        self.inbox.handle = self.handle

    def watchdog(self) -> None:
        """Reopen a stream whose thread died (Mastodon.py lets some errors end it) or that went silent."""
        if self.handle is not None and not self.handle.is_alive():
            LOGGER.warning("the stream's thread ended; reconnecting")
        elif time.monotonic() - self.inbox.last_seen > 2 * self.timeout:
            LOGGER.warning("the stream has been silent for %.0fs; reconnecting", 2 * self.timeout)
        else:
            return
        self.close()
        self.open()

    def close(self) -> None:
        if self.handle is not None:
            try:
                self.handle.close()
            except Exception as exc:  # closing a dead socket must not stop the shutdown
                LOGGER.debug("closing the stream: %s", exc)
            self.handle = None
