"""Listening (followers): scan our followers list in a small share of the rate limit; tell who left."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from bot.core.followers import (
    CLUSTER_MIN,
    CLUSTER_WINDOW,
    Cluster,
    Departure,
    FollowerDiff,
    PostRef,
    departure_clusters,
    diff_followers,
)
from bot.instance import InstanceError
from bot.store import Store
from bot.store import followers as saved

if TYPE_CHECKING:
    from bot.instance.reader import Reader

LOGGER = logging.getLogger(__name__)

# A bounded share of Mastodon's 300 requests / 5 min: the scan never crowds out the notifications,
# the outbox or the digest. At 80 followers a page, 30 pages per 5 minutes read 100 k followers in
# about 3.5 hours, inside the default `listen.followers_every` of 6 h.
SCAN_REQUESTS = 30
SCAN_WINDOW = timedelta(minutes=5)
SEVERED_SLACK = timedelta(days=1)  # a severed_relationships notice may come a little before the scan


def scan_budget(followers: int, page_size: int = 80) -> int:
    """Requests one full scan costs: a page per `page_size` followers, and one that comes back empty."""
    return -(-followers // page_size) + 1


class FollowerWatch:
    """Reads our followers list in slices and, when a scan is complete, compares it with the last one.

    `step()` is cheap when nothing is due (one query); a scan runs at most every `every()`, reading at
    most SCAN_REQUESTS pages per SCAN_WINDOW, and resumes where it stopped (also after a restart).
    """

    def __init__(
        self,
        reader: Reader,
        store: Store,
        *,
        me_id: str,
        every: Callable[[], timedelta],
        clock: Callable[[], datetime],
        budget: int = SCAN_REQUESTS,
        window: timedelta = SCAN_WINDOW,
    ) -> None:
        self.reader = reader
        self.store = store
        self.me_id = me_id
        self.every = every
        self.clock = clock
        self.budget = budget
        self.window = window
        self._sent: deque[datetime] = deque()

    def _room(self, now: datetime) -> int:
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()
        return self.budget - len(self._sent)

    def step(self) -> FollowerDiff | None:
        """Read what the budget allows; the diff when this step finished a scan that had one to compare."""
        now = self.clock()
        scan = saved.open_scan(self.store)
        if scan is None:
            last = saved.last_finished_scan(self.store)
            if last is not None and now - last.started_at < self.every():
                return None
            if self._room(now) <= 0:
                return None
            scan = saved.start_scan(self.store, now)
        while self._room(now) > 0:
            if scan.pages and scan.next_max_id is None:
                return self._finish(scan, now)  # every page was read before a crash or a failed finish
            try:
                page = self.reader.followers_page(self.me_id, scan.next_max_id)
            except InstanceError as exc:
                LOGGER.warning("followers scan paused (%s); it resumes on the next step", exc)
                return None
            finally:
                self._sent.append(now)
            scan = saved.save_follower_page(self.store, scan, page.followers, page.next_max_id, 1, now)
            if page.next_max_id is None or not page.followers:
                return self._finish(scan, now)
        return None

    def _finish(self, scan: saved.Scan, now: datetime) -> FollowerDiff | None:
        previous = saved.last_finished_scan(self.store)
        current = saved.snapshot(self.store, scan.id)
        if previous is None:
            saved.finish_scan(self.store, scan, arrived=[], left=[], severed=[], after=None, now=now)
            LOGGER.info("followers: first snapshot, %d followers (%d requests)", len(current), scan.requests)
            return None
        before = saved.snapshot(self.store, previous.id)
        new = [account_id for account_id in current if account_id not in before]
        diff = diff_followers(
            before,
            current,
            left_before=saved.departed_ids(self.store, new),
            severed_domains=saved.severed_domains(self.store, previous.started_at - SEVERED_SLACK),
        )
        saved.finish_scan(
            self.store,
            scan,
            arrived=[*diff.joins, *diff.rejoins],
            left=diff.leaves,
            severed=diff.severed,
            after=previous.started_at,
            now=now,
        )
        for move in diff.moves:
            LOGGER.info("followers: %s moved to account %s", move.old.acct, move.new_id)
        LOGGER.info(
            "followers: %d now; %d joined, %d came back, %d left, %d cut off, %d moved (%d requests)",
            len(current),
            len(diff.joins),
            len(diff.rejoins),
            len(diff.leaves),
            len(diff.severed),
            len(diff.moves),
            scan.requests,
        )
        return diff


# --- the weekly summary's lines -------------------------------------------------------------------


def clusters_since(store: Store, since: datetime, now: datetime) -> list[Cluster]:
    """Our posts that came just before a cluster of the departures noticed since `since`."""
    records = [r for r in saved.departures(store, since=since, limit=10_000) if r.cause == "unfollow"]
    if len(records) < CLUSTER_MIN:
        return []
    earliest = min(r.after for r in records) - CLUSTER_WINDOW
    posts = [PostRef(*post) for post in saved.our_posts_between(store, earliest, now)]
    return departure_clusters([Departure(r.account_id, r.after, r.noticed_at) for r in records], posts)


def cluster_line(cluster: Cluster, tz: tzinfo) -> str:
    """ "5 left within 24 h of your post of Tuesday 'We are now selling…'"."""
    day = cluster.post.created_at.astimezone(tz).strftime("%A")
    hours = int(CLUSTER_WINDOW.total_seconds() // 3600)
    return f"{len(cluster.departures)} left within {hours} h of your post of {day} '{cluster.post.excerpt}'"
