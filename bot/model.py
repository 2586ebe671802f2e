"""Shared data: the frozen dataclasses that flow between the stages (listener → store → rules → outbox)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

VISIBILITIES = ("public", "unlisted", "private", "direct")  # widest first
# Event kinds whose status is the person's own post (for boosts and favourites it is ours): answered
# in its thread, its words shown to the approver and available to rules and templates.
THEIR_POSTS = ("mention", "reply", "share", "quote")


@dataclass(frozen=True)
class Account:
    """A Mastodon account as the rules see it (plain text, no HTML)."""

    id: str
    acct: str  # "user" for local accounts, "user@domain" for remote ones
    username: str
    display_name: str = ""
    note: str = ""  # bio as plain text
    fields: tuple[str, ...] = ()  # profile fields as "name: value" plain text
    bot: bool = False
    followers_count: int = 0
    url: str = ""


@dataclass(frozen=True)
class Status:
    """A status as plain text plus what replies and rules need."""

    id: str
    text: str
    visibility: str = "public"
    language: str | None = None
    in_reply_to_id: str | None = None
    in_reply_to_account_id: str | None = None
    spoiler_text: str = ""
    mentions: tuple[str, ...] = ()  # accts mentioned, as written by Mastodon
    url: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class Event:
    """Something that happened to the account; `id` is the notification id (unique)."""

    kind: ClassVar[str] = "event"
    id: str
    created_at: datetime
    account: Account
    # Held back by the account's notification policy (Mastodon 4.3+) and read with include_filtered:
    # the approvers are told, as the account's own apps would not have shown it.
    filtered: bool = field(default=False, kw_only=True)


@dataclass(frozen=True)
class Follow(Event):
    kind: ClassVar[str] = "follow"


@dataclass(frozen=True)
class FollowRequest(Event):
    kind: ClassVar[str] = "follow_request"


@dataclass(frozen=True)
class StatusEvent(Event):
    """An event that carries a status (ours for boosts and favourites, theirs otherwise)."""

    status: Status = field(default_factory=lambda: Status(id="", text=""))


@dataclass(frozen=True)
class Mention(StatusEvent):
    kind: ClassVar[str] = "mention"


@dataclass(frozen=True)
class Reply(StatusEvent):
    kind: ClassVar[str] = "reply"


@dataclass(frozen=True)
class Reblog(StatusEvent):
    kind: ClassVar[str] = "reblog"


@dataclass(frozen=True)
class Favourite(StatusEvent):
    kind: ClassVar[str] = "favourite"


@dataclass(frozen=True)
class Quote(StatusEvent):
    """Someone quoted one of our posts (Mastodon 4.5+); `status` is their quoting post."""

    kind: ClassVar[str] = "quote"
    quoted_status_id: str = ""  # our post they quote


@dataclass(frozen=True)
class Share(StatusEvent):
    """Someone linked to our sites or named us without mentioning us; `status` is their post.

    Its id is "share:<status id>": a post is a share once, whichever timeline showed it."""

    kind: ClassVar[str] = "share"


@dataclass(frozen=True)
class DirectCommand(StatusEvent):
    """A direct message from an approver: a command, never something to draft for."""

    kind: ClassVar[str] = "command"


@dataclass(frozen=True)
class ModerationWarning(Event):
    """The instance's moderators warned this account (4.3+): drafting and posting pause at once."""

    kind: ClassVar[str] = "moderation_warning"
    # none, disable, mark_statuses_as_sensitive, delete_statuses, sensitive, silence or suspend
    action: str = ""
    text: str = ""  # the moderators' words, plain text


@dataclass(frozen=True)
class SeveredRelationships(Event):
    """A domain block or a suspension cut some of our follows (4.3+)."""

    kind: ClassVar[str] = "severed_relationships"
    cause: str = ""  # domain_block, user_domain_block or account_suspension
    target_name: str = ""  # the domain or the account blocked or suspended
    followers_count: int = 0  # followers we lost
    following_count: int = 0  # accounts we no longer follow


@dataclass(frozen=True)
class Other(Event):
    """A notification type we record but do not act on (poll, moderation warning, …)."""

    kind: ClassVar[str] = "other"
    type: str = ""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        Follow,
        FollowRequest,
        Mention,
        Reply,
        Reblog,
        Favourite,
        Quote,
        Share,
        DirectCommand,
        ModerationWarning,
        SeveredRelationships,
        Other,
    )
}


# One vocabulary, mapped here only: Mastodon and the config's `[[rules]] on` say "reblog"; people, the
# ledger, `who`, `stats` and the DM commands say "boost". Every other kind is the same word both ways.
EVENT_WORDS: dict[str, str] = {Reblog.kind: "boost"}
_KINDS_OF_WORDS: dict[str, str] = {word: kind for kind, word in EVENT_WORDS.items()}


def word_for(kind: str) -> str:
    """The word people use for an event kind: "reblog" -> "boost" (the ledger's kind)."""
    return EVENT_WORDS.get(kind, kind)


def kind_for(word: str) -> str:
    """The event kind for a word people use: "boost" -> "reblog"; a kind is itself."""
    return _KINDS_OF_WORDS.get(word, word)


def kind_and_word(kind: str) -> str:
    """A kind with its word when they differ, for help and tables: "reblog (boost)"."""
    word = word_for(kind)
    return kind if word == kind else f"{kind} ({word})"


def event_to_json(event: Event) -> str:
    """Serialise an event for the store (the kind travels with it): the JSON `dataclasses.asdict` gave,
    without its deep copies (a third of the CPU of recording a page of notifications)."""
    data = _plain(event)
    data["kind"] = event.kind
    return json.dumps(data, default=_json_default, sort_keys=True)


def _plain(value: Any) -> Any:
    """Our frozen dataclasses as dicts, their tuples as lists; leaves (str, int, datetime …) as they are."""
    names = _FIELD_NAMES.get(type(value))
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[type(value)] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def event_from_json(text: str) -> Event:
    """Rebuild an event that `event_to_json` wrote."""
    data = json.loads(text)
    cls = EVENT_TYPES[data.pop("kind")]
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    data["account"] = Account(**{**data["account"], "fields": tuple(data["account"]["fields"])})
    if "status" in data:
        status = dict(data["status"])
        status["mentions"] = tuple(status["mentions"])
        if status.get("created_at"):
            status["created_at"] = datetime.fromisoformat(status["created_at"])
        data["status"] = Status(**status)
    return cls(**data)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def narrower_visibility(a: str, b: str) -> str:
    """The narrower of two visibilities (a reply is never wider than what it answers)."""
    return a if VISIBILITIES.index(a) >= VISIBILITIES.index(b) else b


@dataclass(frozen=True)
class Offer:
    """One text offered for an answering draft: rank 0 is the rule's own, 1… the answers found, best first."""

    rank: int
    source: str  # template | knowledge | learned | reply
    label: str  # the rule's or entry's name, or "as you answered Rita on 3 May"
    score: float
    text: str
    entry: str = ""  # the entry's key ("knowledge:<name>", "learned:<id>", "reply:<id>")
    chosen: bool = False  # the draft's text is this one


@dataclass(frozen=True)
class NewDraft:
    """What the rules ask the store to save."""

    rule: str
    account_id: str
    acct: str
    display_name: str
    text: str
    template: str
    visibility: str
    in_reply_to_id: str | None = None
    spoiler_text: str = ""
    action: str = "post"
    triage: int = 2
    thread_key: str | None = None
    offers: tuple[Offer, ...] = ()  # for a rule with answer_from: what the text may be (saved apart)

    def columns(self) -> dict[str, Any]:
        """The fields the drafts table keeps (the offers have their own)."""
        return {k: v for k, v in self.__dict__.items() if k != "offers"}


@dataclass(frozen=True)
class StoredAnswer:
    """An answer the store knows: a past reply remembered when approved, or one an approver taught it."""

    id: int
    kind: str  # reply | learned
    question: str
    text: str  # a template: the person's name as {name}
    language: str | None
    person: str  # whom it answered
    answered_at: datetime
    draft_id: int | None


@dataclass(frozen=True)
class DraftContext:
    """What an approver needs beside a draft to decide it: what the person wrote and where, and who
    they are to us (from the ledger). Plain text, not yet made safe for a DM."""

    quote: str = ""  # what they wrote ("" for a follow)
    link: str = ""  # their post
    who: str = ""  # "first contact" or "3rd mention in 30 days · follows us since May 2026 · …"
    filtered: bool = False  # made from a notification the account's notification policy held back


@dataclass(frozen=True)
class PersonHistory:
    """What the rules need to know of our past with one person."""

    last_drafted: dict[str, datetime]  # rule name → when we last drafted for them (not rejected)
    templates_used: frozenset[str]
    engaged_before: bool
    stopped_at: datetime | None = None  # when they answered one of our posts with a stop word


@dataclass(frozen=True)
class Draft:
    """A draft as the other stages see it."""

    id: int
    state: str
    rule: str
    account_id: str
    acct: str
    display_name: str
    in_reply_to_id: str | None
    visibility: str
    spoiler_text: str
    text: str
    template: str
    action: str
    triage: int
    thread_key: str | None
    created_at: datetime
    sending_at: datetime | None
    sent_at: datetime | None
    dm_sent_at: datetime | None
    shown_at: datetime | None  # the instance's time of the DM that showed it (commands are compared)
    decided_by: str | None
    command_status_id: str | None
    status_id: str | None
    status_url: str | None
    error: str | None
    event_id: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "rule": self.rule,
            "acct": self.acct,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
            "in_reply_to_id": self.in_reply_to_id,
            "status_id": self.status_id,
        }


@dataclass(frozen=True)
class Person:
    """A person as the ledger knows them."""

    account_id: str
    acct: str
    display_name: str
    followers_count: int
    bot: bool
    first_seen: datetime
    follows_us_since: datetime | None
    we_follow: bool


@dataclass(frozen=True)
class Follower:
    """One of our followers as a scan of the followers list saw them."""

    account_id: str
    acct: str
    moved_to: str | None = None  # the account id they moved to (Mastodon's `moved`), if they did

    @property
    def domain(self) -> str:
        return self.acct.partition("@")[2].lower()
