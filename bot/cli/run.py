"""CLI (run): the `run`, `check-config`, `health`, `events` and `db upgrade` commands."""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from bot.config import Settings

from bot.cli.base import LOGGER, cli, config_path, console, db_cli, fail, listing, minute, settings, store

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


# A rule's conditions, in the order check-config shows them.
CONDITION_KEYS = (
    "contains_any",
    "contains_none",
    "regex",
    "languages",
    "min_followers",
    "max_followers",
    "first_contact",
    "visibility_in",
    "priority",
)


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
    from rich.markup import escape
    from rich.table import Table

    from bot.config import as_written
    from bot.core.rules import compile_rules
    from bot.model import kind_and_word

    loaded = checked_settings()
    # "#" is the rule's place in the file, counted from 1 as config errors count it (rules[2] …);
    # the rows are in the order the rules are tried (priority first).
    shown = Table(title=f"{len(loaded.rules)} rule(s), tried in this order (#: the rule's place in the file)")
    for column in ("#", "name", "on", "conditions", "templates", "visibility", "cooldown"):
        shown.add_column(column)
    number = {rule.name: index for index, rule in enumerate(loaded.rules, start=1)}
    for rule in compile_rules(loaded.rules):
        source = loaded.rules[number[rule.name] - 1]
        conditions = [
            f"{key} = {as_written(value)}"
            for key in CONDITION_KEYS
            if (value := getattr(source, key)) not in (None, (), [], "")
        ]
        cells = (
            str(number[rule.name]),
            rule.name,
            kind_and_word(rule.on),
            "\n".join(conditions) or "-",
            str(len(rule.templates)) + (" + answers" if rule.answer_from else ""),
            rule.visibility,
            as_written(rule.cooldown) if rule.cooldown else "-",
        )
        shown.add_row(*map(escape, cells))  # a regex like [a-z] is never rich markup
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
    records = [
        {
            "id": e.id,
            "notification_id": e.notification_id,
            "kind": e.kind,
            "acct": e.acct,
            "attempts": e.attempts,
            "last_error": e.last_error,
            "quarantined_at": e.quarantined_at.isoformat(),
        }
        for e in store().quarantined_events()
    ]
    shown = {"quarantined_at": minute}
    listing("events set aside", records, as_json=as_json, empty="Nothing set aside.", show=shown)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the store's schema."""
    store(create=True)
    typer.echo("store is up to date")
