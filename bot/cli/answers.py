"""CLI (answers): `frontrow answers` lists the knowledge base; `test`, `learn` and `forget` act on it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bot.cli.base import cli, fail, listing, settings, store

answers_cli = typer.Typer(help="What Frontrow can answer: list (the default), test, learn, forget.")
cli.add_typer(answers_cli, name="answers")


@answers_cli.callback(invoke_without_command=True)
def answers_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
) -> None:
    """The config's [answers] entries, then the answers the store learned and remembered."""
    if ctx.invoked_subcommand is not None:
        return
    loaded = settings()
    rows: list[dict[str, Any]] = [
        {
            "id": entry.name,
            "kind": "knowledge",
            "language": entry.language,
            "questions": list(entry.questions),
            "text": entry.text,
            "answered": None,
        }
        for entry in loaded.answers.entries
    ]
    rows += [
        {
            "id": f"#{a.id}",
            "kind": a.kind,
            "language": a.language,
            "questions": [a.question],
            "text": a.text,
            "answered": {"person": a.person, "at": a.answered_at.isoformat(), "draft": a.draft_id},
        }
        for a in store().stored_answers()
    ]
    listing(
        f"answers (min_score {loaded.answers.min_score})",
        rows,
        as_json=as_json,
        empty="no answers yet: add [[answers.entries]] to the config, or `frontrow answers learn ID`",
        show={"language": lambda lang: lang or "?", "questions": " | ".join, "answered": _answered},
    )


def _answered(answered: dict[str, Any] | None) -> str:
    if answered is None:
        return ""
    return f"{answered['person']}, {str(answered['at'])[:10]}, draft #{answered['draft']}"


@answers_cli.command("test")
def answers_test(
    question: Annotated[str, typer.Argument(help='the question, e.g. "do you ship to canada?"')],
    language: Annotated[
        str | None, typer.Option("--language", metavar="LANG", help="the post's language, e.g. en")
    ] = None,
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="the asker's display name")] = "Rita",
) -> None:
    """How a question ranks against what Frontrow can answer, and the answer it would draft."""
    from bot.core.answers import MAX_OFFERS, Index
    from bot.model import Account
    from bot.service.answering import entries
    from bot.store import utcnow

    loaded = settings()
    now = utcnow()
    index = Index(entries(loaded, store().stored_answers(), now))
    ranked = index.rank(question, language)
    minimum = loaded.answers.min_score
    for number, scored in enumerate(ranked[: MAX_OFFERS + 2], start=1):
        mark = "" if scored.score >= minimum else "  (below answers.min_score)"
        typer.echo(f"{number}. {scored.entry.source} {scored.entry.label}: {scored.score:.2f}{mark}")
    asker = Account(id="test", acct="someone@example.social", username="someone", display_name=name)
    offers = index.offers(question, language, minimum, asker, 480)
    if offers:
        typer.echo(f"\nAnswer ({offers[0].label}, {offers[0].score:.2f}):\n{offers[0].text}")
    elif ranked:
        best = ranked[0]
        typer.echo(
            f"\nNo answer: the closest, {best.entry.label} ({best.score:.2f}), is below "
            f"answers.min_score ({minimum}); the rule's own template is drafted."
        )
    else:
        typer.echo(
            "\nNo answer: nothing in its language shares a word with it (common words aside); "
            "the rule's own template is drafted."
        )


@answers_cli.command("learn")
def answers_learn(draft_id: Annotated[int, typer.Argument(help="an approved or sent draft")]) -> None:
    """Keep the answer posted for a draft: questions like it get it from now on."""
    from bot.service.answering import learn
    from bot.store import utcnow

    loaded = settings()
    told = learn(store(), draft_id, [a.sign for a in loaded.approval.approvers], utcnow())
    if not told.startswith("Learned"):
        fail(told, 1)
    typer.echo(told)


@answers_cli.command("forget")
def answers_forget(
    answer_id: Annotated[str, typer.Argument(help="the number `frontrow answers` shows")],
) -> None:
    """Forget a learned or remembered answer (entries of the config are removed from the config)."""
    number = answer_id.lstrip("#")
    if not number.isdigit():
        if any(entry.name == answer_id for entry in settings().answers.entries):
            fail(f"{answer_id} is an entry of the config: remove it from [answers] there", 1)
        fail(f"{answer_id}: no such answer (write the number `frontrow answers` shows, e.g. 5)", 1)
    if not store().forget_answer(int(number)):
        fail(f"#{number}: no such answer", 1)
    typer.echo(f"Forgot #{number}.")
