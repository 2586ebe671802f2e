"""CLI (drafts): the `drafts`, `approve` and `reject` commands."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.base import cli, fail, listing, minute, store


@cli.command()
def drafts(
    state: Annotated[
        str | None,
        typer.Option(
            "--state", metavar="STATE", help="pending, approved, sending, sent, rejected, expired, failed"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
    long: Annotated[
        bool, typer.Option("--long", help="with what each person wrote, its link and who they are to us")
    ] = False,
) -> None:
    """The drafts, newest last (--json: the same fields as the table's columns; --long adds they_wrote and
    who_they_are to both)."""
    from bot.store import DRAFT_STATES, utcnow

    if state is not None and state not in DRAFT_STATES:
        fail(f"--state: {state!r} is not one of {', '.join(DRAFT_STATES)}")
    db = store()
    rows = db.drafts(state)
    records = [d.as_json() for d in rows]
    if long:
        from bot.service.context import draft_context

        now = utcnow()
        for record, draft in zip(records, rows, strict=True):
            context = draft_context(db, draft, now)
            record["they_wrote"] = f"{context.quote}\n{context.link}".strip() if context else ""
            record["who_they_are"] = context.who if context else ""
    empty = f"no {state} drafts yet" if state else "no drafts yet"
    listing("drafts", records, as_json=as_json, empty=empty, show={"created_at": minute})


@cli.command()
def approve(
    draft_id: Annotated[int, typer.Argument(help="draft number")],
    text: Annotated[str | None, typer.Option("--text", metavar="TEXT", help="post this text instead")] = None,
) -> None:
    """Approve a draft from the shell (the service posts it)."""
    _decide(draft_id, "approved", text)


@cli.command()
def reject(draft_id: Annotated[int, typer.Argument(help="draft number")]) -> None:
    """Reject a draft from the shell."""
    _decide(draft_id, "rejected", None)


def _decide(draft_id: int, state: str, text: str | None) -> None:
    from bot.store import utcnow
    from bot.text import safe_text

    db = store()
    draft = db.draft(draft_id)
    if draft is None:
        fail(f"#{draft_id}: no such draft", 1)
    clean = safe_text(text) if text else None
    now = utcnow()
    if not db.decide(draft_id, state, now=now, by=None, text=clean):
        fail(f"#{draft_id} is already {draft.state}", 1)
    if state == "approved":
        from bot.service.answering import remember

        remember(db, draft_id, clean or draft.text, now)
    typer.echo(f"{'Approved' if state == 'approved' else 'Rejected'} #{draft_id}")
