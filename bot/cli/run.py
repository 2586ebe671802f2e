"""CLI (run): the `run`, `check-config`, `health`, `events` and `db upgrade` commands."""

from __future__ import annotations

import json
import os
import signal
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from bot.config import Settings

from bot.cli.base import LOGGER, cli, config_path, console, db_cli, fail, settings, store, table

if TYPE_CHECKING:
    from bot.config import Settings


@cli.command()
def run(
    once: Annotated[bool, typer.Option("--once", help="one full cycle, then exit")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="DM the approvers but never post publicly")
    ] = False,
) -> None:
    """The service: listen, draft, ask the approvers, post what they approve."""
    from bot.config import load_settings
    from bot.instance import InstanceError
    from bot.service.app import StartupError, build_app
    from bot.service.serve import ConfigWatch, TokenRevoked, serve
    from bot.store import StoreError, StoreOpenError

    path = config_path()
    loaded = checked_settings()
    try:
        app = build_app(loaded, dry_run=dry_run)
    except StoreOpenError as exc:
        fail(str(exc))
    except (InstanceError, StoreError) as exc:
        fail(f"could not start: {exc}", 1)
    try:
        if once:
            app.start(hold=True)
            app.cycle(force_dms=True)
            app.release_lease()
            return
        watch = ConfigWatch(path, lambda p: load_settings(p, os.environ))

        def stop(number: int, _frame: object) -> None:
            if not app.stopping.is_set():
                LOGGER.info("stopping… (%s): finishing the request in flight", signal.Signals(number).name)
            app.stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, stop)
        signal.signal(signal.SIGHUP, lambda *_: watch.requested.set())
        serve(app, watch)
    except (StartupError, TokenRevoked) as exc:
        fail(str(exc))
    except (InstanceError, StoreError) as exc:
        LOGGER.error("could not start: %s", exc)
        raise typer.Exit(1) from exc
    finally:
        app.store.close()


def offline_problems(loaded: Settings) -> list[str]:
    """What `run` would fail on that can be told without the network: one `section.key` line each."""
    from bot.config import ENV_TOKEN
    from bot.store.base import url_problem

    problems = []
    if loaded.token_missing:
        problems.append(
            f"mastodon.access_token: empty (paste the bot's token, set {ENV_TOKEN}, or run `frontrow init`)"
        )
    store_problem = url_problem(loaded.store.url)
    if store_problem is not None:
        problems.append(store_problem)
    return problems


def checked_settings() -> Settings:
    """The settings, or exit 2 listing what the config and the store's place already show is wrong."""
    loaded = settings()
    problems = offline_problems(loaded)
    if problems:
        fail(
            f"{config_path()}: the config has {len(problems)} error(s):\n"
            + "\n".join(f"  {p}" for p in problems)
        )
    return loaded


@cli.command("check-config")
def check_config() -> None:
    """Validate the config offline (the token is there, the store can be made) and show the rules."""
    from rich.table import Table

    loaded = checked_settings()
    shown = Table(title=f"{len(loaded.rules)} rule(s), tried in this order")
    for column in ("#", "name", "on", "conditions", "templates", "visibility", "cooldown"):
        shown.add_column(column)
    from bot.core.rules import compile_rules

    for index, rule in enumerate(compile_rules(loaded.rules)):
        conditions = []
        source = next(r for r in loaded.rules if r.name == rule.name)
        for key in (
            "contains_any",
            "contains_none",
            "regex",
            "languages",
            "min_followers",
            "max_followers",
            "first_contact",
            "visibility_in",
        ):
            value = getattr(source, key)
            if value not in (None, (), [], ""):
                conditions.append(f"{key}={value!r}")
        shown.add_row(
            str(index + 1),
            rule.name,
            rule.on,
            "\n".join(conditions) or "-",
            str(len(rule.templates)) + (" + answers" if rule.answer_from else ""),
            rule.visibility,
            str(rule.cooldown or "-"),
        )
    console().print(shown)
    _answers_summary(loaded)
    typer.echo(f"OK: {len(loaded.approval.approvers)} approver(s), store {_safe_url(loaded.store.url)}")


def _answers_summary(loaded: Settings) -> None:
    """What [answers] holds, and the questions in it that can never match (warnings, not errors)."""
    from collections import Counter

    from bot.core.answers import silent_questions

    entries = loaded.answers.entries
    answering = [rule.name for rule in loaded.rules if rule.answer_from]
    if not entries and not answering:
        return
    languages = ", ".join(f"{lang} {n}" for lang, n in sorted(Counter(e.language for e in entries).items()))
    typer.echo(
        f"answers: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
        + (f" ({languages})" if languages else "")
        + f", min_score {loaded.answers.min_score}; used by: {', '.join(answering) or 'no rule'}"
    )
    for warning in silent_questions(entries):
        typer.echo(f"warning: {warning}", err=True)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@cli.command()
def health() -> None:
    """Exit 0 when the running service's heartbeat is fresh and it can work (for Docker's HEALTHCHECK)."""
    from bot.service.serve import healthy
    from bot.store import StoreError, utcnow
    from bot.store.state import UNHEALTHY

    db = store(migrate=False)  # read-only: no schema work beside the service
    try:
        beat, problem = db.last_beat(), db.get(UNHEALTHY)
    except StoreError as exc:
        fail(f"unhealthy: the store cannot be read ({exc})", 1)
    why = healthy(beat, problem, utcnow())
    if why is not None:
        fail(why, 1)
    assert beat is not None
    typer.echo(f"healthy: last heartbeat {beat.isoformat()}")


@cli.command()
def events(
    quarantined: Annotated[
        bool, typer.Option("--quarantined", help="the events set aside after repeated failures (the default)")
    ] = False,
    retry: Annotated[
        int | None, typer.Option("--retry", metavar="ID", help="put one set-aside event back in the queue")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
) -> None:
    """The events the service set aside after repeated failures; --retry ID puts one back."""
    if retry is not None:
        if quarantined or as_json:
            fail("--retry: use it alone, without --quarantined or --json")
        if not store().release_event(retry):
            fail(f"#{retry}: no such event set aside", 1)
        typer.echo(f"Event #{retry} is back in the queue.")
        return
    rows = store().quarantined_events()
    if as_json:
        listed = [
            {
                "id": e.id,
                "notification_id": e.notification_id,
                "kind": e.kind,
                "acct": e.acct,
                "attempts": e.attempts,
                "last_error": e.last_error,
                "quarantined_at": e.quarantined_at.isoformat(),
            }
            for e in rows
        ]
        typer.echo(json.dumps(listed, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("Nothing set aside.")
        return
    table(
        "events set aside",
        ["id", "notification", "kind", "acct", "attempts", "last error", "set aside"],
        [
            [
                str(e.id),
                e.notification_id,
                e.kind,
                e.acct,
                str(e.attempts),
                e.last_error,
                e.quarantined_at.strftime("%Y-%m-%d %H:%M"),
            ]
            for e in rows
        ],
    )


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the store's schema."""
    store(create=True)
    typer.echo("store is up to date")
