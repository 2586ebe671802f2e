"""CLI (base): the `frontrow` typer apps, the global options, and what every command shares."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from bot.logs import add_secret, setup_logging

# Everything heavier (pydantic, SQLAlchemy, Mastodon.py) is imported by the command that needs it:
# `frontrow --help` and typos answer at once.
if TYPE_CHECKING:
    from bot.config import Settings
    from bot.store import Store
    from bot.store.quick import QuickReader

LOGGER = logging.getLogger("bot.cli")  # one logger name for every command, as the logs have always said

# Plain help (no <bool> or <str> type labels, no boxes), -h as well as --help, shell completion.
_CONVENTIONS: dict[str, Any] = {
    "rich_markup_mode": None,
    "context_settings": {"help_option_names": ["-h", "--help"]},
    "no_args_is_help": True,
}
cli = typer.Typer(
    add_completion=True,
    help="Frontrow: thank, answer and listen to your Mastodon community, with a human's yes.",
    pretty_exceptions_enable=False,
    **_CONVENTIONS,
)
rules_cli = typer.Typer(help="Try the rules without a server.", **_CONVENTIONS)
db_cli = typer.Typer(help="The store's schema.", **_CONVENTIONS)
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
    from bot.config_path import resolve_config_path

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


def store(*, migrate: bool = True, create: bool = False) -> Store:
    """The store of this config, seeing this config's account; exit 1 when there is none yet (only
    `db upgrade` creates one), exit 2 with one line naming `store.url` when it cannot be opened."""
    from bot.store import NoStore, Store, StoreError, StoreOpenError

    loaded = settings()
    try:
        opened = Store.open(loaded.store.url, migrate=migrate, create=create)
    except NoStore as exc:
        fail(str(exc), 1)
    except StoreOpenError as exc:
        fail(str(exc))
    try:
        opened.owner = opened.find_owner(loaded.mastodon.base_url, loaded.mastodon.access_token)
    except StoreError as exc:
        fail(f"store.url: cannot read the store: {exc}", 1)
    return opened


def person_reader() -> tuple[Store | QuickReader, str]:
    """For `who`: a reader of people's records and our instance's web host (in profile URLs).

    A plain SQLite store at the newest revision is read with sqlite3 from the config's [mastodon]
    and [store] keys alone, with no validation library and no ORM (`who` ≤ 1.5 × `--help`, see
    bench/commands.py); anything else, or a config those keys cannot be read from plainly, takes
    the full path, which validates the whole file and says what is wrong as `store()` always has.
    """
    from urllib.parse import urlsplit

    from bot.store.quick import QuickReader

    keys = _plain_keys()
    if keys is not None:
        url, base_url, token = keys
        add_secret(token)
        folder = Path(os.path.abspath(config_path())).parent
        reader = QuickReader.open(url, folder, base_url, token)
        if reader is not None:
            return reader, urlsplit(base_url).netloc
    return store(), urlsplit(settings().mastodon.base_url).netloc


def _plain_keys() -> tuple[str, str, str] | None:
    """store.url, mastodon.base_url and the token (FRONTROW_ACCESS_TOKEN first, as bot.config does),
    read from the TOML without validating the rest; None when anything looks unusual."""
    import tomllib

    try:
        data = tomllib.loads(config_path().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    mastodon, store_section = data.get("mastodon"), data.get("store", {})
    if not isinstance(mastodon, dict) or not isinstance(store_section, dict):
        return None
    base_url = mastodon.get("base_url")
    token = os.environ.get("FRONTROW_ACCESS_TOKEN", "").strip() or mastodon.get("access_token", "")
    url = store_section.get("url", "sqlite:///frontrow.db")
    if not (isinstance(base_url, str) and isinstance(token, str) and isinstance(url, str)):
        return None
    base_url = base_url.strip().rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        return None
    return url.strip(), base_url, token.strip()


def table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """A rich table on stdout; cells are shown as text, never read as rich markup."""
    from rich.markup import escape
    from rich.table import Table

    shown = Table(title=title)
    for column in columns:
        shown.add_column(column)
    for row in rows:
        shown.add_row(*map(escape, row))  # people's text is never rich markup
    console().print(shown)


def listing(
    title: str,
    records: list[dict[str, Any]],
    *,
    as_json: bool,
    empty: str,
    show: Mapping[str, Callable[[Any], str]] | None = None,
) -> None:
    """Every listing command's output: `--json` prints the records (`[]` when there are none); else a
    table whose columns are the records' keys, in order, `_` written as a space (so the table and the
    JSON always carry the same fields), or `empty` ("nobody yet", "no drafts yet") when there is none.
    `show` formats a key's cells (dates, ratios); other values go through `cell`."""
    if as_json:
        typer.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    if not records:
        typer.echo(empty)
        return
    keys = list(records[0])
    shown = show or {}
    table(
        title,
        [key.replace("_", " ") for key in keys],
        [[shown.get(key, cell)(record[key]) for key in keys] for record in records],
    )


def cell(value: Any) -> str:
    """A JSON value as a table cell: nothing for null, yes/no, lists one a line."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "\n".join(map(cell, value))
    if isinstance(value, dict):
        return ", ".join(f"{key} {cell(item)}" for key, item in value.items())
    return str(value)


def minute(value: str | None) -> str:
    """An ISO time (as the JSON has it) to the minute: 2026-05-01 09:30."""
    return value[:16].replace("T", " ") if value else ""


def day(value: str | None) -> str:
    """An ISO time (as the JSON has it) to the day: 2026-05-01."""
    return value[:10] if value else ""


def _show_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        typer.echo(f"frontrow {version('frontrow')}")
        raise typer.Exit()


@cli.callback()
def main_options(
    config: Annotated[
        str | None,
        typer.Option(
            "--config", metavar="PATH", help="config file (else $FRONTROW_CONFIG, else ./config.toml)"
        ),
    ] = None,
    log_format: Annotated[str, typer.Option("--log-format", metavar="FORMAT", help="text or json")] = "text",
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_show_version, help="the version, then exit")
    ] = False,
) -> None:
    if log_format not in ("text", "json"):
        fail("--log-format: use text or json")
    setup_logging(log_format)
    OPTIONS.config = config
