"""Service (listen): instance pages and stream payloads into the store, each notification recorded once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from bot.instance import InstanceError
from bot.instance.convert import to_event, to_quote, to_reply
from bot.instance.reader import Reader
from bot.model import Event
from bot.store import Store, StoreError

LOGGER = logging.getLogger(__name__)
# A first start on an account with no notifications reads everything after this forward.
START_CURSOR = "0"
REPLY_CHECK_WINDOW = timedelta(days=7)
REPLY_CHECK_EVERY = timedelta(hours=1)
REPLY_CHECK_MAX_POSTS = 20


class Listener:
    """Records what the instance tells us. Called by the serve loop and `App.cycle`."""

    def __init__(
        self,
        reader: Reader,
        store: Store,
        *,
        self_id: str,
        approver_ids: frozenset[str],
        clock: Callable[[], datetime],
    ) -> None:
        self.reader = reader
        self.store = store
        self.self_id = self_id
        self.approver_ids = approver_ids
        self.clock = clock
        self._lock = threading.Lock()  # one catch-up at a time (poll job, reconnects)
        self._context_checked: dict[str, datetime] = {}
        # Reply counts the link-love sync read this cycle: a post just seen with none needs no thread read.
        self.fresh_reply_counts: dict[str, int] = {}
        self._quotes_checked: dict[str, datetime] = {}
        # … and quote counts (4.5+ statuses carry `quotes_count`; older ones do not, and are read).
        self.fresh_quote_counts: dict[str, int] = {}

    def convert(self, kind: str, data: Mapping[str, Any]) -> Event | None:
        """A stream or poll payload as our event (None for what we do not listen to)."""
        if kind == "notification":
            return to_event(data, self_id=self.self_id, approver_ids=self.approver_ids)
        if kind == "update":
            return to_reply(data, self_id=self.self_id)
        return None

    def record(self, kind: str, data: Mapping[str, Any]) -> bool:
        """Record one stream payload; raises StoreError (the caller keeps the payload and retries)."""
        event = self.convert(kind, data)
        return event is not None and self.store.record_event(event, self.clock())

    def catch_up(self, on_page: Callable[[int], None] | None = None) -> int:
        """Page forward from the stored cursor until nothing is newer; returns events recorded.

        The next page is read while this one is recorded and `on_page` (called with the number of new
        events) works on it: a backlog costs the instance's time or ours, not the sum of both.
        """
        recorded = 0
        with self._lock:
            if self.store.get_cursor() is None:
                return self._start_from_now(on_page)
        with self._lock, ThreadPoolExecutor(1, thread_name_prefix="catch-up") as ahead:
            cursor = self.store.get_cursor() or START_CURSOR
            pending = ahead.submit(self.reader.notifications_after, cursor)
            while True:
                page = pending.result()
                if not page:
                    break
                cursor = str(page[0]["id"])  # pages come newest first
                pending = ahead.submit(self.reader.notifications_after, cursor)
                # Recorded oldest first, so drafts follow the order of events.
                events = [self.convert("notification", n) for n in reversed(page)]
                fresh = self.store.record_events(
                    [e for e in events if e is not None], self.clock(), cursor=cursor
                )
                recorded += fresh
                if on_page is not None:
                    # Recording must not wait on drafting: the dispatcher retries what failed.
                    try:
                        on_page(fresh)
                    except (InstanceError, StoreError) as exc:
                        LOGGER.warning("working on a caught-up page stopped (%s); recording the rest", exc)
                        on_page = None
        if recorded:
            LOGGER.info("caught up: %d new events", recorded)
        return recorded

    def _start_from_now(self, on_page: Callable[[int], None] | None) -> int:
        """A first run: the newest page only, drafted as usual; what is older is history, recorded later in
        the background (bot/service/backfill.py) and never drafted. Nothing more is read now: what
        arrives meanwhile comes with the stream or the next poll, after the cursor this page leaves."""
        page = self.reader.newest_notifications()
        if not page:
            self.store.set_cursor(START_CURSOR)  # no history: from now on, everything is new
            return 0
        events = [self.convert("notification", n) for n in reversed(page)]
        fresh = self.store.record_events(
            [e for e in events if e is not None],
            self.clock(),
            cursor=str(page[0]["id"]),
            history_before=str(page[-1]["id"]),
        )
        LOGGER.info("first run: %d newest events recorded; older ones are read in the background", fresh)
        if on_page is not None:
            try:
                on_page(fresh)
            except (InstanceError, StoreError) as exc:
                LOGGER.warning("working on the first page stopped (%s); the dispatcher retries", exc)
        return fresh

    def check_replies(self, *, max_posts: int = REPLY_CHECK_MAX_POSTS) -> int:
        """Replies that did not mention us raise no notification: read the threads of our recent posts.

        Bounded: posts of the last week, each at most once an hour, a few per call.
        """
        now = self.clock()
        unanswered, self.fresh_reply_counts = self.fresh_reply_counts, {}
        due = self._due_posts(now, self._context_checked, unanswered)
        recorded = 0
        for status_id in due[:max_posts]:
            self._context_checked[status_id] = now
            try:
                replies = self.reader.direct_replies(status_id)
            except InstanceError as exc:
                LOGGER.info("could not read the thread of %s: %s", status_id, exc)
                continue
            for status in replies:
                recorded += self.record("update", status)
        return recorded

    def check_quotes(self, *, max_posts: int = REPLY_CHECK_MAX_POSTS) -> int:
        """The safety net under the `quote` notification (4.5+): the quotes of our recent posts.

        A quote read here and the same quote notified are one event ("quote:<status id>"). Bounded like
        the reply check: posts of the last week, each at most once an hour, a few per call.
        """
        now = self.clock()
        unquoted, self.fresh_quote_counts = self.fresh_quote_counts, {}
        recorded = 0
        for status_id in self._due_posts(now, self._quotes_checked, unquoted)[:max_posts]:
            self._quotes_checked[status_id] = now
            try:
                quotes = self.reader.quotes_of(status_id)
            except InstanceError as exc:  # a deleted post, or a server before 4.5
                LOGGER.info("could not read the quotes of %s: %s", status_id, exc)
                continue
            for status in quotes:
                event = to_quote(status, self_id=self.self_id, our_status_id=status_id)
                recorded += event is not None and self.store.record_event(event, self.clock())
        return recorded

    def _due_posts(
        self, now: datetime, checked: dict[str, datetime], fresh_counts: dict[str, int]
    ) -> list[str]:
        """Our posts of the last week not checked within the hour, but those just read with a count of 0."""
        since = now - REPLY_CHECK_WINDOW
        # Our posts as the store knows them: made through Frontrow, or read back from our profile
        # (the people behind the account write too) by the link-love sync; no request of its own.
        ours = self.store.sent_status_ids_since(since) + self.store.our_post_ids_since(since)
        never = datetime.min.replace(tzinfo=now.tzinfo)
        return [
            status_id
            for status_id in dict.fromkeys(ours)
            if now - checked.get(status_id, never) >= REPLY_CHECK_EVERY and fresh_counts.get(status_id) != 0
        ]
