"""CLI (listening): the `digest` and `opml` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.base import LOGGER, cli, fail, settings, store


@cli.command("digest")
def digest_command() -> None:
    """Send the listening digest to the approvers now."""
    from bot.instance import InstanceError
    from bot.service.app import StartupError, build_app

    app = build_app(settings())
    try:
        app.start()
        sent = app.send_digest(app.clock())
    except StartupError as exc:
        fail(str(exc))
    except InstanceError as exc:
        LOGGER.error("the instance failed us: %s", exc)
        raise typer.Exit(1) from exc
    finally:
        app.store.close()
    if not sent.items:
        typer.echo("Nothing new to listen to: no digest sent.")
        return
    if sent.sent < sent.messages:
        fail(f"Digest #{sent.digest_id}: only {sent.sent} of {sent.messages} message(s) went out", 1)
    typer.echo(f"Digest #{sent.digest_id} sent: {len(sent.items)} item(s) in {sent.messages} message(s).")


@cli.command("opml")
def opml_command(
    output: Annotated[
        str, typer.Option("--output", "-o", metavar="FILE", help="file to write; - for stdout")
    ] = "-",
) -> None:
    """An OPML file of the followers' and watched accounts' public feeds."""
    from bot.listening.feeds import opml_document, opml_outlines, web_host
    from bot.store import utcnow

    loaded = settings()
    groups = opml_outlines(store(), loaded.listen.watch, web_host(loaded.mastodon.base_url))
    document = opml_document(groups, utcnow())
    if output == "-":
        typer.echo(document, nl=False)
        return
    try:
        Path(output).write_text(document, encoding="utf-8")
    except OSError as exc:
        fail(f"--output: cannot write {output}: {exc.strerror}", 1)
    count = sum(len(outlines) for _, outlines in groups)
    typer.echo(f"Wrote {count} feed(s) to {output}", err=True)
