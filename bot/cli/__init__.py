"""CLI: the `frontrow` command — thin; parses options and calls into app and store."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from bot.logs import add_secret, setup_logging

# Everything heavier (pydantic, SQLAlchemy, Mastodon.py) is imported by the command that needs it:
# `frontrow --help` and typos answer at once.
if TYPE_CHECKING:
    from pathlib import Path

    from bot.config import Settings
    from bot.store import Store

LOGGER = logging.getLogger("bot.cli")

cli = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Frontrow: thank, answer and listen to your Mastodon community, with a human's yes.",
    pretty_exceptions_enable=False,
)
rules_cli = typer.Typer(help="Try the rules without a server.", no_args_is_help=True)
db_cli = typer.Typer(help="The store's schema.", no_args_is_help=True)
cli.add_typer(rules_cli, name="rules")
cli.add_typer(db_cli, name="db")


class Options:
    config: str | None = None


OPTIONS = Options()


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def config_path() -> Path:
    """--config, else $FRONTROW_CONFIG, else ./config.toml."""
    from bot.config import resolve_config_path

    return resolve_config_path(OPTIONS.config, os.environ)


def settings() -> Settings:
    """Load the config or exit 2 with every error, one per line, and no traceback."""
    from bot.config import ConfigError, load_settings

    path = config_path()
    try:
        loaded = load_settings(path, os.environ)
    except ConfigError as exc:
        fail(
            f"{path}: the config has {len(exc.errors)} error(s):\n" + "\n".join(f"  {e}" for e in exc.errors)
        )
    add_secret(loaded.mastodon.access_token)
    return loaded


def console() -> Any:
    """Rich output on stdout; piped output gets wide lines instead of 80 folded columns."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 200)


def store(*, migrate: bool = True) -> Store:
    """The store of this config, or exit 2 with one line naming `store.url`."""
    from bot.service.app import open_store
    from bot.store import StoreOpenError

    try:
        return open_store(settings(), migrate=migrate)
    except StoreOpenError as exc:
        fail(str(exc))


@cli.callback()
def main_options(
    config: Annotated[
        str | None, typer.Option("--config", help="config file (else $FRONTROW_CONFIG, else ./config.toml)")
    ] = None,
    log_format: Annotated[str, typer.Option("--log-format", help="text or json")] = "text",
) -> None:
    if log_format not in ("text", "json"):
        fail("--log-format: use text or json")
    setup_logging(log_format)
    OPTIONS.config = config


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
    try:
        app = build_app(settings(), dry_run=dry_run)
    except StoreOpenError as exc:
        fail(str(exc))
    try:
        if once:
            app.start()
            app.cycle(force_dms=True)
            return
        watch = ConfigWatch(path, lambda p: load_settings(p, os.environ))
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: app.stopping.set())
        signal.signal(signal.SIGHUP, lambda *_: watch.requested.set())
        serve(app, watch)
    except (StartupError, TokenRevoked) as exc:
        fail(str(exc))
    except (InstanceError, StoreError) as exc:
        LOGGER.error("could not start: %s", exc)
        raise typer.Exit(1) from exc
    finally:
        app.store.close()


@cli.command("check-config")
def check_config() -> None:
    """Validate the config offline and show the rules."""
    from rich.table import Table

    loaded = settings()
    table = Table(title=f"{len(loaded.rules)} rule(s), tried in this order")
    for column in ("#", "name", "on", "conditions", "templates", "visibility", "cooldown"):
        table.add_column(column)
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
        table.add_row(
            str(index + 1),
            rule.name,
            rule.on,
            "\n".join(conditions) or "-",
            str(len(rule.templates)),
            rule.visibility,
            str(rule.cooldown or "-"),
        )
    console().print(table)
    typer.echo(f"OK: {len(loaded.approval.approvers)} approver(s), store {_safe_url(loaded.store.url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@cli.command()
def drafts(
    state: Annotated[
        str | None,
        typer.Option("--state", help="pending, approved, sending, sent, rejected, expired, failed"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
) -> None:
    """The drafts, newest last."""
    from bot.store import DRAFT_STATES

    if state is not None and state not in DRAFT_STATES:
        fail(f"--state: {state!r} is not one of {', '.join(DRAFT_STATES)}")
    rows = store().drafts(state)
    if as_json:
        typer.echo(json.dumps([d.as_json() for d in rows], ensure_ascii=False, indent=2))
        return
    _table(
        "drafts",
        ["id", "state", "rule", "acct", "text", "created"],
        [[str(d.id), d.state, d.rule, d.acct, d.text, d.created_at.strftime("%Y-%m-%d %H:%M")] for d in rows],
    )


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*map(escape, row))  # people's text is never rich markup
    console().print(table)


@cli.command()
def approve(
    draft_id: Annotated[int, typer.Argument(help="draft number")],
    text: Annotated[str | None, typer.Option("--text", help="post this text instead")] = None,
) -> None:
    """Approve a draft from the shell (the service posts it)."""
    _decide(draft_id, "approved", text)


@cli.command()
def reject(draft_id: Annotated[int, typer.Argument(help="draft number")]) -> None:
    """Reject a draft from the shell."""
    _decide(draft_id, "rejected", None)


def _decide(draft_id: int, state: str, text: str | None) -> None:
    from bot.store import utcnow
    from bot.text import defang

    db = store()
    draft = db.draft(draft_id)
    if draft is None:
        fail(f"#{draft_id}: no such draft", 1)
    clean = defang(text) if text else None
    if not db.decide(draft_id, state, now=utcnow(), by=None, text=clean):
        fail(f"#{draft_id} is already {draft.state}", 1)
    typer.echo(f"{'Approved' if state == 'approved' else 'Rejected'} #{draft_id}")


@cli.command()
def who(
    acct: Annotated[str, typer.Argument(help="user or user@instance")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Everything the store knows of one person."""
    db = store()
    person = db.person(acct)
    if person is None:
        fail(f"{acct}: nobody of that name in the store", 1)
    counts = db.interaction_counts(person.account_id)
    theirs_kinds = ("follow", "follow_request", "mention", "reply", "boost", "favourite")
    ours_kinds = ("reply", "thanks", "boost", "favourite", "follow")
    record: dict[str, Any] = {
        "acct": person.acct,
        "display_name": person.display_name,
        "first_seen": person.first_seen.isoformat(),
        "follows_us": person.follows_us_since is not None,
        "follows_us_since": person.follows_us_since.isoformat() if person.follows_us_since else None,
        "we_follow": person.we_follow,
        "theirs": {k: counts["theirs"].get(k, 0) for k in theirs_kinds},
        "ours": {k: counts["ours"].get(k, 0) for k in ours_kinds},
        "notes": [{"at": at.isoformat(), "text": text} for at, text in db.notes(person.account_id)],
        "drafts": [d.as_json() for d in db.drafts_for(person.account_id)],
    }
    if as_json:
        typer.echo(json.dumps(record, ensure_ascii=False, indent=2))
        return
    lines = [
        f"{person.display_name} ({person.acct})",
        f"first seen: {record['first_seen']}",
        f"follows us: {record['follows_us_since'] or 'no'}",
        f"we follow: {'yes' if person.we_follow else 'no'}",
        "theirs: " + ", ".join(f"{k} {v}" for k, v in record["theirs"].items() if v),
        "ours: " + ", ".join(f"{k} {v}" for k, v in record["ours"].items() if v),
    ]
    lines += [f"note ({n['at'][:10]}): {n['text']}" for n in record["notes"]]
    lines += [f"draft #{d['id']} [{d['state']}] {d['rule']}: {d['text']}" for d in record["drafts"]]
    typer.echo("\n".join(lines))


@cli.command()
def note(acct: Annotated[str, typer.Argument()], text: Annotated[str, typer.Argument()]) -> None:
    """Add a note to a person's record."""
    from bot.store import utcnow

    db = store()
    person = db.person(acct)
    if person is None:
        fail(f"{acct}: nobody of that name in the store", 1)
    db.add_note(person.account_id, text, utcnow())
    typer.echo(f"Noted for {person.acct}.")


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


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the store's schema."""
    store()
    typer.echo("store is up to date")


@rules_cli.command("test")
def rules_test(
    event: Annotated[
        str, typer.Option("--event", help="follow, mention, reply, reblog, favourite, follow_request")
    ],
    text: Annotated[str, typer.Option("--text", help="the post's text")] = "",
    from_acct: Annotated[str, typer.Option("--from", help="who it comes from")] = "someone@example.social",
    followers: Annotated[int, typer.Option("--followers")] = 100,
    bio: Annotated[str, typer.Option("--bio")] = "",
    name: Annotated[str, typer.Option("--name", help="display name")] = "",
    visibility: Annotated[str, typer.Option("--visibility")] = "public",
    language: Annotated[str | None, typer.Option("--language")] = None,
    bot_flag: Annotated[bool, typer.Option("--bot", help="the account is flagged as a bot")] = False,
) -> None:
    """Which rule a made-up event matches, and the draft (or why no rule matches)."""
    from bot.core.rules import Context, compile_rules, explain, match
    from bot.model import EVENT_TYPES, Account, Status, StatusEvent
    from bot.store import utcnow

    loaded = settings()
    cls = EVENT_TYPES.get(event)
    if cls is None or event in ("command", "other"):
        fail("--event: use follow, mention, reply, reblog, favourite or follow_request")
    now = utcnow()
    username = from_acct.lstrip("@").split("@")[0]
    account = Account(
        id="test-person",
        acct=from_acct.lstrip("@"),
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
    )
    for rule_name, why in explain(compiled, made_up, ctx):
        typer.echo(f"{rule_name}: {'MATCHES' if why is None else 'no, ' + why}")
    draft = match(compiled, made_up, ctx)
    if draft is None:
        typer.echo("No rule matches: no draft.")
        raise typer.Exit(0)
    typer.echo(f"\nDraft ({draft.rule}, {draft.visibility}):\n@{account.acct} {draft.text}")


@cli.command()
def demo(
    once: Annotated[bool, typer.Option("--once", help="play the whole script unattended, then exit")] = False,
) -> None:
    """A practice instance on loopback with a small community, and Frontrow running against it."""
    try:
        from bot.cli.demo import run_demo
    except ImportError as exc:  # mastodon_mock comes with the demo extra
        fail(f"the demo needs the demo extra: pip install 'frontrow[demo]' ({exc})")
    raise typer.Exit(run_demo(once=once))


@cli.command()
def init(
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing config")] = False,
) -> None:
    """Interactive first setup: instance, app registration, sign-in, config file (mode 0600)."""
    from bot.cli.init import run_init

    path = config_path()
    raise typer.Exit(run_init(path, force=force))


def _register_ledger_commands() -> None:
    from bot.cli.ledger import register

    register(cli)


_register_ledger_commands()


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
