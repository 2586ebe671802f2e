"""Instance (convert, pure): instance JSON to our frozen event dataclasses, at the edge."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from bot.model import (
    VISIBILITIES,
    Account,
    DirectCommand,
    Event,
    Favourite,
    Follow,
    FollowRequest,
    Mention,
    ModerationWarning,
    Other,
    Quote,
    Reblog,
    Reply,
    SeveredRelationships,
    Status,
    StatusEvent,
)
from bot.text import html_to_text

LOGGER = logging.getLogger(__name__)

# Stands in for a missing or unparsable timestamp: the edge is pure, so it cannot read the clock.
UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)

_E = TypeVar("_E", bound=Event)

_STATUS_EVENTS: dict[str, type[StatusEvent]] = {"reblog": Reblog, "favourite": Favourite}


def to_account(data: Mapping[str, Any]) -> Account:
    """An Account entity as plain text (bio and profile fields without HTML)."""
    username = _text(data.get("username"))
    return Account(
        id=_id(data.get("id")) or "",
        acct=_text(data.get("acct")) or username,
        username=username,
        display_name=_text(data.get("display_name")),
        note=html_to_text(_text(data.get("note"))),
        fields=_fields(data.get("fields")),
        bot=data.get("bot") is True,
        followers_count=_count(data.get("followers_count")),
        url=_text(data.get("url")),
    )


def to_status(data: Mapping[str, Any]) -> Status:
    """A Status entity as plain text plus what replies need."""
    return Status(
        id=_id(data.get("id")) or "",
        text=html_to_text(_text(data.get("content"))),
        visibility=_visibility(data.get("visibility")),
        language=_text(data.get("language")) or None,
        in_reply_to_id=_id(data.get("in_reply_to_id")),
        in_reply_to_account_id=_id(data.get("in_reply_to_account_id")),
        spoiler_text=_text(data.get("spoiler_text")),
        mentions=_mentions(data.get("mentions")),
        url=_text(data.get("url")),
        created_at=_datetime(data.get("created_at")),
    )


def to_event(notification: Mapping[str, Any], *, self_id: str, approver_ids: frozenset[str]) -> Event | None:
    """Our event for a Notification entity, or None (logged) when it is unusable."""
    try:
        return _to_event(notification, self_id=self_id, approver_ids=approver_ids)
    except Exception as exc:  # a malformed notification must never stop the listener
        LOGGER.warning("skipping malformed notification: %s: %.200s", type(exc).__name__, exc)
        return None


def _to_event(notification: Mapping[str, Any], *, self_id: str, approver_ids: frozenset[str]) -> Event | None:
    if not isinstance(notification, Mapping):
        LOGGER.warning("skipping notification that is a %s, not a mapping", type(notification).__name__)
        return None
    notification_id = _id(notification.get("id"))
    raw_type = notification.get("type")
    kind = raw_type if isinstance(raw_type, str) else ""
    raw_account = notification.get("account")
    account = to_account(raw_account) if isinstance(raw_account, Mapping) else None
    if not notification_id or account is None or not account.id:
        LOGGER.warning("skipping notification without id or account (id=%r, type=%r)", notification_id, kind)
        return None
    raw_status = notification.get("status")
    status = to_status(raw_status) if isinstance(raw_status, Mapping) else None
    created_at = _datetime(notification.get("created_at")) or (status and status.created_at) or UNKNOWN_TIME

    # Mastodon 4.3+ marks what the notification policy held back (read with include_filtered).
    filtered = notification.get("filtered") is True

    def build(cls: type[_E], **extra: Any) -> _E:
        return cls(id=notification_id, created_at=created_at, account=account, filtered=filtered, **extra)

    # Mastodon never notifies us of our own follows or mentions; if something claims so, never engage.
    if account.id == self_id and kind in ("follow", "follow_request", "mention", "reblog", "favourite"):
        return build(Other, type=kind)
    if kind == "follow":
        return build(Follow)
    if kind == "follow_request":
        return build(FollowRequest)
    if kind == "mention":
        if status is None:  # the status was deleted (or never came): nothing to answer
            return build(Other, type=kind)
        # The sender is the notification's account id, never anything read from the HTML; the raw
        # visibility is checked, not the normalised one, so only a real DM is a command.
        raw_visibility = raw_status.get("visibility") if isinstance(raw_status, Mapping) else None
        if raw_visibility == "direct" and account.id in approver_ids:
            return build(DirectCommand, status=status)
        return build(Mention, status=status)
    if kind in _STATUS_EVENTS:
        if status is None:  # a boost or favourite of a deleted status: record, never act
            return build(Other, type=kind)
        return build(_STATUS_EVENTS[kind], status=status)
    if kind == "quote":  # 4.5+: `status` is their post, quoting ours
        if status is None or account.id == self_id or not isinstance(raw_status, Mapping):
            return build(Other, type=kind)
        # Keyed by the quoting post, as the quotes of our posts read later are: met twice, recorded once.
        return Quote(
            id=f"quote:{status.id}",
            created_at=created_at,
            account=account,
            status=status,
            quoted_status_id=quoted_status_id(raw_status) or "",
            filtered=filtered,
        )
    if kind == "moderation_warning":
        warning = notification.get("moderation_warning")
        warning = warning if isinstance(warning, Mapping) else {}
        return build(
            ModerationWarning,
            action=_text(warning.get("action")),
            text=html_to_text(_text(warning.get("text"))),
        )
    if kind == "severed_relationships":
        severance = notification.get("relationship_severance_event")
        severance = severance if isinstance(severance, Mapping) else {}
        return build(
            SeveredRelationships,
            cause=_text(severance.get("type")),
            target_name=_text(severance.get("target_name")),
            followers_count=_count(severance.get("followers_count")),
            following_count=_count(severance.get("following_count")),
        )
    # quoted_update, annual_report, added_to_collection, admin.*, and types not invented yet.
    return build(Other, type=kind)


def quoted_status_id(status: Mapping[str, Any]) -> str | None:
    """The id of the post `status` quotes: a Quote (`quoted_status`) or a ShallowQuote (`quoted_status_id`).

    Only an accepted quote counts: a pending, rejected or revoked one is not shown to anybody.
    """
    quote = status.get("quote")
    if not isinstance(quote, Mapping) or quote.get("state") not in ("accepted", None):
        return None
    quoted = quote.get("quoted_status")
    if isinstance(quoted, Mapping):
        return _id(quoted.get("id"))
    return _id(quote.get("quoted_status_id"))


def quoted_status(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The whole post `status` quotes, with its author, when the quote is accepted (else None)."""
    quote = status.get("quote")
    if not isinstance(quote, Mapping) or quote.get("state") not in ("accepted", None):
        return None
    quoted = quote.get("quoted_status")
    return quoted if isinstance(quoted, Mapping) and isinstance(quoted.get("account"), Mapping) else None


def to_quote(status: Mapping[str, Any], *, self_id: str, our_status_id: str) -> Quote | None:
    """A Quote for a post read from `GET /statuses/:id/quotes` of our post (no notification of its own).

    Its id is "quote:<status id>", as for a `quote` notification of the same post: recorded once.
    """
    try:
        if not isinstance(status, Mapping):
            return None
        quote = status.get("quote")
        if isinstance(quote, Mapping) and quote.get("state") not in ("accepted", None):
            return None  # pending, rejected or revoked: nobody is shown it, nothing to thank for
        authored = _authored(status, self_id)
        if authored is None:
            return None
        status_id, author, parsed = authored
        return Quote(
            id=f"quote:{status_id}",
            created_at=parsed.created_at or UNKNOWN_TIME,
            account=author,
            status=parsed,
            quoted_status_id=quoted_status_id(status) or our_status_id,
        )
    except Exception as exc:  # same contract as to_event: log, skip, keep listening
        LOGGER.warning("skipping malformed quote: %s: %.200s", type(exc).__name__, exc)
        return None


def _authored(status: Mapping[str, Any], self_id: str) -> tuple[str, Account, Status] | None:
    """A status's id, author and parsed form, when it has both and someone else wrote it."""
    status_id = _id(status.get("id"))
    raw_author = status.get("account")
    if not status_id or not isinstance(raw_author, Mapping):
        return None
    author = to_account(raw_author)
    if not author.id or author.id == self_id:
        return None
    return status_id, author, to_status(status)


def to_reply(status: Mapping[str, Any], *, self_id: str) -> Reply | None:
    """A Reply for a user-stream `update` that answers one of our statuses without notifying us."""
    try:
        return _to_reply(status, self_id=self_id)
    except Exception as exc:  # same contract as to_event: log, skip, keep listening
        LOGGER.warning("skipping malformed status update: %s: %.200s", type(exc).__name__, exc)
        return None


def _to_reply(status: Mapping[str, Any], *, self_id: str) -> Reply | None:
    if not isinstance(status, Mapping) or not self_id:
        return None
    if _id(status.get("in_reply_to_account_id")) != self_id:
        return None
    # A direct reply mentions us, so it also comes as a mention notification (a DirectCommand when an
    # approver sends it); turning it into a Reply as well would draft an answer to a command.
    if status.get("visibility") == "direct":
        return None
    # A reply that mentions us arrives as a mention notification too: one event per status.
    mentions = status.get("mentions") or []
    if any(isinstance(m, Mapping) and _id(m.get("id")) == self_id for m in mentions):
        return None
    authored = _authored(status, self_id)
    if authored is None:
        return None
    status_id, author, parsed = authored
    return Reply(
        id=f"status:{status_id}",
        created_at=parsed.created_at or UNKNOWN_TIME,
        account=author,
        status=parsed,
    )


def _id(value: object) -> str | None:
    """Ids are opaque strings; older Mastodon.py and some servers send ints."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _count(value: object) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return 0


def _datetime(value: object) -> datetime | None:
    """An aware UTC datetime from a datetime or an ISO string ("Z" included); None if unreadable."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):  # e.g. year 1 with a positive offset
        return None


moment = _datetime  # the writer reads the instance's time of what it posted the same way


def _visibility(value: object) -> str:
    if value is None:
        return "public"
    # An unknown value (a fork's "limited", "local", …) counts as the narrowest, so a reply
    # drafted for it can never be wider than what it answers.
    return value if isinstance(value, str) and value in VISIBILITIES else "direct"


def _fields(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    fields = []
    for field in value:
        if isinstance(field, Mapping):
            name = " ".join(_text(field.get("name")).split())  # names are plain text, values HTML
            fields.append(f"{name}: {html_to_text(_text(field.get('value')))}")
    return tuple(fields)


def _mentions(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(
        mention["acct"]
        for mention in value
        if isinstance(mention, Mapping) and isinstance(mention.get("acct"), str) and mention["acct"]
    )
