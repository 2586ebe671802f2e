"""Core (followers, pure): two snapshots of our followers compared, and departures tied to our posts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.model import Follower

CLUSTER_WINDOW = timedelta(hours=24)  # "5 left within 24 h of your post"
CLUSTER_MIN = 3  # fewer departures after a post is ordinary churn, not a reaction


@dataclass(frozen=True)
class Move:
    old: Follower
    new_id: str
    still_follows: bool  # the new account follows us too


@dataclass(frozen=True)
class FollowerDiff:
    joins: tuple[Follower, ...]  # new to us
    rejoins: tuple[Follower, ...]  # followed before, left, and are back
    leaves: tuple[Follower, ...]  # stopped following us
    severed: tuple[Follower, ...]  # gone because their server was blocked or suspended: not their choice
    moves: tuple[Move, ...]  # moved to another account: neither a join nor a departure

    @property
    def empty(self) -> bool:
        return not (self.joins or self.rejoins or self.leaves or self.severed or self.moves)


def diff_followers(
    previous: Mapping[str, Follower],
    current: Mapping[str, Follower],
    *,
    left_before: Iterable[str] = (),
    severed_domains: Iterable[str] = (),
) -> FollowerDiff:
    """What changed between two snapshots (account id → follower).

    `left_before`: ids that once followed us and left (they come back as rejoins). `severed_domains`:
    servers (or suspended accounts) whose relationships with ours were cut, as `severed_relationships`
    notifications name them;
    a follower of such a server who is gone did not choose to leave. An account that moved counts once,
    as a move: its old entry (gone or flagged `moved`) is no departure and its new one no join.
    """
    severed = {d.lower() for d in severed_domains}
    returning = set(left_before)
    moved = {f.account_id: f for f in (*previous.values(), *current.values()) if f.moved_to}
    moves = []
    for old_id, old in moved.items():
        if old_id in previous or old_id in current:
            assert old.moved_to is not None
            moves.append(Move(old, old.moved_to, old.moved_to in current))
    moved_into = {m.new_id for m in moves}
    joins: list[Follower] = []
    rejoins: list[Follower] = []
    for account_id, follower in current.items():
        if account_id in previous or account_id in moved or account_id in moved_into:
            continue
        (rejoins if account_id in returning else joins).append(follower)
    leaves: list[Follower] = []
    cut: list[Follower] = []
    for account_id, follower in previous.items():
        if account_id in current or account_id in moved:
            continue
        gone_with = follower.acct.lower() in severed or (follower.domain and follower.domain in severed)
        (cut if gone_with else leaves).append(follower)
    # A move already counted in an earlier diff is not news: only report moves that changed something.
    news = tuple(
        m for m in moves if not (m.old.account_id in previous and previous[m.old.account_id].moved_to)
    )
    return FollowerDiff(tuple(joins), tuple(rejoins), tuple(leaves), tuple(cut), news)


@dataclass(frozen=True)
class Departure:
    account_id: str
    after: datetime  # they were still following at the previous scan …
    noticed_at: datetime  # … and gone by this one


@dataclass(frozen=True)
class PostRef:
    status_id: str
    created_at: datetime
    excerpt: str


@dataclass(frozen=True)
class Cluster:
    post: PostRef
    departures: tuple[Departure, ...]


def departure_clusters(
    departures: Sequence[Departure],
    posts: Sequence[PostRef],
    *,
    window: timedelta = CLUSTER_WINDOW,
    minimum: int = CLUSTER_MIN,
) -> list[Cluster]:
    """Our posts that came just before a cluster of departures, the biggest cluster first.

    A departure happened somewhere between two scans; it is laid at the door of our newest post
    written before it was noticed, and no longer than `window` before the earliest moment it can have
    happened. Each departure counts for one post at most; posts with fewer than `minimum` are left out.
    """
    ordered = sorted(posts, key=lambda p: p.created_at)
    by_post: dict[str, list[Departure]] = {}
    for departure in departures:
        before = [p for p in ordered if p.created_at < departure.noticed_at]
        if not before:
            continue
        post = before[-1]
        if departure.after - post.created_at > window:
            continue  # that post is too old to explain it
        by_post.setdefault(post.status_id, []).append(departure)
    found = {p.status_id: p for p in ordered}
    clusters = [Cluster(found[sid], tuple(ds)) for sid, ds in by_post.items() if len(ds) >= minimum]
    return sorted(clusters, key=lambda c: (-len(c.departures), c.post.created_at))
