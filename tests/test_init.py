"""`frontrow init` end to end against mastodon_mock: everything but a human clicking in a browser.

The browser step is played by `authorise_in_browser`: it opens the authorisation URL init printed,
gets mastodon_mock's account picker (its stand-in for Mastodon's sign-in page), submits the form
as the bot account and reads the code off the out-of-band page, as the human would copy it.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import stat
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import click
import httpx
import pytest
from mastodon import Mastodon
from mastodon_mock.testing import MockServer
from typer.testing import CliRunner

from bot.cli import cli
from bot.cli.init import (
    example_config,
    normalise_base_url,
    parse_approvers,
    render_config,
    run_init,
    set_value,
    toml_string,
    write_config,
)
from bot.config import load_settings
from bot.instance.onboard import SCOPES
from tests.conftest import mock_config


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockServer]:
    # One server for the module (start-up is the slow part); each test makes its own accounts.
    with MockServer(config=mock_config(tmp_path_factory.mktemp("mock"))) as running:
        yield running


def make_account(server: MockServer, prefix: str) -> tuple[str, str]:
    """A new local account: (username, its own token)."""
    username = f"{prefix}_{secrets.token_hex(3)}"
    made = httpx.post(f"{server.base_url}/api/v1/_mock/dev_user", json={"username": username}).json()
    return username, made["access_token"]


def authorise_in_browser(url: str, username: str) -> str:
    """What the human does: open the URL, sign in as `username`, authorise, copy the code."""
    picker = httpx.get(url)
    picker.raise_for_status()
    assert f'value="{username}"' in picker.text, "the sign-in page does not offer the bot account"
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', picker.text))
    assert form["redirect_uri"] == "urn:ietf:wg:oauth:2.0:oob"
    assert form["scope"] == " ".join(SCOPES)
    parts = urlsplit(url)
    shown = httpx.post(
        f"{parts.scheme}://{parts.netloc}/oauth/authorize", data={**form, "username": username}
    )
    shown.raise_for_status()
    match = re.search(r"Authorization code: (\S+?)</p>", shown.text)
    assert match, shown.text
    return match[1]


Answer = str | list[str] | Callable[[], str]


@dataclass
class Terminal:
    """The person at the keyboard: answers by a word in the question; keeps everything shown."""

    answers: dict[str, Answer]
    shown: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    def ask(self, question: str, default: str) -> str:
        self.asked.append(question)
        for word, answer in self.answers.items():
            if word in question.lower():
                if callable(answer):
                    return answer()
                if isinstance(answer, list):  # one answer per time the question is asked
                    return answer.pop(0)
                return answer
        raise AssertionError(f"unexpected question: {question}")

    def say(self, message: str) -> None:
        self.shown.append(message)

    def warn(self, message: str) -> None:
        self.errors.append(message)

    @property
    def auth_url(self) -> str:
        return next(line.strip() for line in self.shown if line.strip().startswith("http"))

    def run(self, path: Path, force: bool = False) -> int:
        return run_init(path, force, ask=self.ask, say=self.say, warn=self.warn)


def signing_in_as(
    server: MockServer, bot: str, approvers: Answer = "alice", bot_flag: Answer = "y"
) -> Terminal:
    terminal = Terminal({})
    terminal.answers = {
        "instance": server.base_url,
        "code": lambda: authorise_in_browser(terminal.auth_url, bot),
        "approver": approvers,
        "mark": bot_flag,
    }
    return terminal


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_registers_signs_in_and_writes_a_private_config(
    instance: MockServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bot, bot_own_token = make_account(instance, "bot")
    alice, _ = make_account(instance, "alice")
    carol, _ = make_account(instance, "carol")
    path = tmp_path / "config.toml"
    terminal = signing_in_as(instance, bot, approvers=f"@{alice}, {carol}")

    assert terminal.run(path) == 0, terminal.errors
    assert terminal.errors == []
    assert file_mode(path) == 0o600

    settings = load_settings(path, env={})
    assert settings.mastodon.base_url == instance.base_url
    assert [a.acct for a in settings.approval.approvers] == [alice, carol]
    token = settings.mastodon.access_token
    assert token
    printed = "\n".join([*terminal.shown, *terminal.errors, *capsys.readouterr()])
    assert token not in printed
    assert any(f"Signed in as @{bot}@" in line for line in terminal.shown)

    # The token is the bot's, with exactly the scopes asked for, and the bot flag is now set.
    api = Mastodon(access_token=token, api_base_url=instance.base_url)
    me = api.account_verify_credentials()
    assert me["username"] == bot
    assert me["bot"] is True
    assert api.app_verify_credentials()["scopes"] == list(SCOPES)
    assert parse_qs(urlsplit(terminal.auth_url).query)["scope"] == [" ".join(SCOPES)]

    # Only the three values changed: every comment and every other line is the example's.
    written = path.read_text().splitlines()
    example = example_config().splitlines()
    assert len(written) == len(example)
    changed = [(old, new) for old, new in zip(example, written, strict=True) if old != new]
    keys = [new.split("=")[0].strip() for _, new in changed]
    assert keys == ["base_url", "access_token", "url", "approvers"]
    assert settings.store.url == f"sqlite:///{tmp_path / 'frontrow.db'}"  # absolute, beside the config
    assert any(line.startswith(f'url = "sqlite:///{tmp_path / "frontrow.db"}"') for line in written)
    for old, new in changed:
        assert old[old.index("#") :] == new[new.index("#") :]  # the comment survives

    # A second run without --force refuses before asking anything and leaves the file alone.
    before = path.read_bytes()
    again = signing_in_as(instance, bot)
    assert again.run(path) == 2
    assert again.asked == []
    assert path.read_bytes() == before
    assert len(again.errors) == 1 and "--force" in again.errors[0]

    # With --force it signs in afresh and overwrites, still 0600.
    forced = signing_in_as(instance, bot, approvers=alice)
    assert forced.run(path, force=True) == 0, forced.errors
    assert file_mode(path) == 0o600
    renewed = load_settings(path, env={})
    assert [a.acct for a in renewed.approval.approvers] == [alice]
    assert renewed.mastodon.access_token not in (token, bot_own_token)
    assert any("already marked as a bot" in line for line in forced.shown)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_wrong_answers_are_asked_again_and_the_bot_flag_can_be_declined(
    instance: MockServer, tmp_path: Path
) -> None:
    bot, bot_token = make_account(instance, "bot")
    alice, _ = make_account(instance, "alice")
    terminal = signing_in_as(
        instance,
        bot,
        approvers=["ghost_nobody, carol@elsewhere.example", bot, alice],
        bot_flag=["maybe", "n"],
    )
    terminal.answers["instance"] = ["http://mastodon.example", instance.base_url]

    assert terminal.run(tmp_path / "config.toml") == 0, terminal.errors
    shown = "\n".join(terminal.shown)
    assert "Use https://" in shown
    assert re.search(r"Not found on \S+: ghost_nobody, carol@elsewhere\.example\.", shown)
    assert "is the bot itself" in shown
    assert "Answer y or n" in shown
    assert [a.acct for a in load_settings(tmp_path / "config.toml", env={}).approval.approvers] == [alice]
    assert Mastodon(access_token=bot_token, api_base_url=instance.base_url).account_verify_credentials()[
        "bot"
    ] in (False, None)


def test_a_bad_code_fails_with_one_message_and_writes_nothing(instance: MockServer, tmp_path: Path) -> None:
    terminal = signing_in_as(instance, "whoever")
    terminal.answers["code"] = "not-a-real-code"
    assert terminal.run(tmp_path / "config.toml") == 1
    assert len(terminal.errors) == 1 and "did not accept the code 3 times" in terminal.errors[0]
    assert list(tmp_path.iterdir()) == []


def test_a_mistyped_code_is_asked_again_on_the_same_registration(
    instance: MockServer, tmp_path: Path
) -> None:
    bot, _ = make_account(instance, "bot")
    alice, _ = make_account(instance, "alice")
    terminal = signing_in_as(instance, bot, approvers=alice)
    real = terminal.answers["code"]
    assert callable(real)
    codes = iter(["typo-1", "typo-2"])
    terminal.answers["code"] = lambda: next(codes, None) or real()
    assert terminal.run(tmp_path / "config.toml") == 0, terminal.errors
    assert sum("code" in q for q in terminal.asked) == 3
    assert sum(line.startswith("  http") for line in terminal.shown) == 1  # registered and shown once
    assert sum("did not accept that code" in line for line in terminal.shown) == 2


def test_the_sign_in_address_carries_no_unset_parameter(instance: MockServer) -> None:
    from bot.instance.onboard import register

    url = register(instance.base_url).sign_in_url
    assert "None" not in url and "state=" not in url and "lang=" not in url
    assert parse_qs(urlsplit(url).query)["scope"] == [" ".join(SCOPES)]


def test_https_to_a_plain_http_test_server_suggests_http(instance: MockServer, tmp_path: Path) -> None:
    address = urlsplit(instance.base_url).netloc  # "127.0.0.1:PORT": https:// is assumed
    terminal = Terminal({"instance": address})
    assert terminal.run(tmp_path / "config.toml") == 1
    [error] = terminal.errors
    assert error.startswith(f"Cannot reach https://{address}:") and f"answer http://{address}" in error


def test_an_unreachable_instance_fails_with_one_message(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    terminal = Terminal({"instance": f"http://127.0.0.1:{port}"})
    assert terminal.run(tmp_path / "config.toml") == 1
    assert terminal.errors == [f"Cannot reach http://127.0.0.1:{port}: connection refused."]
    assert list(tmp_path.iterdir()) == []


def test_cancelling_at_a_prompt_writes_nothing(tmp_path: Path) -> None:
    def cancel(question: str, default: str) -> str:
        raise click.exceptions.Abort

    errors: list[str] = []
    assert run_init(tmp_path / "config.toml", False, ask=cancel, say=print, warn=errors.append) == 1
    assert errors == ["Setup cancelled; nothing was written."]
    assert list(tmp_path.iterdir()) == []


def test_a_missing_directory_is_refused_before_any_question(tmp_path: Path) -> None:
    terminal = Terminal({})
    assert terminal.run(tmp_path / "nowhere" / "config.toml") == 2
    assert terminal.asked == [] and len(terminal.errors) == 1


def test_the_cli_command_prompts_on_the_terminal(instance: MockServer, tmp_path: Path) -> None:
    bot, _ = make_account(instance, "bot")
    alice, _ = make_account(instance, "alice")
    # CliRunner takes all input up front, before the URL is printed. mastodon_mock's codes name the
    # account, not the app, so a code from an earlier browser visit works (a shortcut for this test only).
    client_id, _ = Mastodon.create_app("x", api_base_url=instance.base_url)
    code = authorise_in_browser(
        f"{instance.base_url}/oauth/authorize?client_id={client_id}&response_type=code"
        f"&redirect_uri=urn:ietf:wg:oauth:2.0:oob&scope={' '.join(SCOPES)}",
        bot,
    )
    path = tmp_path / "frontrow.toml"
    answers = "\n".join([instance.base_url, code, alice, ""]) + "\n"  # "": the bot flag's default, yes
    result = CliRunner().invoke(cli, ["--config", str(path), "init"], input=answers)
    assert result.exit_code == 0, result.output
    token = load_settings(path, env={}).mastodon.access_token
    assert token not in result.stdout and token not in result.stderr
    assert f"--config {path} check-config" in result.stdout
    assert file_mode(path) == 0o600


# --- pieces ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "url"),
    [
        ("mastodon.social", "https://mastodon.social"),
        ("  Mastodon.Social/ ", "https://mastodon.social"),
        ("@bot@mastodon.social", "https://mastodon.social"),
        ("https://mastodon.social/@bot", "https://mastodon.social"),
        ("mastodon.social/@bot", "https://mastodon.social"),
        ("https://social.example:8443/home", "https://social.example:8443"),
        ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
        ("http://localhost:3000/", "http://localhost:3000"),
        ("http://[::1]:3000", "http://[::1]:3000"),
    ],
)
def test_instance_addresses_are_normalised(answer: str, url: str) -> None:
    assert normalise_base_url(answer) == url


@pytest.mark.parametrize("answer", ["", "   ", "http://mastodon.social", "ftp://x.example", "https://"])
def test_bad_instance_addresses_say_what_to_fix(answer: str) -> None:
    with pytest.raises(ValueError):
        normalise_base_url(answer)


def test_approvers_are_split_and_cleaned() -> None:
    assert parse_approvers("alice, @bob@other.example ,Alice  carol") == [
        "alice",
        "bob@other.example",
        "carol",
    ]
    for bad in ("", " , ", "a@b@c"):
        with pytest.raises(ValueError):
            parse_approvers(bad)


@pytest.mark.parametrize("value", ["plain", 'quote " and \\ backslash', "tab\tnew\nline\x7f", "emoji 🐘 ünï"])
def test_toml_strings_round_trip(value: str) -> None:
    assert tomllib.loads(f"v = {toml_string(value)}")["v"] == value


def test_set_value_keeps_the_comment_at_its_column() -> None:
    text = '[a]\nkey = ""        # why\n[b]\nkey = ["x"]  # other\n'
    assert set_value(text, "a", "key", '"abc"') == '[a]\nkey = "abc"     # why\n[b]\nkey = ["x"]  # other\n'
    assert set_value(text, "b", "key", '["a long value"]') == (
        '[a]\nkey = ""        # why\n[b]\nkey = ["a long value"] # other\n'
    )
    with pytest.raises(ValueError):
        set_value(text, "c", "key", '"x"')


def test_the_config_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    text = render_config(
        example_config(), base_url="https://m.example", access_token="t0k3n", approvers=["a"]
    )
    old = os.umask(0)
    try:
        write_config(tmp_path / "config.toml", text, force=False)
    finally:
        os.umask(old)
    assert file_mode(tmp_path / "config.toml") == 0o600


def test_the_example_config_still_has_the_lines_init_fills_in() -> None:
    data: dict[str, Any] = tomllib.loads(
        render_config(
            example_config(), base_url="https://m.example", access_token="tok", approvers=["a", "b"]
        )
    )
    assert data["mastodon"] == {"base_url": "https://m.example", "access_token": "tok"}
    assert data["approval"]["approvers"] == ["a", "b"]
