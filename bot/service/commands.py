"""Service (commands): carries out an approver's command against the store; the caller checked permission."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.config import Approver
from bot.core.commands import Command, help_text
from bot.core.render import draft_block, full_acct
from bot.store import Store, ledger
from bot.text import clean_name, defang


@dataclass(frozen=True)
class Outcome:
    """What a command did: the reply to send now (if any) and the drafts it approved."""

    reply: str | None
    approved: tuple[int, ...] = ()


def execute(
    command: Command,
    *,
    store: Store,
    approver: Approver,
    now: datetime,
    command_status_id: str,
    in_reply_to_id: str | None,
    domain: str,
    dry_run: bool = False,
) -> Outcome:
    """Carry out one approver command against the store. The caller has checked permission."""
    if command.error:
        return Outcome(f'{command.error}. Send "help" for the commands.')
    verb = command.verb
    if verb == "help":
        return Outcome(help_text())
    if verb == "pause":
        store.set_paused(True)
        return Outcome('Paused: events are recorded, nothing is drafted or posted until "resume".')
    if verb == "resume":
        store.set_paused(False)
        return Outcome("Resumed.")
    if verb == "list":
        pending = store.pending_drafts()
        if not pending:
            return Outcome("No drafts are pending.")
        return Outcome("\n\n".join(draft_block(d, domain) for d in pending))
    if verb == "who":
        return Outcome(who_line(store, command.target, domain))
    if verb == "note":
        person = store.person(command.target)
        if person is None:
            return Outcome(f"{defang(command.target)}: nobody of that name in the ledger")
        store.add_note(person.account_id, command.text, now)
        return Outcome(f"Noted for {full_acct(person.acct, domain)}.")
    if verb == "stats":
        return Outcome(ledger.stats(store, now).short_text())
    if verb in ("approve", "reject", "edit"):
        return _decide(command, store, approver, now, command_status_id, in_reply_to_id, dry_run)
    return Outcome(f'"{verb}" is not available yet. Send "help" for the commands.')


def _decide(
    command: Command,
    store: Store,
    approver: Approver,
    now: datetime,
    command_status_id: str,
    in_reply_to_id: str | None,
    dry_run: bool,
) -> Outcome:
    ids = command.ids
    if not ids:
        # `ok` / `no` / `edit <text>` answering a draft DM that carried exactly one draft.
        carried = store.drafts_in_message(in_reply_to_id) if in_reply_to_id else []
        if len(carried) != 1:
            which = "that message has several drafts" if carried else "no draft number given"
            return Outcome(f"Which draft? {which}: write e.g. {command.verb} 12")
        ids = (carried[0],)
    if command.verb == "edit" and len(ids) != 1:
        return Outcome("edit takes one draft: edit 12 <new text>")
    notes: list[str] = []
    approved: list[int] = []
    for draft_id in ids:
        draft = store.draft(draft_id)
        if draft is None:
            notes.append(f"#{draft_id}: no such draft")
            continue
        if draft.state != "pending":
            notes.append(f"#{draft_id} is already {draft.state}")
            continue
        if command.verb == "reject":
            store.decide(draft_id, "rejected", now=now, by=approver.acct)
            notes.append(f"Rejected #{draft_id}")
            continue
        text = defang(command.text.strip()) if command.verb == "edit" else draft.text
        if approver.sign:
            text = f"{text}\n{approver.sign}"
        if store.decide(
            draft_id, "approved", now=now, by=approver.acct, text=text, command_status_id=command_status_id
        ):
            approved.append(draft_id)
            if dry_run:
                notes.append(f"Approved #{draft_id} (dry run: nothing is posted)")
        else:
            notes.append(f"#{draft_id} changed meanwhile; nothing done")
    return Outcome("\n".join(notes) or None, tuple(approved))


def who_line(store: Store, acct: str, domain: str) -> str:
    person = store.person(acct)
    if person is None:
        return f"{defang(acct)}: nobody of that name in the ledger"
    counts = store.interaction_counts(person.account_id)
    theirs = ", ".join(f"{k} {v}" for k, v in sorted(counts["theirs"].items())) or "nothing yet"
    ours = ", ".join(f"{k} {v}" for k, v in sorted(counts["ours"].items())) or "nothing yet"
    since = person.follows_us_since.date().isoformat() if person.follows_us_since else "no"
    notes = store.notes(person.account_id)
    lines = [
        f"{clean_name(person.display_name, person.acct)} ({full_acct(person.acct, domain)})",
        f"follows us: {since}",
        f"theirs: {theirs}",
        f"ours: {ours}",
    ]
    lines += [f"note: {defang(text)}" for _, text in notes[-3:]]
    return "\n".join(lines)
