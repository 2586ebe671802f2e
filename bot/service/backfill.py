"""Service (backfill): a first run's older notification history, read into the ledger in the background.

A first run drafts from the newest page (bot/service/listen.py) and leaves `history_before` in the
store. `History` pages backward from there through its own reader, whose client waits on a share of
the one pacer (HISTORY_SHARE of the rate limit), and records each page as already handled: the ledger
counts it, nothing is drafted, no DM in it is run as a command. Called by `App.cycle` (a few pages
per cycle, for `run --once`) and by the serve loop's background thread (`run`) until it is done.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from bot.instance import InstanceError
from bot.instance.convert import to_event
from bot.instance.reader import Reader
from bot.store import Store, StoreError
from bot.store.state import HISTORY_BEFORE, HISTORY_DONE

LOGGER = logging.getLogger(__name__)
HISTORY_SHARE = 0.2  # of the instance's rate limit (300 requests / 5 min): the foreground keeps the rest
PAGES_PER_CYCLE = 5  # `run --once`: a cron job running it often still leaves the budget to the rest
LOG_EVERY = 25  # pages between progress lines
RETRY_AFTER = 60.0  # seconds, after the instance failed a page


class History:
    """Reads the older history a page at a time; `step` is cheap (two state reads) when nothing is due."""

    def __init__(
        self,
        reader: Reader,
        store: Store,
        *,
        self_id: str,
        approver_ids: Callable[[], frozenset[str]],
        clock: Callable[[], datetime],
    ) -> None:
        self.reader = reader  # over a client paced by `Pacer.share(HISTORY_SHARE)`
        self.store = store
        self.self_id = self_id
        self.approver_ids = approver_ids
        self.clock = clock
        self._pages = 0

    def due(self) -> bool:
        return self.store.get(HISTORY_DONE) is None and self.store.get(HISTORY_BEFORE) is not None

    def step(self, max_pages: int) -> int:
        """Read and record up to `max_pages` older pages; returns how many pages were read."""
        read = 0
        while read < max_pages:
            before = self.store.get(HISTORY_BEFORE)
            if before is None or self.store.get(HISTORY_DONE) is not None:
                break
            page = self.reader.notifications_before(before)
            read += 1
            self._pages += 1
            approvers = self.approver_ids()
            events = [
                e
                for e in (to_event(n, self_id=self.self_id, approver_ids=approvers) for n in reversed(page))
                if e is not None
            ]
            self.store.record_history(events, self.clock(), before=str(page[-1]["id"]) if page else None)
            if not page:
                self._log("complete")
                break
            if self._pages % LOG_EVERY == 0:
                self._log("in progress")
        return read

    def run(self, stopping: threading.Event) -> None:
        """Until the history is complete or the service stops (the serve loop's background thread)."""
        while not stopping.is_set() and self.due():
            try:
                self.step(1)
            except (InstanceError, StoreError) as exc:
                LOGGER.warning("history backfill paused (%s); trying again in %.0fs", exc, RETRY_AFTER)
                stopping.wait(RETRY_AFTER)
            except Exception:  # a bug must not take the service down; the foreground goes on
                LOGGER.exception("history backfill stopped")
                return

    def _log(self, state: str) -> None:
        progress = self.store.history_progress()
        if progress is not None:
            LOGGER.info("history backfill %s: %s", state, progress.line())
