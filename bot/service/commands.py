"""Service (commands): the handler of each approver command, against the store (permission checked before)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.config import Approver
from bot.core import render
from bot.core.commands import VERBS, Command, help_text
from bot.core.render import draft_block, full_acct
from bot.model import NewDraft
from bot.service import answering
from bot.service.context import draft_context, draft_contexts
from bot.store import Store, followers, ledger
from bot.store.ledger import DigestItem
from bot.text import clean_name, safe_text, status_length

DIGEST_ACTIONS = {"boost": "boost", "fav": "favourite", "reply": "post", "follow": "follow"}
LIST_DMS = 3  # one `list` answer: a page is at most this many DMs, then "send list 2"


@dataclass(frozen=True)
class Outcome:
    """What a command did: the reply to send now (if any, or already packed `messages`)."""

    reply: str | None = None
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Request:
    """One approver command and what its handler may use."""

    command: Command
    store: Store
    approver: Approver
    now: datetime
    command_status_id: str
    written_at: datetime  # the instance's time of the command DM: it decides only what was shown before
    in_reply_to_id: str | None
    domain: str
    room: int  # characters for one reply DM
    char_limit: int  # the instance's limit for a post, counted as it counts
    dry_run: bool = False
    # A digest item with its ids on our instance (a feed entry is looked up there), or None.
    resolve: Callable[[DigestItem, datetime], DigestItem | None] = lambda item, now: item


def execute(request: Request) -> Outcome:
    """Carry out one approver command. The caller has checked permission."""
    command = request.command
    if command.error:
        return Outcome(f'{command.error}. Send "help" for the commands.')
    return HANDLERS[command.verb](request)


def _help(request: Request) -> Outcome:
    return Outcome(help_text())


def _pause(request: Request) -> Outcome:
    request.store.set_paused(True)
    return Outcome('Paused: events are recorded, nothing is drafted or posted until "resume".')


def _resume(request: Request) -> Outcome:
    request.store.set_paused(False)
    return Outcome("Resumed.")


def _list(request: Request) -> Outcome:
    pending = request.store.pending_drafts()
    if not pending:
        return Outcome("No drafts are pending.")
    page = request.command.ids[0] if request.command.ids else 1
    lines = answering.notes(request.store, pending)
    found = draft_contexts(request.store, pending, request.now)  # a few queries for the whole list
    contexts = [found[d.id] for d in pending]
    blocks = [
        draft_block(d, request.domain, lines.get(d.id, ""), context=c)
        for d, c in zip(pending, contexts, strict=True)
    ]
    head = f"{len(pending)} pending draft(s):"
    texts, note = render.list_page(blocks, page, head=head, limit=request.room, per_reply=LIST_DMS)
    return Outcome(note, tuple(texts))


def _who(request: Request) -> Outcome:
    return Outcome(who_line(request.store, request.command.target, request.domain))


def _note(request: Request) -> Outcome:
    store, command = request.store, request.command
    person = store.person(command.target)
    if person is None:
        return Outcome(f"{safe_text(command.target)}: nobody of that name in the ledger")
    store.add_note(person.account_id, command.text, request.now)
    return Outcome(f"Noted for {full_acct(person.acct, request.domain)}.")


def _stats(request: Request) -> Outcome:
    return Outcome(ledger.stats(request.store, request.now).short_text())


def _decide(request: Request) -> Outcome:
    command, store, approver, now = request.command, request.store, request.approver, request.now
    ids = command.ids
    if not ids:
        # `ok` / `no` / `edit <text>` answering a draft DM that carried exactly one draft.
        carried = store.drafts_in_message(request.in_reply_to_id) if request.in_reply_to_id else []
        if len(carried) != 1:
            which = "that message has several drafts" if carried else "no draft number given"
            return Outcome(f"Which draft? {which}: write e.g. {command.verb} 12")
        ids = (carried[0],)
    if command.verb == "edit" and len(ids) != 1:
        return Outcome("edit takes one draft: edit 12 <new text>")
    notes: list[str] = []
    for draft_id in ids:
        draft = store.draft(draft_id)
        if draft is None:
            notes.append(f"#{draft_id}: no such draft")
            continue
        if draft.state != "pending":
            notes.append(f"#{draft_id} is already {draft.state}")
            continue
        if draft.shown_at is None or request.written_at < draft.shown_at:
            # Written before the draft's DM: the approver cannot have meant this draft.
            notes.append(f'#{draft_id} was not shown to you before this message; nothing done (see "list")')
            continue
        if command.verb == "reject":
            store.decide(draft_id, "rejected", now=now, by=approver.acct)
            notes.append(f"Rejected #{draft_id}")
            continue
        text = safe_text(command.text.strip()).strip() if command.verb == "edit" else draft.text
        if not text:
            notes.append(
                f"#{draft_id}: that edit is empty once invisible characters are removed; still pending"
            )
            continue
        unsigned = text
        if approver.sign:
            text = f"{text}\n{approver.sign}"
        over = status_length(render.post_text(draft.acct, text)) - request.char_limit
        if draft.action == "post" and over > 0:
            # Refused here, before the instance refuses it: the decision is not lost, the draft stays.
            notes.append(
                f"#{draft_id}: {over} character(s) over the instance's limit of {request.char_limit};"
                f" the draft stays pending: edit {draft_id} <shorter text>"
            )
            continue
        if store.decide(
            draft_id,
            "approved",
            now=now,
            by=approver.acct,
            text=text,
            command_status_id=request.command_status_id,
        ):
            answering.remember(store, draft_id, unsigned, now)
            if request.dry_run:
                notes.append(f"Approved #{draft_id} (dry run: nothing is posted)")
        else:
            notes.append(f"#{draft_id} changed meanwhile; nothing done")
    return Outcome("\n".join(notes) or None)  # approved drafts are confirmed by the outbox once posted


def _use(request: Request) -> Outcome:
    """`use 12 2`: draft 12 now carries its second answer, still pending."""
    ids = request.command.ids
    if len(ids) == 1 and request.in_reply_to_id:  # `use 2` answering a DM with one draft
        carried = request.store.drafts_in_message(request.in_reply_to_id)
        ids = (carried[0], ids[0]) if len(carried) == 1 else ids
    if len(ids) != 2:
        return Outcome(f"usage: {VERBS['use'].usage}")
    draft, why = answering.use(request.store, ids[0], ids[1])
    if draft is None:
        return Outcome(why)
    line = answering.notes(request.store, [draft]).get(draft.id, "")
    shown = draft_block(draft, request.domain, line, context=draft_context(request.store, draft, request.now))
    return Outcome(f"Still pending, now:\n{shown}")


def _learn(request: Request) -> Outcome:
    """`learn 12`: the answer approved for draft 12 is offered for questions like it from now on."""
    if not request.command.ids:
        return Outcome(f"usage: {VERBS['learn'].usage}")
    signs = [request.approver.sign]
    told = [answering.learn(request.store, i, signs, request.now) for i in request.command.ids]
    return Outcome("\n".join(told))


def _digest_action(request: Request) -> Outcome:
    """`boost N`, `fav N`, `reply N <text>`, `follow N`: the command is the approval; the outbox acts once."""
    command, store, now = request.command, request.store, request.now
    number = command.ids[0]
    # The numbers of the digest the approver had seen when writing, not of one sent since.
    item = ledger.latest_digest_item(store, number, before=request.written_at)
    if item is None:
        return Outcome(f"[{number}]: no such item in the latest digest")
    resolved = request.resolve(item, now)
    if resolved is None or resolved.status_id is None or resolved.account_id is None:
        return Outcome(f"[{number}]: could not find that post from our instance")
    draft_id = store.save_draft(
        NewDraft(
            rule="digest",
            account_id=resolved.account_id,
            acct=resolved.acct,
            display_name=clean_name(resolved.display_name, resolved.acct),
            text=safe_text(command.text.strip()),
            template="",
            visibility="unlisted" if command.verb == "reply" else "public",
            in_reply_to_id=resolved.status_id,
            action=DIGEST_ACTIONS[command.verb],
            triage=0,
        ),
        now,
    )
    store.decide(
        draft_id, "approved", now=now, by=request.approver.acct, command_status_id=request.command_status_id
    )
    return Outcome()  # the outbox confirms once it has acted


HANDLERS: dict[str, Callable[[Request], Outcome]] = {
    "approve": _decide,
    "edit": _decide,
    "reject": _decide,
    "list": _list,
    "pause": _pause,
    "resume": _resume,
    "who": _who,
    "note": _note,
    "stats": _stats,
    "boost": _digest_action,
    "fav": _digest_action,
    "reply": _digest_action,
    "follow": _digest_action,
    "help": _help,
    "use": _use,
    "learn": _learn,
}
assert set(HANDLERS) == set(VERBS), "every command in core.commands has exactly one handler"


def who_line(store: Store, acct: str, domain: str) -> str:
    person = store.person(acct)
    if person is None:
        return f"{safe_text(acct)}: nobody of that name in the ledger"
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
    if (stopped := store.stopped_at(person.account_id)) is not None:
        lines.append(f"asked us to stop on {stopped:%Y-%m-%d}")
    left = followers.departures(store, account_id=person.account_id, limit=1)
    if left and person.follows_us_since is None:
        lines.append(left[0].sentence())
    lines += [f"note: {safe_text(text)}" for _, text in notes[-3:]]
    return "\n".join(lines)
