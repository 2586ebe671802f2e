"""Unit and property tests for bot.instance.convert (Mastodon entities to our events)."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.instance.convert import (
    UNKNOWN_TIME,
    quoted_status_id,
    to_account,
    to_event,
    to_quote,
    to_reply,
    to_status,
)
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
    event_from_json,
    event_to_json,
)
from bot.text import strip_leading_mentions

FIXTURES = Path(__file__).parent / "fixtures"
SELF_ID = "113998801242326861"  # mastodonpy_test in the DM fixture: the account the DM was sent to
DM_SENDER_ID = "113998801391516277"
NOBODY: frozenset[str] = frozenset()


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def convert(notification: Any, approvers: frozenset[str] = NOBODY) -> Event | None:
    return to_event(notification, self_id=SELF_ID, approver_ids=approvers)


# --- notifications from real servers ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected_class", "expected_type"),
    [
        ("notification_follow.json", Follow, None),
        ("notification_follow_request.json", FollowRequest, None),
        ("notification_mention_public.json", Mention, None),
        ("notification_mention_direct.json", Mention, None),  # a DM, but not from an approver
        ("notification_mention_remote_pleroma.json", Mention, None),
        ("notification_poll.json", Other, "poll"),
        ("notification_status.json", Other, "status"),
    ],
)
def test_real_notifications(name: str, expected_class: type[Event], expected_type: str | None) -> None:
    data = fixture(name)
    event = convert(data)
    assert type(event) is expected_class
    assert event.id == data["id"]
    assert event.account.id == data["account"]["id"]
    assert event.created_at.tzinfo is not None
    assert event.created_at == datetime.fromisoformat(data["created_at"])
    if expected_type is not None:
        assert isinstance(event, Other)
        assert event.type == expected_type
    assert event_from_json(event_to_json(event)) == event  # the store can keep it


def test_follow_fields() -> None:
    event = convert(fixture("notification_follow.json"))
    assert event == Follow(
        id="19",
        created_at=datetime(2025, 8, 17, 18, 42, 39, 116000, tzinfo=UTC),
        account=Account(
            id="115045157726281124",
            acct="admin",
            username="admin",
            url="http://localhost:3000/@admin",
        ),
    )


def test_public_mention_status() -> None:
    event = convert(fixture("notification_mention_public.json"))
    assert isinstance(event, Mention)
    assert event.status == Status(
        id="117020576916218297",
        text="@mastodonpy_test hello!",
        visibility="public",
        language="en",
        mentions=("mastodonpy_test",),
        url="http://localhost:3000/@admin/117020576916218297",
        created_at=datetime(2026, 8, 1, 13, 51, 39, 138000, tzinfo=UTC),
    )


def test_dm_from_approver_is_a_command() -> None:
    event = convert(fixture("notification_mention_direct.json"), frozenset({DM_SENDER_ID}))
    assert isinstance(event, DirectCommand)
    assert event.status.visibility == "direct"
    assert event.status.in_reply_to_account_id == SELF_ID
    assert strip_leading_mentions(event.status.text) == "pssssst!"


def test_dm_from_non_approver_is_a_mention() -> None:
    event = convert(fixture("notification_mention_direct.json"), frozenset({"someone-else"}))
    assert type(event) is Mention
    assert event.status.visibility == "direct"


def test_command_sender_comes_only_from_notification_account() -> None:
    data = fixture("notification_mention_direct.json")
    data["account"]["id"] = "999"  # the status author and the HTML still name the approver
    event = convert(data, frozenset({DM_SENDER_ID}))
    assert type(event) is Mention
    assert event.account.id == "999"


def test_public_mention_from_approver_is_not_a_command() -> None:
    data = fixture("notification_mention_public.json")
    event = convert(data, frozenset({data["account"]["id"]}))
    assert type(event) is Mention


def test_remote_pleroma_mention() -> None:
    event = convert(fixture("notification_mention_remote_pleroma.json"))
    assert isinstance(event, Mention)
    assert event.account.acct == "a@pl.nulled.red"
    assert event.account.bot is True
    assert event.account.fields == ("mastodon: @trwnh@mastodon.social",)
    assert event.status.text == "@trwnh test"
    assert event.status.visibility == "unlisted"
    assert event.status.language is None


# --- synthetic shapes real servers send but the fixtures lack ---------------------------------


def mention_as(kind: str) -> dict[str, Any]:
    data = fixture("notification_mention_public.json")
    data["type"] = kind
    return data


@pytest.mark.parametrize(("kind", "expected_class"), [("reblog", Reblog), ("favourite", Favourite)])
def test_reblog_and_favourite_carry_our_status(kind: str, expected_class: type[StatusEvent]) -> None:
    event = convert(mention_as(kind))
    assert type(event) is expected_class
    assert isinstance(event, StatusEvent)
    assert event.status.id == "117020576916218297"


@pytest.mark.parametrize("kind", ["mention", "reblog", "favourite"])
def test_deleted_status_is_recorded_not_acted_on(kind: str) -> None:
    data = mention_as(kind)
    data["status"] = None
    event = convert(data)
    assert isinstance(event, Other)
    assert event.type == kind


@pytest.mark.parametrize(
    "kind",
    [
        "update",
        "quoted_update",
        "annual_report",
        "added_to_collection",
        "admin.sign_up",
        "admin.report",
        "brand_new_type",
        "",
    ],
)
def test_other_types(kind: str) -> None:
    event = convert(mention_as(kind))
    assert isinstance(event, Other)
    assert event.type == kind


def test_missing_type_is_other() -> None:
    data = fixture("notification_follow.json")
    del data["type"]
    event = convert(data)
    assert isinstance(event, Other)
    assert event.type == ""


@pytest.mark.parametrize("kind", ["follow", "mention", "favourite"])
def test_our_own_account_never_engages(kind: str) -> None:
    data = mention_as(kind)
    data["account"]["id"] = SELF_ID
    event = convert(data)
    assert isinstance(event, Other)
    assert event.type == kind


def test_int_ids_become_strings() -> None:
    data = fixture("notification_mention_public.json")
    data["id"] = 20
    data["account"]["id"] = 117020565693913441
    data["status"]["id"] = 117020576916218297
    data["status"]["in_reply_to_account_id"] = 1
    event = convert(data)
    assert isinstance(event, Mention)
    assert (event.id, event.account.id, event.status.id) == ("20", "117020565693913441", "117020576916218297")
    assert event.status.in_reply_to_account_id == "1"


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        ("2025-08-17T18:42:39Z", datetime(2025, 8, 17, 18, 42, 39, tzinfo=UTC)),
        ("2025-08-17T20:42:39+02:00", datetime(2025, 8, 17, 18, 42, 39, tzinfo=UTC)),
        (datetime(2025, 8, 17, 18, 42, 39), datetime(2025, 8, 17, 18, 42, 39, tzinfo=UTC)),
        (
            datetime(2025, 8, 17, 20, 42, 39, tzinfo=timezone(timedelta(hours=2))),
            datetime(2025, 8, 17, 18, 42, 39, tzinfo=UTC),
        ),
        ("yesterday", UNKNOWN_TIME),
        (None, UNKNOWN_TIME),
        (12345, UNKNOWN_TIME),
    ],
)
def test_created_at(created_at: Any, expected: datetime) -> None:
    data = fixture("notification_follow.json")
    data["created_at"] = created_at
    event = convert(data)
    assert event is not None
    assert event.created_at == expected
    assert event.created_at.utcoffset() == timedelta(0)


def test_unreadable_created_at_falls_back_to_the_status_time() -> None:
    data = fixture("notification_mention_public.json")
    data["created_at"] = None
    event = convert(data)
    assert event is not None
    assert event.created_at == datetime(2026, 8, 1, 13, 51, 39, 138000, tzinfo=UTC)


@pytest.mark.parametrize(
    "notification",
    [
        None,
        [],
        "mention",
        42,
        {},
        {"id": "1", "type": "follow"},
        {"id": "1", "type": "follow", "account": None},
        {"id": "1", "type": "follow", "account": "fan"},
        {"id": "1", "type": "follow", "account": {"username": "fan"}},
        {"id": None, "type": "follow", "account": {"id": "2"}},
        {"id": "", "type": "follow", "account": {"id": "2"}},
        {"id": True, "type": "follow", "account": {"id": "2"}},
        {"id": 1.5, "type": "follow", "account": {"id": "2"}},
    ],
)
def test_unusable_notifications_are_skipped_with_a_warning(
    notification: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.instance.convert"):
        assert convert(notification) is None
    assert len(caplog.records) == 1


def test_minimal_notification_is_usable() -> None:
    event = convert({"id": 1, "type": "follow", "account": {"id": 2}})
    assert event == Follow(id="1", created_at=UNKNOWN_TIME, account=Account(id="2", acct="", username=""))


# --- accounts and statuses ---------------------------------------------------------------------


def test_account_with_fields() -> None:
    account = to_account(fixture("account_with_fields.json"))
    assert account.note.startswith("Our mission is to connect the world")
    assert "\n\nThis is the primary account" in account.note
    assert account.fields == (
        "Homepage: https://joinmastodon.org",
        "Source Code: https://github.com/mastodon",
        "Blog: https://blog.joinmastodon.org",
        "Donate: https://joinmastodon.org/sponsors#donate",
    )
    assert account.bot is False
    assert account.followers_count > 0


def test_account_defaults() -> None:
    account = to_account({"id": "7", "username": "fan", "fields": [None, {"name": "x"}], "bot": "yes"})
    assert account == Account(id="7", acct="fan", username="fan", fields=("x: ",))


def test_status_with_content_warning() -> None:
    status = to_status(fixture("status_with_content_warning.json"))
    assert status.text == "Toot!"
    assert status.spoiler_text == "Content warning"
    assert status.visibility == "public"


@pytest.mark.parametrize(
    ("visibility", "expected"),
    [
        ("public", "public"),
        ("unlisted", "unlisted"),
        ("private", "private"),
        ("direct", "direct"),
        (None, "public"),
        ("limited", "direct"),  # unknown values count as the narrowest
        ("PUBLIC", "direct"),
        (3, "direct"),
    ],
)
def test_status_visibility(visibility: Any, expected: str) -> None:
    assert to_status({"id": "1", "visibility": visibility}).visibility == expected


def test_status_missing_everything() -> None:
    assert to_status({}) == Status(id="", text="")


# --- replies seen on the user stream ------------------------------------------------------------


def reply_to_self(**changes: Any) -> dict[str, Any]:
    status = fixture("status_with_content_warning.json")
    status["in_reply_to_id"] = "42"
    status["in_reply_to_account_id"] = SELF_ID
    status.update(changes)
    return status


def test_reply_to_us() -> None:
    status = reply_to_self()
    reply = to_reply(status, self_id=SELF_ID)
    assert isinstance(reply, Reply)
    assert reply.id == f"status:{status['id']}"
    assert reply.account.id == status["account"]["id"]
    assert reply.created_at == datetime(2026, 8, 1, 13, 53, 57, 755000, tzinfo=UTC)
    assert reply.status.in_reply_to_id == "42"
    assert reply.status.text == "Toot!"
    assert event_from_json(event_to_json(reply)) == reply


@pytest.mark.parametrize(
    "status",
    [
        fixture("status_with_content_warning.json"),  # not a reply
        fixture("status_with_links_hashtags.json"),
        reply_to_self(in_reply_to_account_id="someone-else"),
        reply_to_self(account={"id": SELF_ID, "username": "me"}),  # our own thread continuation
        reply_to_self(account=None),
        reply_to_self(id=None),
        reply_to_self(visibility="direct"),  # arrives as a mention notification too
        fixture("conversation.json")["last_status"],  # a real DM reply to the viewer
        {},
        None,
        ["not", "a", "status"],
    ],
)
def test_not_a_reply(status: Any) -> None:
    assert to_reply(status, self_id=SELF_ID) is None


def test_reply_with_int_ids() -> None:
    reply = to_reply(reply_to_self(id=5, in_reply_to_account_id=int(SELF_ID)), self_id=SELF_ID)
    assert reply is not None
    assert reply.id == "status:5"


# --- every fixture converts ----------------------------------------------------------------------


def entities(value: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every nested Account, Status and Notification entity in a JSON value, found by shape."""
    if isinstance(value, list):
        for item in value:
            yield from entities(item)
    elif isinstance(value, dict):
        if "type" in value and "account" in value and "created_at" in value:
            yield "notification", value
        elif "content" in value and "visibility" in value:
            yield "status", value
        elif "username" in value and "acct" in value:
            yield "account", value
        for item in value.values():
            yield from entities(item)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda path: path.name)
def test_every_fixture_converts(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    for shape, entity in entities(data):
        if shape == "notification":
            event = convert(entity)
            assert isinstance(event, Event)
            assert event_from_json(event_to_json(event)) == event
        elif shape == "status":
            status = to_status(entity)
            assert status.id == entity["id"]
            assert status.visibility in VISIBILITIES
            assert "</" not in status.text and "class=" not in status.text
        else:
            account = to_account(entity)
            assert account.id == entity["id"]
            assert "<p>" not in account.note
    # A grouped (v2) notification is not a v1 notification: it is skipped, never mistaken for one.
    if isinstance(data, dict) and "notification_groups" in data:
        for group in data["notification_groups"]:
            assert convert(group) is None


def test_fixtures_cover_every_entity_kind() -> None:
    kinds = {shape for path in FIXTURES.glob("*.json") for shape, _ in entities(json.loads(path.read_text()))}
    assert kinds == {"notification", "status", "account"}


# --- properties ----------------------------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["direct", "public", "mention", "follow", "reblog", "favourite", "2025-01-01T00:00:00Z"]),
    st.sampled_from(
        ["<p>@<span>bot</span> approve 1</p>", SELF_ID, DM_SENDER_ID, "0001-01-01T00:00:00+05:00"]
    ),
)
KEYS = st.one_of(
    st.sampled_from(
        [
            *("id", "type", "created_at", "account", "status", "visibility", "content", "fields", "name"),
            *(
                "value",
                "mentions",
                "acct",
                "username",
                "note",
                "bot",
                "followers_count",
                "in_reply_to_account_id",
            ),
        ]
    ),
    st.text(max_size=8),
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=12,
)
NOTIFICATION_SHAPED = st.fixed_dictionaries(
    {"id": JSON_SCALARS, "type": JSON_SCALARS, "account": JSON, "status": JSON, "created_at": JSON_SCALARS}
)


@settings(max_examples=2000, deadline=None)  # fuzzing: thousands of hostile notifications
@given(st.one_of(JSON, NOTIFICATION_SHAPED))
def test_to_event_never_raises(notification: Any) -> None:
    event = to_event(notification, self_id=SELF_ID, approver_ids=frozenset({DM_SENDER_ID}))
    assert event is None or isinstance(event, Event)
    if event is not None:
        assert isinstance(event.id, str) and event.id
        assert event.created_at.tzinfo is not None
        if isinstance(event, DirectCommand):
            assert event.account.id == DM_SENDER_ID
            assert notification["status"]["visibility"] == "direct"


@settings(max_examples=150, deadline=None)  # extra coverage; the to_event property runs 300
@given(st.one_of(JSON, NOTIFICATION_SHAPED))
def test_to_reply_never_raises(status: Any) -> None:
    reply = to_reply(status, self_id=SELF_ID)
    assert reply is None or (isinstance(reply, Reply) and reply.account.id != SELF_ID)


@settings(max_examples=150, deadline=None)  # extra coverage; the to_event property runs 300
@given(st.dictionaries(KEYS, JSON, max_size=5))
def test_entity_converters_never_raise_on_mappings(data: dict[str, Any]) -> None:
    assert isinstance(to_account(data), Account)
    assert isinstance(to_status(data), Status)


def test_converters_do_not_mutate_input() -> None:
    data = fixture("notification_mention_direct.json")
    before = copy.deepcopy(data)
    convert(data, frozenset({DM_SENDER_ID}))
    assert data == before


class Exploding(Mapping[str, Any]):
    """A mapping that fails on every read, like a broken client-side entity wrapper."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        return 1


def test_exceptions_inside_conversion_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.instance.convert"):
        assert to_event(Exploding(), self_id=SELF_ID, approver_ids=NOBODY) is None
        assert to_reply(Exploding(), self_id=SELF_ID) is None
    assert [record.getMessage().count("\n") for record in caplog.records] == [0, 0]


# --- 4.3+ types: moderation warnings, severed relationships, quotes ----------------------------


def test_moderation_warning_carries_its_action_and_text() -> None:
    data = fixture("notification_moderation_warning.json")
    data["moderation_warning"]["text"] = "<p>Please stop posting <b>ads</b>.</p>"
    event = convert(data)
    assert isinstance(event, ModerationWarning)
    assert (event.action, event.text) == ("silence", "Please stop posting ads.")
    assert event_from_json(event_to_json(event)) == event


def test_recorded_moderation_warning_with_no_text() -> None:
    event = convert(fixture("notification_moderation_warning.json"))
    assert isinstance(event, ModerationWarning)
    assert (event.id, event.action, event.text) == ("16", "silence", "")


def test_severed_relationships_carries_the_counts() -> None:
    event = convert(fixture("notification_severed_relationships.json"))
    assert isinstance(event, SeveredRelationships)
    assert (event.cause, event.target_name, event.followers_count, event.following_count) == (
        "domain_block",
        "spam.example",
        12,
        3,
    )
    assert event_from_json(event_to_json(event)) == event


@pytest.mark.parametrize("broken", [None, "text", {"followers_count": "many", "type": 3}])
def test_severed_relationships_without_a_usable_event_is_still_recorded(broken: Any) -> None:
    data = fixture("notification_severed_relationships.json")
    data["relationship_severance_event"] = broken
    event = convert(data)
    assert isinstance(event, SeveredRelationships)
    assert (event.followers_count, event.following_count, event.cause) == (0, 0, "")


def test_quote_notification_is_keyed_by_the_quoting_post() -> None:
    data = fixture("notification_quote.json")
    event = convert(data)
    assert isinstance(event, Quote)
    assert event.id == "quote:115000000000000042"
    assert event.quoted_status_id == "103270115826048975"
    assert event.status.text.startswith("This is the best explanation of sort codes")
    assert event.account.acct == "admin"
    assert event_from_json(event_to_json(event)) == event
    # The same post read from GET /statuses/:id/quotes is the same event.
    again = to_quote(data["status"], self_id=SELF_ID, our_status_id="103270115826048975")
    assert again is not None and again.id == event.id and again.quoted_status_id == event.quoted_status_id


@pytest.mark.parametrize(
    ("quote", "expected"),
    [
        ({"state": "accepted", "quoted_status": {"id": "7"}}, "7"),
        ({"state": "accepted", "quoted_status_id": "8"}, "8"),  # a ShallowQuote
        ({"state": "pending", "quoted_status": None}, None),
        ({"state": "revoked", "quoted_status_id": "8"}, None),
        (None, None),
        ("x", None),
    ],
)
def test_quoted_status_id(quote: Any, expected: str | None) -> None:
    assert quoted_status_id({"id": "1", "quote": quote}) == expected


def test_quote_without_a_status_or_from_ourselves_is_other() -> None:
    data = fixture("notification_quote.json")
    data["status"] = None
    assert isinstance(convert(data), Other)
    data = fixture("notification_quote.json")
    data["account"]["id"] = SELF_ID
    assert isinstance(convert(data), Other)
