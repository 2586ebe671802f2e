"""Store (tables): the SQLModel rows and the hooks that scope every session to one bot account."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, UniqueConstraint, event, false
from sqlalchemy.orm import ORMExecuteState, with_loader_criteria
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, Session, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _ts(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), index=index, nullable=nullable))


# Server defaults (owner "", drafts.action "post", …) are the ones the migrations gave the columns they
# added to tables with rows: a new store made from these models (bot/store/base.py) must equal a migrated one.


def _empty(**kwargs: Any) -> Any:
    """A text column that is "" unless given, in Python and in the database."""
    return Field(default="", sa_column_kwargs={"server_default": ""}, **kwargs)


def _given(value: Any, server: Any) -> Any:
    return Field(default=value, sa_column_kwargs={"server_default": server})


class EventRow(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("owner", "notification_id", name="uq_events_notification"),
        Index("ix_events_owner_kind_created", "owner", "kind", "created_at"),  # follows in a spike window
        # The dispatcher's lanes (unhandled, not quarantined, of a kind, oldest first) and the quarantine.
        Index("ix_events_owner_unhandled", "owner", "handled_at", "quarantined_at", "kind", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(
        default="", sa_column_kwargs={"server_default": ""}
    )  # the bot account the row belongs to (leads the indexes that need it)
    # The notification id (or "status:<id>" for replies seen on the stream): the dedup key.
    notification_id: str = Field(index=True)
    kind: str
    account_id: str = Field(index=True)
    acct: str
    status_id: str | None = None
    created_at: datetime = _ts()
    recorded_at: datetime = _ts()
    handled_at: datetime | None = _ts(index=True)
    payload: str
    # A failing event is retried with backoff, then quarantined: kept, never handled unless released.
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # failed attempts so far
    next_attempt_at: datetime | None = _ts()  # not handed out again before this (None: due now)
    last_error: str | None = None  # the last failure, one line, at most 500 characters
    quarantined_at: datetime | None = _ts()


class PersonRow(SQLModel, table=True):
    __tablename__ = "people"
    owner: str = Field(
        default="", primary_key=True, sa_column_kwargs={"server_default": ""}
    )  # the bot account the row belongs to
    account_id: str = Field(primary_key=True)
    acct: str = Field(index=True)
    display_name: str = ""
    followers_count: int = 0
    bot: bool = False
    first_seen: datetime = _ts()
    follows_us_since: datetime | None = _ts()
    we_follow: bool = False


class NoteRow(SQLModel, table=True):
    __tablename__ = "notes"
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(
        default="", sa_column_kwargs={"server_default": ""}
    )  # the bot account the row belongs to (leads the indexes that need it)
    account_id: str = Field(index=True)
    text: str
    created_at: datetime = _ts()


class InteractionRow(SQLModel, table=True):
    """The ledger: one row per interaction, theirs (with us) or ours (with them)."""

    __tablename__ = "interactions"
    # Ledger queries: one person's history; everything in a time window; per-person totals by kind;
    # our acts found by the status they answered.
    __table_args__ = (
        Index("ix_interactions_person_at", "owner", "account_id", "at"),
        Index("ix_interactions_direction_at", "owner", "direction", "at", "account_id", "kind"),
        Index("ix_interactions_person_kind", "owner", "account_id", "direction", "kind", "at"),
        Index("ix_interactions_status", "owner", "status_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(
        default="", sa_column_kwargs={"server_default": ""}
    )  # the bot account the row belongs to (leads the indexes that need it)
    account_id: str
    direction: str  # "theirs" | "ours"
    kind: str
    status_id: str | None = None
    at: datetime = _ts(index=True)


def _count() -> Any:
    return Field(default=0, sa_column_kwargs={"server_default": "0"})


class PersonTallyRow(SQLModel, table=True):
    """Per person, the ledger counted: kept by triggers on `interactions` (migration 0011), never written
    here. bot/store/ledger.py `people` ranks from it instead of reading every interaction.

    Not in OWNED_TABLES: `claim` moves interactions to an owner and the triggers move their tallies, and
    the ledger's queries name the owner themselves."""

    __tablename__ = "person_tallies"
    owner: str = Field(default="", primary_key=True)
    account_id: str = Field(primary_key=True)
    # Their interactions of each weighted kind (bot/store/ledger.py THEIR_WEIGHTS), then the totals.
    theirs_follow: int = _count()
    theirs_follow_request: int = _count()
    theirs_mention: int = _count()
    theirs_reply: int = _count()
    theirs_boost: int = _count()
    theirs_favourite: int = _count()
    theirs_share: int = _count()
    theirs_quote: int = _count()
    theirs_total: int = _count()
    ours_total: int = _count()
    last_theirs_at: datetime | None = _ts()  # their latest interaction of any kind


class DraftRow(SQLModel, table=True):
    __tablename__ = "drafts"
    # One draft per (event, rule): redoing an event after a crash is harmless.
    __table_args__ = (UniqueConstraint("event_id", "rule", name="uq_drafts_event_rule"),)
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(
        default="", sa_column_kwargs={"server_default": ""}
    )  # the bot account the row belongs to (leads the indexes that need it)
    event_id: int | None = Field(default=None, foreign_key="events.id")
    rule: str
    account_id: str = Field(index=True)
    acct: str
    display_name: str = ""
    in_reply_to_id: str | None = None
    visibility: str = "unlisted"
    spoiler_text: str = ""
    text: str
    template: str = ""
    action: str = Field(
        default="post", sa_column_kwargs={"server_default": "post"}
    )  # post | boost | favourite
    triage: int = Field(
        default=2, sa_column_kwargs={"server_default": "2"}
    )  # order for the approver: 0 questions, 1 people we know, 2 first contacts, 3 thanks
    thread_key: str | None = Field(default=None, index=True)  # the conversation a reply belongs to
    state: str = Field(default="pending", index=True)
    created_at: datetime = _ts()
    sending_at: datetime | None = _ts()
    sent_at: datetime | None = _ts(index=True)
    dm_sent_at: datetime | None = _ts()
    shown_at: datetime | None = _ts()  # the instance's time of the DM that showed it to the approvers
    decided_at: datetime | None = _ts()
    decided_by: str | None = None
    command_status_id: str | None = None  # the approver's DM to confirm in
    status_id: str | None = None
    status_url: str | None = None
    error: str | None = None


class DraftMessageRow(SQLModel, table=True):
    """Which drafts a draft DM carried, so `ok` in reply to it finds them."""

    __tablename__ = "draft_messages"
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(
        default="", sa_column_kwargs={"server_default": ""}
    )  # the bot account the row belongs to (leads the indexes that need it)
    dm_status_id: str = Field(index=True)
    draft_id: int


class DmLogRow(SQLModel, table=True):
    """When each DM to the approvers went out, for `approval.max_dms_per_hour`."""

    __tablename__ = "dm_log"
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(
        default="", sa_column_kwargs={"server_default": ""}
    )  # the bot account the row belongs to (leads the indexes that need it)
    at: datetime = _ts(index=True)


class StateRow(SQLModel, table=True):
    __tablename__ = "state"
    owner: str = Field(
        default="", primary_key=True, sa_column_kwargs={"server_default": ""}
    )  # the bot account the row belongs to
    key: str = Field(primary_key=True)
    value: str


# --- ledger and listening tables (queried by bot/store/ledger.py and listening.py) ---------------


class OurPostRow(SQLModel, table=True):
    """Our own non-direct statuses, read back from our profile, for the link-love ratio."""

    __tablename__ = "our_posts"
    __table_args__ = (UniqueConstraint("owner", "status_id", name="uq_our_posts_status"),)
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(
        default="", sa_column_kwargs={"server_default": ""}
    )  # the bot account the row belongs to (leads the indexes that need it)
    status_id: str = Field(index=True)
    created_at: datetime = _ts(index=True)
    visibility: str
    kind: str  # post | reply | boost | quote; all but post only when they are for someone else
    in_reply_to_account_id: str | None = None
    reblog_of_account_id: str | None = None
    excerpt: str = _empty()  # names the post in summaries


class DigestRow(SQLModel, table=True):
    """One listening digest; the newest one owns the numbers that `boost N` refers to."""

    __tablename__ = "digests"
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(
        default="", sa_column_kwargs={"server_default": ""}
    )  # the bot account the row belongs to (leads the indexes that need it)
    created_at: datetime = _ts(index=True)


class DigestItemRow(SQLModel, table=True):
    __tablename__ = "digest_items"
    __table_args__ = (UniqueConstraint("digest_id", "number", name="uq_digest_items_number"),)
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(
        default="", sa_column_kwargs={"server_default": ""}
    )  # the bot account the row belongs to (leads the indexes that need it)
    digest_id: int = Field(foreign_key="digests.id")
    number: int
    status_id: str | None = Field(default=None, index=True)  # on our instance; None for a feed entry
    account_id: str | None = None
    acct: str
    display_name: str = ""
    url: str = Field(default="", index=True)
    excerpt: str = ""
    source: str = "home"  # home | list:<name> | watch | feed | recommended
    created_at: datetime = _ts()  # when the post was written
    # For a recommendation: who led us to them and how ("alice@example.social boosted").
    via: str = _empty()


class FeedStateRow(SQLModel, table=True):
    """Per public feed: the validators for conditional GET and when we may ask again."""

    __tablename__ = "feed_state"
    owner: str = Field(
        default="", primary_key=True, sa_column_kwargs={"server_default": ""}
    )  # the bot account the row belongs to
    url: str = Field(primary_key=True)
    acct: str = ""
    title: str = ""
    nobot: bool = False
    etag: str | None = None
    last_modified: str | None = None
    last_fetched: datetime | None = _ts()
    next_fetch: datetime | None = _ts()
    failures: int = 0
    last_error: str | None = None


class FeedEntryRow(SQLModel, table=True):
    __tablename__ = "feed_entries"
    __table_args__ = (UniqueConstraint("owner", "feed_url", "entry_id", name="uq_feed_entries_entry"),)
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(
        default="", sa_column_kwargs={"server_default": ""}
    )  # the bot account the row belongs to (leads the indexes that need it)
    feed_url: str
    entry_id: str
    acct: str
    url: str
    excerpt: str = ""
    published: datetime = _ts(index=True)
    fetched_at: datetime = _ts()


class FollowerScanRow(SQLModel, table=True):
    """One reading of our followers list, page by page; the newest finished one is the snapshot."""

    __tablename__ = "follower_scans"
    id: int | None = Field(default=None, primary_key=True)
    owner: str = ""  # the bot account the row belongs to
    started_at: datetime = _ts()
    finished_at: datetime | None = _ts()
    next_max_id: str | None = None  # where the next page starts; None before the first page
    pages: int = 0
    requests: int = 0


class FollowerRow(SQLModel, table=True):
    """One follower seen by one scan."""

    __tablename__ = "followers"
    owner: str = Field(default="", primary_key=True)  # the bot account the row belongs to
    scan_id: int = Field(primary_key=True)
    account_id: str = Field(primary_key=True)
    acct: str
    first_seen: datetime = _ts()  # carried over from scan to scan: when we first saw them follow us
    moved_to: str | None = None  # the account theirs moved to (Mastodon's `moved`), when it did


class DepartureRow(SQLModel, table=True):
    """Someone who stopped following us, noticed by comparing two scans."""

    __tablename__ = "departures"
    __table_args__ = (Index("ix_departures_owner_noticed", "owner", "noticed_at"),)
    id: int | None = Field(default=None, primary_key=True)
    owner: str = ""  # the bot account the row belongs to (leads the indexes that need it)
    account_id: str = Field(index=True)
    acct: str
    followed_since: datetime | None = _ts()
    after: datetime = _ts()  # the previous scan: they left after this …
    noticed_at: datetime = _ts()  # … and before this
    cause: str = "unfollow"  # unfollow | severed (a domain block or suspension cut the follow)


# --- end of ledger and listening tables ----------------------------------------------------------


class DraftOfferRow(SQLModel, table=True):
    """The texts an answering draft may carry: 0 the rule's own, 1… the answers found; one is chosen."""

    __tablename__ = "draft_offers"
    __table_args__ = (UniqueConstraint("owner", "draft_id", "rank", name="uq_draft_offers_rank"),)
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(
        default="", sa_column_kwargs={"server_default": ""}
    )  # the bot account the row belongs to (leads the indexes that need it)
    draft_id: int = Field(index=True)
    rank: int
    source: str  # template | knowledge | learned | reply
    entry: str = Field(
        default="", sa_column_kwargs={"server_default": ""}
    )  # knowledge:<name> | learned:<id> | reply:<id>
    label: str = _empty()
    score: float = _given(0.0, "0")
    text: str
    chosen: bool = _given(False, false())


class AnswerRow(SQLModel, table=True):
    """What the store knows how to answer: our past replies, and the ones an approver taught it."""

    __tablename__ = "answers"
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(
        default="", index=True, sa_column_kwargs={"server_default": ""}
    )  # the bot account the row belongs to
    kind: str  # reply (remembered when approved) | learned (`learn 12`)
    question: str  # the post it answered, as plain text
    text: str  # the answer as a template: the person's name as {name}
    language: str | None = None
    person: str = Field(
        default="", sa_column_kwargs={"server_default": ""}
    )  # whom we answered (display name, cleaned), for "as you answered Rita on 3 May"
    answered_at: datetime = _ts()
    draft_id: int | None = Field(default=None, index=True)


class AccountRow(SQLModel, table=True):
    """The bot accounts sharing this store; every other table's rows carry one of their `owner` keys."""

    __tablename__ = "accounts"
    owner: str = Field(primary_key=True)  # user@instance
    base_url: str
    token_fingerprint: str = Field(index=True)  # a short hash: offline commands find their account by it
    last_started: datetime = _ts()


OWNED_TABLES: tuple[type[SQLModel], ...] = (
    EventRow,
    PersonRow,
    NoteRow,
    InteractionRow,
    DraftRow,
    DraftMessageRow,
    DmLogRow,
    StateRow,
    OurPostRow,
    DigestRow,
    DigestItemRow,
    FeedStateRow,
    FeedEntryRow,
    DraftOfferRow,
    AnswerRow,
    FollowerScanRow,
    FollowerRow,
    DepartureRow,
)


# Execution option of a `session.get` whose primary key starts with the owner: the row it finds is the
# owner's already, and the criteria cost as much CPU as the read itself (issue 15: the state and people
# reads of every draft DM).
OWNER_IN_KEY = {"owner_in_key": True}


@event.listens_for(Session, "do_orm_execute")
def _scope_to_owner(state: ORMExecuteState) -> None:
    """Every query of a store session sees only its own account's rows (two bots can share a database)."""
    owner = state.session.info.get("owner")
    if owner is None or not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get("owner_in_key"):
        return
    state.statement = state.statement.options(*_owner_criteria(owner))


@functools.lru_cache(maxsize=64)
def _owner_criteria(owner: str) -> tuple[Any, ...]:
    """Built once per account: making 13 criteria for every statement cost more than the statement."""
    return tuple(
        with_loader_criteria(table, table.owner == owner, include_aliases=True)  # type: ignore[attr-defined]
        for table in OWNED_TABLES
    )


@event.listens_for(Session, "before_flush")
def _stamp_owner(session: Session, context: Any, instances: Any) -> None:
    owner = session.info.get("owner")
    if owner is None:
        return
    for row in session.new:
        if isinstance(row, OWNED_TABLES) and not row.owner:  # type: ignore[attr-defined]
            row.owner = owner


def all_tables() -> list[Any]:
    """Every table of the store, for creating a new one from the models (bot/store/base.py)."""
    return [row.__table__ for row in (*OWNED_TABLES, AccountRow, PersonTallyRow)]  # type: ignore[attr-defined]
