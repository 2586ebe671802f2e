"""CLI (init): the `init` command — interactive first run: register the app, sign in, write the config.

`run_init` walks through what Mastodon CLI clients do: register an app on the instance, show the
authorisation URL, take the code the user pastes (out-of-band redirect, no local web server, no
browser opened), check who signed in, ask for the approvers, offer the bot flag, and write the
config from the packaged example with four values filled in (the store's path absolute). The
token is never printed.
All I/O goes through `ask`/`say`/`warn`, so tests drive it with scripted answers; every call to the
instance is in bot.instance.onboard, imported when setup starts (Mastodon.py is heavy for `--help`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Callable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import click
import typer

from bot.cli.base import cli, config_path

if TYPE_CHECKING:
    from bot.instance.onboard import SignedIn

LOGGER = logging.getLogger(__name__)

MAX_TRIES = 3  # a scripted or piped answer that keeps being wrong must not loop forever

Ask = Callable[[str, str], str]  # (question, default) -> answer; "" default means "required"
Say = Callable[[str], None]


class SetupError(Exception):
    """One clear message for the user, and the exit code (1 failed, 2 bad usage)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def prompt(question: str, default: str) -> str:
    # typer re-asks on an empty answer when there is no default, which is what required answers want.
    return str(typer.prompt(question, default=default or None))


def echo(message: str) -> None:
    typer.echo(message)


def echo_err(message: str) -> None:
    typer.echo(message, err=True)


def run_init(
    path: Path,
    force: bool,
    *,
    ask: Ask = prompt,
    say: Say = echo,
    warn: Say = echo_err,
) -> int:
    """Interactive first setup; returns the exit code (0 done, 1 failed, 2 bad usage)."""
    path = Path(path)
    try:
        _check_target(path, force)
        _setup(path, force, ask, say)
    except SetupError as exc:
        warn(str(exc))
        return exc.code
    except (click.exceptions.Abort, EOFError):  # typer's prompt: Ctrl-C or end of input
        warn("Setup cancelled; nothing was written.")
        return 1
    return 0


def _setup(path: Path, force: bool, ask: Ask, say: Say) -> None:
    from bot.config import ENV_TOKEN
    from bot.instance import InstanceError, NetworkError
    from bot.instance.onboard import SCOPES, ScopesRefused, mark_as_bot, network_reason, register, sign_in

    base_url = _ask_valid(
        ask, say, "Your bot account's Mastodon instance (e.g. mastodon.social)", "", normalise_base_url
    )
    host = urlsplit(base_url).netloc

    try:
        registration = register(base_url)
    except NetworkError as exc:
        reason = network_reason(exc)
        plain = "http://" + base_url.removeprefix("https://")
        hint = ""
        if base_url.startswith("https://") and (
            reason == "TLS (https) failed" or _is_loopback(urlsplit(base_url).hostname or "")
        ):
            hint = f" A test server on this machine speaks plain http: answer {plain}"
        raise SetupError(f"Cannot reach {base_url}: {reason}.{hint}") from None
    except InstanceError:
        raise SetupError(
            f"{host} did not register the app. Is it a Mastodon instance, and does it allow app registration?"
        ) from None

    say("")
    say("Open this address in a browser, sign in as the BOT's account (not your own) and authorise Frontrow:")
    say("")
    say(f"  {registration.sign_in_url}")
    say("")
    say(f"Frontrow asks for: {' '.join(SCOPES)}")
    me = None
    for attempt in range(1, MAX_TRIES + 1):  # a mistyped code is asked again, on the same registration
        code = ask("Paste the authorisation code shown after you authorise", "").strip()
        if not code:
            raise SetupError("No authorisation code given; nothing was written.", 2)
        try:
            me = sign_in(registration, code)
            break
        except NetworkError as exc:
            raise SetupError(f"Cannot reach {base_url}: {network_reason(exc)}.") from None
        except ScopesRefused:
            needed = " ".join(SCOPES)
            raise SetupError(f"{host} granted fewer permissions than Frontrow needs: {needed}.") from None
        except InstanceError:
            if attempt < MAX_TRIES:
                say(f"{host} did not accept that code (mistyped, or expired?). Paste it again, or authorise")
                say("again at the address above for a fresh one.")
    if me is None:
        raise SetupError(
            f"{host} did not accept the code {MAX_TRIES} times (mistyped, expired or used already?). "
            "Run `frontrow init` again for a fresh one."
        )
    username = me.username
    say(f"Signed in as @{username}@{me.domain} ({me.display_name or username}).")

    approvers = _ask_valid(
        ask,
        say,
        "Approver account(s), comma-separated: the humans who approve drafts (e.g. alice, bob@other.example)",
        "",
        lambda answer: _check_approvers(me, parse_approvers(answer)),
    )

    if me.bot:
        say(f"@{username} is already marked as a bot account.")
    elif _ask_valid(
        ask,
        say,
        f"Mark @{username} as a bot account, so people see its posts are automated? (y/n)",
        "y",
        parse_yes_no,
    ):
        try:
            mark_as_bot(me)
            say(f"Marked @{username} as a bot account.")
        except InstanceError as exc:
            # Not worth losing the sign-in over: the flag can be set in the web UI's profile settings.
            say(f"Could not set the bot flag ({type(exc).__name__}); set it in the profile settings instead.")

    try:
        text = render_config(
            example_config(),
            base_url=base_url,
            access_token=me.access_token,
            approvers=approvers,
            store_url=f"sqlite:///{Path(os.path.abspath(path)).parent / 'frontrow.db'}",  # absolute
        )
    except ValueError as exc:
        raise SetupError(f"Cannot fill in the packaged example config (a bug): {exc}.") from None
    write_config(path, text, force=force)
    say("")
    say(f"Wrote {path} (mode 0600: it holds the access token, keep it private).")
    option = "" if path == Path("config.toml") else f" --config {path}"
    say(f"Next: frontrow{option} check-config, then frontrow{option} run --once --dry-run")
    if os.environ.get(ENV_TOKEN, "").strip():
        say(f"Note: {ENV_TOKEN} is set in this shell and overrides the token in the file.")


def _check_target(path: Path, force: bool) -> None:
    """Refuse before any question is asked, so nobody signs in only to be told no."""
    if (path.exists() or path.is_symlink()) and not force:
        raise SetupError(f"{path} already exists; use `frontrow init --force` to overwrite it.", 2)
    parent = path.parent
    if not parent.is_dir():
        raise SetupError(f"{parent} is not a directory; create it first or choose another --config path.", 2)


def _ask_valid(ask: Ask, say: Say, question: str, default: str, parse: Callable[[str], Any]) -> Any:
    """Ask until `parse` accepts the answer (it raises ValueError with what to fix), at most MAX_TRIES."""
    for _ in range(MAX_TRIES):
        try:
            return parse(ask(question, default))
        except ValueError as exc:
            say(str(exc))
    raise SetupError("Too many invalid answers; nothing was written.", 2)


# --- answers ---------------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_base_url(answer: str) -> str:
    """`mastodon.social`, `@bot@mastodon.social` or a pasted profile URL → `https://mastodon.social`.

    https:// is added when there is no scheme; plain http:// is accepted only for a loopback
    test server, since the sign-in code and the token would otherwise cross the network in clear.
    """
    text = answer.strip()
    if not text:
        raise ValueError("Give the instance's address, e.g. mastodon.social.")
    if "://" not in text:
        if "/" not in text:  # a handle like @bot@mastodon.social names its instance
            text = text.rsplit("@", 1)[-1]
        text = "https://" + text
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        raise ValueError(f"{answer.strip()!r} is not an address (e.g. mastodon.social).") from None
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        raise ValueError(f"{answer.strip()!r} is not an address (e.g. mastodon.social).")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValueError(f"Use https:// for {host}: plain http would send the sign-in in clear.")
    # Only scheme and host (and port): a pasted https://host/@bot or /home still names the instance.
    netloc = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{netloc}" + (f":{port}" if port else "")


_ACCT_RE = re.compile(r"[^\s@,]+(@[^\s@,]+)?")


def parse_approvers(answer: str) -> list[str]:
    """`alice, @bob@other.example` → `["alice", "bob@other.example"]` (duplicates dropped)."""
    accts: list[str] = []
    for item in re.split(r"[,\s]+", answer.strip()):
        acct = item.removeprefix("@")
        if not acct:
            continue
        if not _ACCT_RE.fullmatch(acct):
            raise ValueError(f"{item!r} is not an account (write alice or alice@other.example).")
        if acct.lower() not in (a.lower() for a in accts):
            accts.append(acct)
    if not accts:
        raise ValueError("Name at least one approver: the human who says yes to each draft.")
    return accts


def _check_approvers(me: SignedIn, accts: list[str]) -> list[str]:
    """Each approver must be someone else, and findable: `frontrow run` looks each one up at start."""
    from bot.instance.onboard import account_findable

    missing = []
    for acct in accts:
        local, _, acct_domain = acct.partition("@")
        is_local = acct_domain.lower() in ("", me.domain.lower())
        if is_local and local.lower() == me.username.lower():
            raise ValueError(f"{acct} is the bot itself; an approver is a human's account.")
        if not account_findable(me, local if is_local else acct, is_local):
            missing.append(acct)
    if missing:
        raise ValueError(f"Not found on {me.domain}: {', '.join(missing)}. Check the spelling.")
    return accts


def parse_yes_no(answer: str) -> bool:
    word = answer.strip().lower()
    if word in ("y", "yes"):
        return True
    if word in ("n", "no"):
        return False
    raise ValueError("Answer y or n.")


# --- the config file ---------------------------------------------------------------------------


def example_config() -> str:
    return (files("bot") / "config.example.toml").read_text(encoding="utf-8")


def toml_string(value: str) -> str:
    """A TOML basic string (json.dumps would write astral characters as surrogate pairs TOML rejects)."""
    out = []
    for char in value:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


_SECTION_RE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?$")
# A value Frontrow's example writes on one line: a basic string or a flat array of basic strings.
_VALUE = r'"(?:[^"\\\n]|\\.)*"|\[(?:[^\]"\n]|"(?:[^"\\\n]|\\.)*")*\]'


def set_value(text: str, section: str, key: str, value: str) -> str:
    """Replace `key`'s value in `[section]`, keeping the line's comment (at its column when it fits)."""
    line_re = re.compile(
        rf"^(?P<lead>\s*{re.escape(key)}\s*=\s*)(?P<value>{_VALUE})(?P<gap>\s*)(?P<rest>#.*)?$"
    )
    lines = text.splitlines(keepends=True)
    current = ""
    for index, line in enumerate(lines):
        header = _SECTION_RE.match(line)
        if header:
            current = header[1]
            continue
        match = line_re.match(line.rstrip("\r\n")) if current == section else None
        if match is None:
            continue
        new = match["lead"] + value
        if match["rest"]:
            column = len(match["lead"]) + len(match["value"]) + len(match["gap"])
            new += " " * max(1, column - len(new)) + match["rest"]
        lines[index] = new + line[len(line.rstrip("\r\n")) :]
        return "".join(lines)
    raise ValueError(f"the example config has no {section}.{key} line to fill in")


def render_config(
    example: str, *, base_url: str, access_token: str, approvers: Sequence[str], store_url: str = ""
) -> str:
    text = set_value(example, "mastodon", "base_url", toml_string(base_url))
    if store_url:
        text = set_value(text, "store", "url", toml_string(store_url))
    text = set_value(text, "mastodon", "access_token", toml_string(access_token))
    return set_value(text, "approval", "approvers", "[" + ", ".join(toml_string(a) for a in approvers) + "]")


def write_config(path: Path, text: str, *, force: bool) -> None:
    """Write `text` to `path` with mode 0600 from the first byte, validated, atomically.

    A temporary file next to `path` is created 0600 (never world-readable, even briefly), checked
    with the real loader, and then renamed over `path`: a failed run leaves no half-written config.
    """
    from bot.config import ConfigError, load_settings

    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise SetupError(f"Cannot write in {tmp.parent}: {exc.strerror or exc}.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o600)  # the umask can only remove bits; make it exactly 0600
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        # env={}: a FRONTROW_ACCESS_TOKEN in this shell must not mask an empty token in the file.
        load_settings(tmp, env={})
        if not force and (path.exists() or path.is_symlink()):  # appeared while we were signing in
            raise SetupError(f"{path} already exists; use `frontrow init --force` to overwrite it.", 2)
        os.replace(tmp, path)
    except ConfigError as exc:
        raise SetupError(
            "The config Frontrow wrote does not validate (a bug):\n  " + "\n  ".join(exc.errors)
        ) from None
    except OSError as exc:
        raise SetupError(f"Cannot write {path}: {exc.strerror or exc}.") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@cli.command()
def init(
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing config")] = False,
) -> None:
    """Interactive first setup: instance, app registration, sign-in, config file (mode 0600)."""
    raise typer.Exit(run_init(config_path(), force=force))
