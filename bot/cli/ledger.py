"""CLI (ledger and listening): the `people`, `stats`, `digest` and `opml` commands — thin, like bot.cli."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

LOGGER = logging.getLogger("bot.cli")
THEIR_LABELS = {
    "follow": "follows",
    "follow_request": "follow requests",
    "mention": "mentions",
    "reply": "replies",
    "boost": "boosts",
    "favourite": "favourites",
}
OUR_LABELS = {
    "reply": "replies",
    "thanks": "thanks",
    "boost": "boosts",
    "favourite": "favourites",
    "follow": "follows",
}


def register(cli: typer.Typer) -> None:
    """Add the ledger and listening commands to the `frontrow` command."""
    cli.command("people")(people_command)
    cli.command("stats")(stats_command)
    cli.command("digest")(digest_command)
    cli.command("opml")(opml_command)


def _base() -> ModuleType:
    # Imported when a command runs: bot.cli imports this module at its end to register the commands.
    from bot import cli

    return cli


def people_command(
    owed: Annotated[
        bool, typer.Option("--owed", help="engaged you at least twice in 30 days, got nothing back")
    ] = False,
    connectors: Annotated[bool, typer.Option("--connectors", help="reach × engagement")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="how many people")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
) -> None:
    """People ranked by engagement (or --owed, or --connectors)."""
    from bot.store import ledger, utcnow
    from bot.text import clean_name

    base = _base()
    if owed and connectors:
        base.fail("--owed and --connectors: choose one")
    mode: ledger.Mode = "owed" if owed else "connectors" if connectors else "all"
    ranked = ledger.people(base.store(), utcnow(), mode, limit)
    if as_json:
        typer.echo(json.dumps([p.as_json() for p in ranked], ensure_ascii=False, indent=2))
        return
    titles = {"all": "people by engagement", "owed": "owed attention", "connectors": "connectors"}
    _base()._table(
        titles[mode],
        ["#", "name", "acct", "score", "theirs", "ours", "followers", "follows you"],
        [
            [
                str(rank),
                clean_name(p.display_name, p.acct),
                p.acct,
                f"{p.score:g}",
                str(p.theirs_total),
                str(p.ours_total),
                str(p.followers_count),
                "yes" if p.follows_us else "no",
            ]
            for rank, p in enumerate(ranked, start=1)
        ],
    )


def stats_command(as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False) -> None:
    """Counts over the last 7 and 30 days, approval rate and link-love ratio."""
    from bot.store import ledger, utcnow

    base = _base()
    result = ledger.stats(base.store(), utcnow())
    if as_json:
        typer.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
        return
    week, month = result.week, result.month
    rows = [
        ["link-love ratio", ledger.percent(week.link_love_ratio), ledger.percent(month.link_love_ratio)],
        ["our public/unlisted posts", str(week.posts), str(month.posts)],
        ["… boosting someone else", str(week.boosts), str(month.boosts)],
        ["… answering someone else", str(week.replies), str(month.replies)],
        ["approval rate", ledger.percent(week.approval_rate), ledger.percent(month.approval_rate)],
        ["drafts", str(sum(week.drafts.values())), str(sum(month.drafts.values()))],
    ]
    for kind, label in THEIR_LABELS.items():
        rows.append([f"their {label}", str(week.theirs.get(kind, 0)), str(month.theirs.get(kind, 0))])
    for kind, label in OUR_LABELS.items():
        rows.append([f"our {label}", str(week.ours.get(kind, 0)), str(month.ours.get(kind, 0))])
    _base()._table("stats", ["", "7 days", "30 days"], rows)
    typer.echo(
        f"Link-love ratio: {ledger.percent(result.link_love_ratio)} over 30 days "
        f"(seed advice: {ledger.percent(ledger.LINK_LOVE_TARGET)} or more). "
        f"{result.people} people, {result.followers} followers."
    )


def digest_command() -> None:
    """Send the listening digest to the approvers now."""
    from mastodon import MastodonError

    from bot.service.app import StartupError, build_app

    base = _base()
    app = build_app(base.settings())
    try:
        app.start()
        sent = app.send_digest(app.clock())
    except StartupError as exc:
        base.fail(str(exc))
    except MastodonError as exc:
        LOGGER.error("the instance failed us: %s", exc)
        raise typer.Exit(1) from exc
    finally:
        app.store.close()
    if not sent.items:
        typer.echo("Nothing new to listen to: no digest sent.")
        return
    if sent.sent < sent.messages:
        base.fail(f"Digest #{sent.digest_id}: only {sent.sent} of {sent.messages} message(s) went out", 1)
    typer.echo(f"Digest #{sent.digest_id} sent: {len(sent.items)} item(s) in {sent.messages} message(s).")


def opml_command(
    output: Annotated[str, typer.Option("--output", "-o", help="file to write; - for stdout")] = "-",
) -> None:
    """An OPML file of the followers' and watched accounts' public feeds."""
    from bot.listening.feeds import opml_document, opml_outlines, web_host
    from bot.service.app import open_store
    from bot.store import utcnow

    base = _base()
    loaded = base.settings()
    groups = opml_outlines(open_store(loaded), loaded.listen.watch, web_host(loaded.mastodon.base_url))
    document = opml_document(groups, utcnow())
    if output == "-":
        typer.echo(document, nl=False)
        return
    try:
        Path(output).write_text(document, encoding="utf-8")
    except OSError as exc:
        base.fail(f"--output: cannot write {output}: {exc.strerror}", 1)
    count = sum(len(outlines) for _, outlines in groups)
    typer.echo(f"Wrote {count} feed(s) to {output}", err=True)
