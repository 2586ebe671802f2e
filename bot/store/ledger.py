"""Store (ledger): who engages us and whom we owe, rankings and stats (read-only, but `record_ours`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, case, func, literal, or_
from sqlmodel import Session, col, select

from bot.store.base import StoreBase
from bot.store.followers import UNFOLLOW, followers_by_week
from bot.store.listening import (
    DigestItem,
    FeedEntry,
    FeedFetch,
    FeedState,
    OurPost,
    Profile,
    digested,
    feed_state,
    follower_profiles,
    known_our_posts,
    latest_digest_item,
    recent_feed_entries,
    record_our_posts,
    resolved_digest_item,
    save_digest,
    save_feed_failure,
    save_feed_fetch,
)
from bot.store.people import ours_recorded
from bot.store.state import HistoryProgress, history_progress
from bot.store.tables import DraftRow, InteractionRow, OurPostRow, PersonRow, PersonTallyRow

# How much each of their interactions counts towards engagement: words weigh more than clicks.
THEIR_WEIGHTS: dict[str, int] = {
    "mention": 3,
    "reply": 3,
    "boost": 2,
    "favourite": 1,
    "follow": 1,
    "follow_request": 1,
    "share": 3,  # a link to us or our name in their own post: words, like a mention
    "quote": 3,  # our post quoted with their words around it (Mastodon 4.5+)
}
THEIR_KINDS = ("follow", "follow_request", "mention", "reply", "boost", "favourite", "share", "quote")
OUR_KINDS = ("reply", "thanks", "boost", "favourite", "follow", "quote")
OWED_WINDOW = timedelta(days=30)
OWED_MIN_INTERACTIONS = 2
LINK_LOVE_WINDOW = timedelta(days=30)
LINK_LOVE_TARGET = 0.5  # the seed advice: at least half of what we post boosts or answers someone else
COUNTED_VISIBILITIES = ("public", "unlisted")
YES_STATES = ("approved", "sending", "sent", "failed")  # an approver said yes, whatever happened next

Mode = Literal["all", "owed", "connectors"]
MODES: tuple[Mode, ...] = ("all", "owed", "connectors")


# --- shapes the other stages see -----------------------------------------------------------------


@dataclass(frozen=True)
class PersonScore:
    """One person in a `people` ranking; `score` depends on the mode, the totals are all-time."""

    account_id: str
    acct: str
    display_name: str
    followers_count: int
    bot: bool
    follows_us: bool
    score: float
    theirs_total: int
    ours_total: int

    def as_json(self) -> dict[str, Any]:
        return {
            "display_name": self.display_name,
            "acct": self.acct,
            "score": self.score,
            "theirs_total": self.theirs_total,
            "ours_total": self.ours_total,
            "followers_count": self.followers_count,
            "follows_us": self.follows_us,
        }


@dataclass(frozen=True)
class Attention:
    """What the digest ranking needs to know of one author."""

    engagement: int  # weighted, all-time
    owed: bool  # engaged us at least twice in 30 days, got nothing back
    engaged_lately: bool  # we did something for them within the `lately` window
    followers_count: int

    @property
    def reach(self) -> int:
        """Reach × engagement: a connector's weight."""
        return self.followers_count * self.engagement


@dataclass(frozen=True)
class WindowStats:
    """Counts over one window (7 or 30 days)."""

    days: int
    theirs: Mapping[str, int]
    ours: Mapping[str, int]
    drafts: Mapping[str, int]  # by state, drafts created in the window
    posts: int  # our public and unlisted statuses
    boosts: int  # … that boost someone else
    replies: int  # … that answer someone else
    quotes: int = 0  # … that quote someone else's post (Mastodon 4.5+)

    @property
    def link_love_ratio(self) -> float | None:
        return (self.boosts + self.replies + self.quotes) / self.posts if self.posts else None

    @property
    def approval_rate(self) -> float | None:
        """Of the drafts an approver decided, the share they said yes to (expired ones are undecided)."""
        yes = sum(self.drafts.get(state, 0) for state in YES_STATES)
        decided = yes + self.drafts.get("rejected", 0)
        return yes / decided if decided else None


@dataclass(frozen=True)
class Stats:
    as_of: datetime
    week: WindowStats
    month: WindowStats
    people: int
    followers: int
    # (start, gained, lost) for the last four weeks, oldest first: follows in, departures out.
    weeks: tuple[tuple[datetime, int, int], ...] = ()
    history: HistoryProgress | None = None  # a first run's backfill of the older notifications

    @property
    def link_love_ratio(self) -> float | None:
        return self.month.link_love_ratio

    @property
    def approval_rate(self) -> float | None:
        return self.month.approval_rate

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "link_love_ratio": self.link_love_ratio,
            "link_love_target": LINK_LOVE_TARGET,
            "approval_rate": self.approval_rate,
        }
        for window in (self.week, self.month):
            suffix = f"_{window.days}d"
            out |= {
                f"posts{suffix}": window.posts,
                f"boosts{suffix}": window.boosts,
                f"replies{suffix}": window.replies,
                f"quotes{suffix}": window.quotes,
                f"originals{suffix}": window.posts - window.boosts - window.replies - window.quotes,
                f"link_love_ratio{suffix}": window.link_love_ratio,
                f"approval_rate{suffix}": window.approval_rate,
                f"new_followers{suffix}": window.theirs.get("follow", 0),
                f"followers_lost{suffix}": window.theirs.get(UNFOLLOW, 0),
                f"theirs{suffix}": {k: window.theirs.get(k, 0) for k in THEIR_KINDS},
                f"ours{suffix}": {k: window.ours.get(k, 0) for k in OUR_KINDS},
                f"drafts{suffix}": dict(window.drafts),
            }
        out |= {"people": self.people, "followers": self.followers, "as_of": self.as_of.isoformat()}
        out["history"] = self.history.as_json() if self.history is not None else None
        out["followers_by_week"] = [
            {"week_start": start.isoformat(), "gained": gained, "lost": lost}
            for start, gained, lost in self.weeks
        ]
        return out

    def short_text(self) -> str:
        """The `stats` DM: a few lines an approver can read on a phone."""
        week, month = self.week, self.month
        lines = [
            f"Link-love {percent(self.link_love_ratio)} (seed advice: {percent(LINK_LOVE_TARGET)} or more)"
            f" · 30d: {month.posts} posts, {month.boosts} boosts, {month.replies} replies"
            + (f", {month.quotes} quotes" if month.quotes else ""),
            f"Approval rate {percent(self.approval_rate)} · drafts 7d {sum(week.drafts.values())}, "
            f"30d {sum(month.drafts.values())}",
        ]
        for window in (week, month):
            theirs = ", ".join(f"{k} {window.theirs[k]}" for k in THEIR_KINDS if window.theirs.get(k))
            lines.append(f"{window.days}d theirs: {theirs or 'nothing'}")
        lines.append(f"People {self.people}, followers {self.followers}")
        return "\n".join(lines)


def percent(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{round(ratio * 100)}%"


# --- the ledger: ours, people, attention ----------------------------------------------------------


def record_ours(store: StoreBase, account_id: str, kind: str, status_id: str | None, now: datetime) -> bool:
    """Record something we did for someone (boost, favourite, follow, …); False when already recorded.

    For boosts and favourites pass the id of *their* status, so the same act read back later from our
    profile (sync_our_posts) is recognised and not counted twice.
    """
    with store.session() as session:
        if status_id is not None and ours_recorded(session, account_id, kind, status_id):
            return False
        session.add(
            InteractionRow(account_id=account_id, direction="ours", kind=kind, status_id=status_id, at=now)
        )
        if kind == "follow":
            person = session.get(PersonRow, (store.owner, account_id))
            if person is not None:
                person.we_follow = True
        session.commit()
        return True


def _tally_engagement() -> Any:
    """A person's engagement (THEIR_WEIGHTS) from their tally's counts of each kind."""
    return sum(
        (getattr(PersonTallyRow, f"theirs_{kind}") * weight for kind, weight in THEIR_WEIGHTS.items()),
        start=literal(0),
    )


def _weight() -> Any:
    return case(
        *[(col(InteractionRow.kind) == kind, weight) for kind, weight in THEIR_WEIGHTS.items()], else_=0
    )


def people(store: StoreBase, now: datetime, mode: Mode = "all", limit: int = 50) -> list[PersonScore]:
    """People ranked.

    all: by engagement (their interactions, weighted: words over clicks), all-time.
    owed: engaged us at least twice in 30 days and got nothing back in that time; most generous first.
    connectors: reach × engagement (followers count × engagement).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    theirs = col(InteractionRow.direction) == "theirs"
    with store.session() as session:
        if mode == "owed":
            since = now - OWED_WINDOW
            # Grouped by an expression, not the bare column: else SQLite walks all interactions in person
            # order (ix_interactions_person_kind) to spare itself a sort, rather than only the window
            # (ix_interactions_direction_at): about 15% slower at 1M interactions (bench/store.py).
            person = (col(InteractionRow.account_id) + "").label("account_id")
            agg = (
                select(
                    person,
                    func.sum(_weight()).label("score"),
                    func.max(col(InteractionRow.at)).label("last_at"),
                )
                .where(theirs, col(InteractionRow.kind).in_(THEIR_KINDS), col(InteractionRow.at) >= since)
                .group_by(person)
                .having(func.count() >= OWED_MIN_INTERACTIONS)
                .subquery()
            )
            # One set of everyone we gave something back to, and of the bots, not a lookup per person: a
            # correlated EXISTS made SQLite rescan the window for each candidate (seconds at 1M).
            left_out = (
                select(InteractionRow.account_id)
                .where(col(InteractionRow.direction) == "ours", col(InteractionRow.at) >= since)
                .union_all(select(PersonRow.account_id).where(col(PersonRow.bot).is_(True)))
            )
            score: Any = agg.c.score

            def owed(top: int | None) -> Any:
                # The first `top` ranked from the window alone, and only they joined to people, not all
                # ~40k candidates at 1M interactions (7% less CPU; counting the window is the rest).
                ranked = (
                    select(agg.c.account_id, score.label("score"), agg.c.last_at)
                    .where(agg.c.account_id.not_in(left_out))
                    .order_by(score.desc(), agg.c.last_at.desc())
                    .limit(top)
                    .subquery()
                )
                return session.exec(
                    select(PersonRow, ranked.c.score)
                    .join(ranked, ranked.c.account_id == col(PersonRow.account_id))
                    .order_by(ranked.c.score.desc(), ranked.c.last_at.desc())
                    .limit(limit)
                ).all()

            rows = owed(limit)
            if len(rows) < limit:  # fewer than asked, or someone among them has no people row
                rows = owed(None)
        else:
            # From the tallies the database keeps (migration 0011), not from every interaction.
            engagement = _tally_engagement()
            last_at = col(PersonTallyRow.last_theirs_at)
            score = engagement * col(PersonRow.followers_count) if mode == "connectors" else engagement
            query = (
                select(PersonRow, score)
                .join(
                    PersonTallyRow,
                    and_(
                        col(PersonTallyRow.owner) == col(PersonRow.owner),
                        col(PersonTallyRow.account_id) == col(PersonRow.account_id),
                    ),
                )
                .where(col(PersonTallyRow.owner) == store.owner, engagement > 0)
                .order_by(score.desc(), last_at.desc(), col(PersonRow.acct))
            )
            if mode == "all":
                # The top `limit` by (engagement, latest) from the tallies alone, then only those (and
                # any tied with the last of them) joined to people: joining all 100k cost ~0.1 s.
                cutoff = session.exec(
                    select(engagement, last_at)
                    .where(col(PersonTallyRow.owner) == store.owner, engagement > 0)
                    .order_by(engagement.desc(), last_at.desc())
                    .offset(limit - 1)
                    .limit(1)
                ).first()
                if cutoff is not None:
                    least, least_at = cutoff
                    top = or_(engagement > least, and_(engagement == least, last_at >= least_at))
                    rows = session.exec(query.where(top).limit(limit)).all()
                    if len(rows) < limit:  # someone among them has no people row: rank them all
                        rows = session.exec(query.limit(limit)).all()
                else:
                    rows = session.exec(query.limit(limit)).all()
            else:
                rows = session.exec(query.limit(limit)).all()
        totals = _totals(session, store.owner, [row.account_id for row, _ in rows])
    return _scores(rows, totals)


def _scores(rows: Sequence[Any], totals: dict[tuple[str, str], int]) -> list[PersonScore]:
    """(person row, score) pairs as PersonScores with their totals both ways."""
    return [
        PersonScore(
            account_id=row.account_id,
            acct=row.acct,
            display_name=row.display_name,
            followers_count=row.followers_count,
            bot=row.bot,
            follows_us=row.follows_us_since is not None,
            score=float(value or 0),
            theirs_total=totals.get((row.account_id, "theirs"), 0),
            ours_total=totals.get((row.account_id, "ours"), 0),
        )
        for row, value in rows
    ]


def _totals(session: Session, owner: str, account_ids: Sequence[str]) -> dict[tuple[str, str], int]:
    """(account id, direction) → how many interactions, from the tallies (migration 0011)."""
    if not account_ids:
        return {}
    rows = session.exec(
        select(PersonTallyRow.account_id, PersonTallyRow.theirs_total, PersonTallyRow.ours_total).where(
            col(PersonTallyRow.owner) == owner, col(PersonTallyRow.account_id).in_(account_ids)
        )
    ).all()
    out = {}
    for account_id, theirs, ours in rows:
        out[(account_id, "theirs")], out[(account_id, "ours")] = int(theirs), int(ours)
    return out


def attention(
    store: StoreBase, account_ids: Iterable[str], now: datetime, lately: timedelta
) -> dict[str, Attention]:
    """For the digest ranking: how much each author engages us, whether we owe them, and our last act."""
    ids = list(dict.fromkeys(account_ids))
    if not ids:
        return {}
    theirs = col(InteractionRow.direction) == "theirs"
    ours = col(InteractionRow.direction) == "ours"
    recent = col(InteractionRow.at) >= now - OWED_WINDOW
    with store.session() as session:
        rows = session.exec(
            select(
                InteractionRow.account_id,
                func.sum(case((theirs, _weight()), else_=0)),
                func.sum(case((and_(theirs, recent, col(InteractionRow.kind).in_(THEIR_KINDS)), 1), else_=0)),
                func.max(case((ours, col(InteractionRow.at)))),
            )
            .where(col(InteractionRow.account_id).in_(ids))
            .group_by(col(InteractionRow.account_id))
        ).all()
        followers = dict(
            session.exec(
                select(PersonRow.account_id, PersonRow.followers_count).where(
                    col(PersonRow.account_id).in_(ids)
                )
            ).all()
        )
    out = {account_id: Attention(0, False, False, followers.get(account_id, 0)) for account_id in ids}
    for account_id, engagement, theirs_recent, last_ours in rows:
        gave_back = last_ours is not None and last_ours >= now - OWED_WINDOW
        out[account_id] = Attention(
            engagement=int(engagement or 0),
            owed=int(theirs_recent or 0) >= OWED_MIN_INTERACTIONS and not gave_back,
            engaged_lately=last_ours is not None and last_ours >= now - lately,
            followers_count=followers.get(account_id, 0),
        )
    return out


def top_engagers(store: StoreBase, since: datetime, limit: int) -> list[PersonScore]:
    """Who engaged us most since `since` (weighted), for the weekly summary."""
    with store.session() as session:
        score = func.sum(_weight()).label("score")
        rows = session.exec(
            select(PersonRow, score)
            .join(InteractionRow, col(InteractionRow.account_id) == col(PersonRow.account_id))
            .where(
                col(InteractionRow.direction) == "theirs",
                col(InteractionRow.kind).in_(THEIR_KINDS),
                col(InteractionRow.at) >= since,
            )
            .group_by(col(PersonRow.owner), col(PersonRow.account_id))  # the whole key: PostgreSQL insists
            .order_by(score.desc(), col(PersonRow.acct))
            .limit(limit)
        ).all()
        totals = _totals(session, store.owner, [row.account_id for row, _ in rows])
    return _scores(rows, totals)


def new_followers(store: StoreBase, since: datetime) -> tuple[int, list[PersonScore]]:
    """How many people started following us since `since`, and the first few of them."""
    with store.session() as session:
        condition = col(PersonRow.follows_us_since) >= since
        count = session.exec(select(func.count()).select_from(PersonRow).where(condition)).one()
        rows = session.exec(
            select(PersonRow).where(condition).order_by(col(PersonRow.follows_us_since)).limit(10)
        ).all()
    return int(count), [
        PersonScore(r.account_id, r.acct, r.display_name, r.followers_count, r.bot, True, 0.0, 0, 0)
        for r in rows
    ]


def bots_among(store: StoreBase, accts: Iterable[str]) -> set[str]:
    """Which of these accts (lower-cased) the ledger knows as bot accounts."""
    wanted = {acct.lstrip("@").lower() for acct in accts}
    if not wanted:
        return set()
    with store.session() as session:
        rows = session.exec(
            select(PersonRow.acct).where(func.lower(PersonRow.acct).in_(wanted), col(PersonRow.bot).is_(True))
        ).all()
    return {acct.lower() for acct in rows}


# --- stats ------------------------------------------------------------------------------------------


def stats(store: StoreBase, now: datetime) -> Stats:
    """Counts over the last 7 and 30 days, approval rate and link-love ratio."""
    with store.session() as session:
        week, month = _windows(session, now, (7, 30))
        people_count, followers = session.exec(
            select(func.count(), func.count(col(PersonRow.follows_us_since))).select_from(PersonRow)
        ).one()
        history = history_progress(session, store.owner)
    return Stats(
        as_of=now,
        week=week,
        month=month,
        people=int(people_count),
        followers=int(followers),
        weeks=tuple(followers_by_week(store, now)),
        history=history,
    )


def _windows(session: Session, now: datetime, days: tuple[int, int]) -> tuple[WindowStats, WindowStats]:
    """The short and the long window (7 and 30 days) counted in one pass over the long one.

    The interactions are read one direction at a time: `direction = ? AND at >= ?` is a range of the
    covering index ix_interactions_direction_at, so SQLite counts index entries and never reads the
    table (grouping by direction too, or filtering on `at` alone, made it read the rows or sort twice
    as much: ~0.5 s at 1M interactions, bench/store.py). The short window is a sum over the same rows.
    """
    short_since, long_since = (now - timedelta(days=d) for d in days)

    def in_short(column: Any) -> Any:
        return func.coalesce(func.sum(case((column >= short_since, 1), else_=0)), 0)

    by_kind: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
    for direction in ("theirs", "ours"):
        short: dict[str, int] = {}
        long: dict[str, int] = {}
        for kind, count, recent in session.exec(
            select(InteractionRow.kind, func.count(), in_short(col(InteractionRow.at)))
            .where(col(InteractionRow.direction) == direction, col(InteractionRow.at) >= long_since)
            .group_by(col(InteractionRow.kind))
        ).all():
            long[kind] = int(count)
            if recent:
                short[kind] = int(recent)
        by_kind[direction] = (short, long)
    drafts: tuple[dict[str, int], dict[str, int]] = ({}, {})
    for state, count, recent in session.exec(
        select(DraftRow.state, func.count(), in_short(col(DraftRow.created_at)))
        .where(col(DraftRow.created_at) >= long_since)
        .group_by(col(DraftRow.state))
    ).all():
        drafts[1][state] = int(count)
        if recent:
            drafts[0][state] = int(recent)
    posts: tuple[dict[str, int], dict[str, int]] = ({}, {})
    for kind, count, recent in session.exec(
        select(OurPostRow.kind, func.count(), in_short(col(OurPostRow.created_at)))
        .where(
            col(OurPostRow.created_at) >= long_since,
            col(OurPostRow.visibility).in_(COUNTED_VISIBILITIES),
        )
        .group_by(col(OurPostRow.kind))
    ).all():
        posts[1][kind] = int(count)
        if recent:
            posts[0][kind] = int(recent)
    return (
        _window_stats(days[0], by_kind["theirs"][0], by_kind["ours"][0], drafts[0], posts[0]),
        _window_stats(days[1], by_kind["theirs"][1], by_kind["ours"][1], drafts[1], posts[1]),
    )


def _window_stats(
    days: int, theirs: dict[str, int], ours: dict[str, int], drafts: dict[str, int], posts: dict[str, int]
) -> WindowStats:
    return WindowStats(
        days=days,
        theirs=theirs,
        ours=ours,
        drafts=drafts,
        posts=sum(posts.values()),
        boosts=posts.get("boost", 0),
        replies=posts.get("reply", 0),
        quotes=posts.get("quote", 0),
    )


# The listening queries moved to bot/store/listening.py; callers written before the split find them here.
__all__ = [
    "COUNTED_VISIBILITIES",
    "LINK_LOVE_TARGET",
    "LINK_LOVE_WINDOW",
    "MODES",
    "OUR_KINDS",
    "OWED_MIN_INTERACTIONS",
    "OWED_WINDOW",
    "THEIR_KINDS",
    "THEIR_WEIGHTS",
    "YES_STATES",
    "Attention",
    "DigestItem",
    "FeedEntry",
    "FeedFetch",
    "FeedState",
    "Mode",
    "OurPost",
    "PersonScore",
    "Profile",
    "Stats",
    "WindowStats",
    "attention",
    "bots_among",
    "digested",
    "feed_state",
    "follower_profiles",
    "known_our_posts",
    "latest_digest_item",
    "new_followers",
    "people",
    "percent",
    "recent_feed_entries",
    "record_our_posts",
    "record_ours",
    "resolved_digest_item",
    "save_digest",
    "save_feed_failure",
    "save_feed_fetch",
    "stats",
    "top_engagers",
]
