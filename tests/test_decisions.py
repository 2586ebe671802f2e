"""An approval decides only what the approver saw; one service per account and store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot.model import NewDraft
from bot.service.app import LEASE_FOR, StartupError
from bot.store import Store, utcnow
from bot.store.state import Lease
from bot.text import html_to_text
from tests.conftest import Community, Person
from tests.mastodon_rules import mastodon_mentions


def bot_posts(community: Community) -> list[dict]:
    return list(community.bot.api.account_statuses(community.bot.id, limit=40))


def public_posts(community: Community) -> list[dict]:
    return [s for s in bot_posts(community) if s["visibility"] != "direct"]


def dms_to(person: Person) -> list[str]:
    return [
        html_to_text(n["status"]["content"])
        for n in person.api.notifications(types=["mention"], limit=80)
        if n["status"] and n["status"]["visibility"] == "direct"
    ]


def test_a_fresh_store_executes_none_of_the_accounts_old_dms(community: Community) -> None:
    """Moving to a new store: the account's history is read again, with the approver's old commands.
    Its drafts #1, #2, #3 are new and nobody has seen them: the old DMs decide nothing."""
    fan = community.person("fan")
    for n in range(40):  # a full page of history, so its drafts exist before the old DMs are read
        fan.api.status_post(f"@bot question {n}, are you open?", visibility="public")
    community.approver.api.status_post("@bot approve 1", visibility="direct")
    community.approver.api.status_post("@bot ok 2 3", visibility="direct")
    community.approver.api.status_post("@bot reject 4", visibility="direct")

    app = community.app()
    app.cycle()

    drafts = app.store.drafts()
    assert drafts and all(d.state == "pending" for d in drafts)
    assert public_posts(community) == []
    # The approver is asked about the new drafts, and hears nothing about the old DMs.
    texts = dms_to(community.approver)
    assert any("Draft #1" in t for t in texts)
    assert not any("Posted" in t or "no such draft" in t or "Rejected" in t for t in texts)
    # A command written now decides as usual.
    community.approver.api.status_post("@bot approve 1", visibility="direct")
    app.cycle()
    assert app.store.draft(1).state == "sent" and len(public_posts(community)) == 1


def test_a_command_decides_only_drafts_shown_before_it_was_written(community: Community) -> None:
    first, second = community.person("first"), community.person("second")
    first.api.status_post("@bot are you open on Sundays?")
    app = community.app(approval={"batch_window": "1h"})
    app.cycle()
    (shown,) = app.store.pending_drafts()
    assert shown.shown_at is not None
    second.api.status_post("@bot do you ship to Canada?")
    app.cycle(force_dms=False)  # drafted, but held back by the batch window: not shown yet
    hidden = next(d for d in app.store.pending_drafts() if d.id != shown.id)
    assert hidden.shown_at is None

    community.approver.api.status_post(f"@bot approve {shown.id} {hidden.id}", visibility="direct")
    app.cycle(force_dms=False)

    assert app.store.draft(shown.id).state == "sent"
    assert app.store.draft(hidden.id).state == "pending"
    assert any(
        f"#{hidden.id} was not shown to you before this message" in t for t in dms_to(community.approver)
    )
    assert len(public_posts(community)) == 1


def test_two_stores_never_share_an_idempotency_key(tmp_path: Path) -> None:
    now = utcnow()
    one = Store.open(f"sqlite:///{tmp_path / 'one.db'}")
    two = Store.open(f"sqlite:///{tmp_path / 'two.db'}")
    first = one.identity(now)
    assert one.identity(now + timedelta(days=1)) == first  # made once, then kept
    assert two.identity(now).store_id != first.store_id
    assert first.commands_since == now
    one.close()
    two.close()


# --- the lease -------------------------------------------------------------------------------------


def lease(holder: str, *, pid: int | None = None, host: str | None = None, minutes: int = 5) -> Lease:
    now = utcnow()
    return Lease(
        holder, pid or os.getpid(), host or socket.gethostname(), now, now + timedelta(minutes=minutes)
    )


@pytest.fixture
def store(store_url: str) -> Store:
    made = Store(store_url)
    made.upgrade()
    return made


def never_stale(_: Lease) -> bool:
    return False


def test_the_lease_has_one_holder_until_it_expires(store: Store) -> None:
    now = utcnow()
    a, b = lease("a", host="one.example"), lease("b", host="two.example")
    assert store.take_lease(a, now, stale=never_stale) == a
    assert store.take_lease(b, now, stale=never_stale).holder == "a"  # held: b is told by whom
    renewed = replace(a, expires=a.expires + timedelta(minutes=1))
    assert store.renew_lease(a, renewed)
    assert not store.renew_lease(a, renewed)  # what a holds now is `renewed`, not `a`
    later = renewed.expires + timedelta(seconds=1)
    assert store.take_lease(replace(b, expires=later + LEASE_FOR), later, stale=never_stale).holder == "b"
    assert not store.renew_lease(renewed, replace(renewed, expires=later + LEASE_FOR))  # a lost it
    store.release_lease("a")  # not a's to release
    assert store.take_lease(a, later, stale=never_stale).holder == "b"
    store.release_lease("b")
    assert store.take_lease(a, later, stale=never_stale).holder == "a"


def test_a_second_run_is_refused_naming_the_first_and_a_killed_ones_lease_is_free(
    community: Community,
) -> None:
    app = community.app()
    app.hold_lease()  # as `frontrow run` does: this test's process is the running service
    config = community.write_config()
    second = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), "run", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 2, second.stderr
    assert f"already running (pid {os.getpid()} on {socket.gethostname()}, since" in second.stderr
    assert "Traceback" not in second.stderr

    # A process killed on this machine left its lease: the next start takes it at once.
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    app.release_lease()
    now = utcnow()
    assert (
        app.store.take_lease(lease("killed", pid=int(gone.stdout)), now, stale=never_stale).holder == "killed"
    )
    app.hold_lease()
    assert app.store.take_lease(lease("other", host="elsewhere"), now, stale=never_stale).holder == app.holder
    # One that lives elsewhere is respected until it expires.
    app.release_lease()
    app.store.take_lease(lease("remote", host="elsewhere"), now, stale=never_stale)
    with pytest.raises(StartupError, match="already running"):
        app.hold_lease()


# --- edits and bulk commands that cannot lose a decision -------------------------------------------


SIGN = "^Alice, for the whole Riverside Books team"


def asked(community: Community, text: str = "@bot are you open on Sundays?") -> None:
    community.person("fan").api.status_post(text)


def test_an_edit_over_the_limit_is_refused_and_the_draft_stays_editable(community: Community) -> None:
    asked(community)
    app = community.app(approval={"approvers": [{"acct": "alice", "sign": SIGN}]})
    app.cycle()
    (draft,) = app.store.pending_drafts()
    # Fits in the approver's DM, not in the post: "@fan ", the text, a new line and the sign.
    long = "word " * 90 + "https://example.org/a-long-link"
    community.approver.api.status_post(f"@bot edit {draft.id} {long}", visibility="direct")
    app.cycle()
    over = 5 + 90 * 5 + 23 + 1 + len(SIGN) - 500  # as the instance counts: a link is 23
    assert any(
        f"#{draft.id}: {over} character(s) over the instance's limit of 500; the draft stays pending" in t
        for t in dms_to(community.approver)
    )
    assert app.store.draft(draft.id).state == "pending" and public_posts(community) == []

    community.approver.api.status_post(f"@bot edit {draft.id} \u200b\u200d", visibility="direct")
    app.cycle()
    assert any("that edit is empty" in t for t in dms_to(community.approver))
    assert app.store.draft(draft.id).state == "pending"

    community.approver.api.status_post(f"@bot edit {draft.id} Yes, 10 to 4.", visibility="direct")
    app.cycle()
    assert app.store.draft(draft.id).state == "sent"
    (post,) = public_posts(community)
    assert html_to_text(post["content"]) == f"@fan Yes, 10 to 4.\n{SIGN}"


def test_a_draft_the_instance_refuses_is_pending_again_with_the_reason(community: Community) -> None:
    asked(community)
    app = community.app(approval={"approvers": [{"acct": "alice", "sign": SIGN}]})
    app.announcer.char_limit = 5000  # believe a larger limit than the instance has: it will say no
    app.cycle()
    (draft,) = app.store.pending_drafts()
    community.approver.api.status_post(f"@bot edit {draft.id} {'long ' * 95}", visibility="direct")
    app.cycle()
    handed_back = app.store.draft(draft.id)
    assert handed_back.state == "pending" and handed_back.error
    assert any(f"#{draft.id} was refused by the instance" in t for t in dms_to(community.approver))
    community.approver.api.status_post(f"@bot edit {draft.id} Yes, on Sundays too.", visibility="direct")
    app.cycle()
    assert app.store.draft(draft.id).state == "sent" and len(public_posts(community)) == 1


def test_fifty_five_ids_in_one_approve_are_all_approved(community: Community) -> None:
    app = community.app()
    now = utcnow()
    ids = [
        app.store.save_draft(
            NewDraft(
                rule="thank-new-followers",
                account_id=str(1000 + n),
                acct=f"fan{n}",
                display_name=f"Fan {n}",
                text="Thanks!",
                template="",
                visibility="unlisted",
            ),
            now,
        )
        for n in range(55)
    ]
    app.store.mark_announced(ids, None, now, shown_at=now - timedelta(minutes=1))
    community.approver.api.status_post("@bot approve " + " ".join(map(str, ids)), visibility="direct")
    app.catch_up()
    assert [d.state for d in app.store.drafts()] == ["approved"] * 55


# --- exactly once, proven by content ----------------------------------------------------------------


def test_a_stale_sending_draft_is_not_taken_for_a_hand_written_reply_in_its_thread(
    community: Community,
) -> None:
    fan = community.person("fan")
    question = fan.api.status_post("@bot are you open on Sundays?")
    app = community.app()
    app.cycle()
    (draft,) = app.store.pending_drafts()
    app.store.decide(draft.id, "approved", now=utcnow(), by="alice")
    # The service died between marking the draft `sending` and the post reaching the instance, two
    # hours ago; meanwhile someone at the account answered the fan by hand.
    assert app.store.mark_sending(draft.id, utcnow() - timedelta(hours=2))
    by_hand = community.bot.api.status_post(
        "@fan Yes, from 10 to 4!", in_reply_to_id=question["id"], visibility="public"
    )

    app.outbox.flush()

    sent = app.store.draft(draft.id)
    assert sent.state == "sent" and sent.status_id != str(by_hand["id"])
    replies = [p for p in public_posts(community) if str(p["in_reply_to_id"]) == str(question["id"])]
    assert sorted(html_to_text(p["content"]) for p in replies) == sorted(
        ["@fan Yes, from 10 to 4!", f"@fan {draft.text}"]
    )
    app.outbox.flush()  # and once only
    assert len(public_posts(community)) == 2


# --- draft DMs that let a human decide ---------------------------------------------------------------


def test_a_draft_dm_quotes_the_person_links_their_post_and_says_who_they_are(community: Community) -> None:
    rita = community.person("rita", display_name="Rita")
    rita.api.account_follow(community.bot.id)
    asked = rita.api.status_post("@bot are you open on Sundays? thanks to ²@victim " + "really " * 40)
    victim = community.person("victim")
    app = community.app()
    app.cycle()

    (text,) = [t for t in dms_to(community.approver) if "answer-questions" in t]
    block = text[text.index("Draft #") :]
    lines = block.splitlines()
    assert lines[0].startswith("Draft #") and "for Rita (rita@" in lines[0]
    assert lines[1].startswith("Good question, Rita.")  # the text as it would be posted comes next
    wrote = next(line for line in lines if line.startswith("› wrote:"))
    assert "“are you open on Sundays? thanks to ²victim really" in wrote and "…”" in wrote
    assert asked["url"].replace("@", "%40") in wrote  # a working link that mentions nobody
    who = next(line for line in lines[2:] if line.startswith("› ") and "followers" in line)
    assert "first contact" in who and "follows us since" in who
    assert mastodon_mentions(text) == ["alice"]
    assert rita.api.notifications(types=["mention"]) == [] and victim.api.notifications() == []


def test_drafts_long_shows_the_same_context(community: Community) -> None:
    from typer.testing import CliRunner

    from bot.cli import cli

    community.person("rita", display_name="Rita").api.status_post("@bot do you ship to Canada?")
    community.app().cycle()
    result = CliRunner().invoke(cli, ["--config", str(community.write_config()), "drafts", "--long"])
    assert result.exit_code == 0, result.output
    assert "do you ship to Canada?" in result.output and "first contact" in result.output
