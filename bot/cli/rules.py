"""CLI (rules): the `rules test` command — a made-up event through the rules, no server."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bot.cli.base import fail, rules_cli, settings


@rules_cli.command("test")
def rules_test(
    event: Annotated[
        str,
        typer.Option(
            "--event",
            metavar="EVENT",
            help="follow, mention, reply, reblog (a boost; boost too), favourite, follow_request, share,"
            " quote",
        ),
    ],
    text: Annotated[str, typer.Option("--text", metavar="TEXT", help="the post's text")] = "",
    from_acct: Annotated[
        str,
        typer.Option("--from", metavar="PERSON", help="who it comes from (name@instance, a profile URL…)"),
    ] = "someone@example.social",
    followers: Annotated[int, typer.Option("--followers", metavar="N")] = 100,
    bio: Annotated[str, typer.Option("--bio", metavar="TEXT")] = "",
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="display name")] = "",
    visibility: Annotated[str, typer.Option("--visibility", metavar="VISIBILITY")] = "public",
    language: Annotated[str | None, typer.Option("--language", metavar="CODE")] = None,
    bot_flag: Annotated[bool, typer.Option("--bot", help="the account is flagged as a bot")] = False,
) -> None:
    """Which rule a made-up event matches, and the draft (or why no rule matches)."""
    from bot.config import EVENT_CHOICES, EVENTS
    from bot.core.rules import Context, compile_rules, explain, match
    from bot.model import EVENT_TYPES, Account, Status, StatusEvent, kind_for
    from bot.store import utcnow
    from bot.text import person_acct

    loaded = settings()
    cls = EVENT_TYPES.get(kind_for(event))
    if cls is None or cls.kind not in EVENTS:
        fail(f"--event: {event!r} is not an event ({EVENT_CHOICES})")
    now = utcnow()
    acct = person_acct(from_acct)  # as written, in full: the draft shows it as the post would
    username = acct.split("@")[0]
    account = Account(
        id="test-person",
        acct=acct,
        username=username,
        display_name=name or username,
        note=bio,
        bot=bot_flag,
        followers_count=followers,
    )
    kwargs: dict[str, Any] = {}
    if issubclass(cls, StatusEvent):
        kwargs["status"] = Status(id="1", text=text, visibility=visibility, language=language)
    made_up = cls(id="test", created_at=now, account=account, **kwargs)
    compiled = compile_rules(loaded.rules)
    ctx = Context(
        now=now,
        self_id="test-self",
        max_event_age=loaded.listener.max_event_age,
        skip_bots=loaded.etiquette.skip_bots,
        respect_nobot=loaded.etiquette.respect_nobot,
        consent_tags=loaded.etiquette.consent_tags,
    )
    # Numbered by their place in the file, from 1, as check-config and config errors number them.
    number = {rule.name: index for index, rule in enumerate(loaded.rules, start=1)}
    for rule_name, why in explain(compiled, made_up, ctx):
        typer.echo(f"{number[rule_name]}. {rule_name}: {'MATCHES' if why is None else 'no, ' + why}")
    draft = match(compiled, made_up, ctx)
    if draft is None:
        typer.echo("No rule matches: no draft.")
        raise typer.Exit(0)
    source = ""
    rule = next(r for r in compiled if r.name == draft.rule)
    if rule.answer_from and isinstance(made_up, StatusEvent):
        from bot.core.answers import Index, answer, offers_line
        from bot.service.answering import entries

        # The config's entries only: what the store remembered is for `frontrow answers test`.
        index = Index(entries(loaded, [], now))
        draft = answer(draft, made_up, index, loaded.answers.min_score, 500)
        source = "; " + offers_line(0, draft.offers).split(" · or ")[0]  # where the text came from
    typer.echo(
        f"\nDraft (rule {number[draft.rule]}, {draft.rule}, {draft.visibility}{source}):\n"
        f"@{account.acct} {draft.text}"
    )
