"""Configuration: the example loads, the env and path rules hold, and every broken config names its key."""

import copy
import json
import os
import subprocess
import sys
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest

from bot.config import (
    Approver,
    ConfigError,
    Settings,
    load_settings,
    parse_duration,
    resolve_config_path,
    settings_from_dict,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"

VALID: dict[str, Any] = {
    "mastodon": {"base_url": "https://mastodon.example/", "access_token": "file-token"},
    "approval": {"approvers": ["@alice", {"acct": "bob@other.example", "sign": "^Bob"}]},
    "rules": [
        {"name": "thanks", "on": "follow", "templates": ["Thanks, {name}!"], "cooldown": "180d"},
        {"name": "questions", "on": "mention", "contains_any": ["?"], "templates": ["Hi {acct}"]},
    ],
}


def broken(path: str, value: Any) -> dict[str, Any]:
    """VALID with one key set (dotted path, list indices as numbers); `...` deletes the key."""
    data = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return data


def errors_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(data)
    assert str(caught.value) == "\n".join(caught.value.errors)
    return caught.value.errors


def test_example_config_loads() -> None:
    settings = load_settings(EXAMPLE, env={})
    assert settings.mastodon.base_url == "https://mastodon.example"
    assert settings.token_missing
    assert settings.store.url == f"sqlite:///{EXAMPLE.parent / 'frontrow.db'}"  # beside the config
    assert settings.approval.approvers == (Approver(acct="alice"),)
    assert settings.approval.expire_after == timedelta(days=3)
    assert settings.approval.batch_window == timedelta(minutes=2)
    assert settings.approval.max_dms_per_hour == 12
    assert settings.listener.streaming is True
    assert settings.listener.poll_interval == timedelta(seconds=60)
    assert settings.listener.max_event_age == timedelta(days=2)
    assert settings.limits.quiet_hours is None
    assert settings.limits.timezone == "UTC"
    assert settings.limits.spike_window == timedelta(hours=1)
    assert (settings.limits.max_posts_per_hour, settings.limits.max_drafts_per_day) == (20, 200)
    assert settings.etiquette.max_replies_per_thread == 3
    assert settings.listen.digest_at == time(9, 0)
    assert settings.listen.sources == ("home",)
    assert settings.listen.weekly_on == "mon"
    assert [rule.name for rule in settings.rules] == ["thank-new-followers", "answer-questions"]
    thanks, questions = settings.rules
    assert (thanks.on, thanks.visibility, thanks.cooldown) == ("follow", "unlisted", timedelta(days=180))
    assert (questions.on, questions.contains_any, questions.cooldown) == ("mention", ("?",), None)


def test_example_sets_every_key_explicitly() -> None:
    # The example documents every key, so it must spell out every default of every section.
    import tomllib

    data = tomllib.loads(EXAMPLE.read_text())
    for section, model in Settings.model_fields.items():
        if section == "rules":
            continue
        section_model = model.annotation
        assert isinstance(section_model, type) and issubclass(section_model, pydantic.BaseModel)
        assert set(data[section]) == set(section_model.model_fields), section


def test_defaults_and_normalisation() -> None:
    settings = settings_from_dict(
        {
            "mastodon": {"base_url": "https://mastodon.example/"},
            "approval": {"approvers": ["@alice", {"acct": "@bob@other.example", "sign": "^Bob"}]},
            "limits": {"quiet_hours": "22:00-07:00", "timezone": "Europe/Berlin"},
            "listen": {
                "sources": ["home", "list: friends"],
                "weekly_on": "Friday",
                "watch": ["@x@y.example"],
            },
        }
    )
    assert settings.mastodon.base_url == "https://mastodon.example"
    assert settings.approval.approvers == (
        Approver(acct="alice"),
        Approver(acct="bob@other.example", sign="^Bob"),
    )
    quiet = settings.limits.quiet_hours
    assert quiet is not None and str(quiet) == "22:00-07:00"
    assert quiet.contains(time(23, 30)) and quiet.contains(time(6, 59)) and not quiet.contains(time(7, 0))
    assert str(settings.limits.tz) == "Europe/Berlin"
    assert settings.listen.sources == ("home", "list:friends")
    assert (settings.listen.weekly_on, settings.listen.weekly_weekday) == ("fri", 4)
    assert settings.listen.watch == ("x@y.example",)
    assert settings.rules == ()
    assert settings.limits.max_posts_per_hour == 20


def test_env_token_overrides_file() -> None:
    assert settings_from_dict(VALID).mastodon.access_token == "file-token"
    env = {"FRONTROW_ACCESS_TOKEN": "env-token"}
    assert settings_from_dict(VALID, env).mastodon.access_token == "env-token"
    assert settings_from_dict(VALID, {"FRONTROW_ACCESS_TOKEN": ""}).mastodon.access_token == "file-token"
    settings = load_settings(EXAMPLE, env=env)
    assert settings.mastodon.access_token == "env-token" and not settings.token_missing


def test_token_is_not_in_repr() -> None:
    settings = settings_from_dict(VALID, {"FRONTROW_ACCESS_TOKEN": "sekrit"})
    assert "sekrit" not in repr(settings) and "sekrit" not in str(settings)


def test_resolve_config_path_precedence() -> None:
    env = {"FRONTROW_CONFIG": "/etc/frontrow/env.toml"}
    assert resolve_config_path("cli.toml", env) == Path("cli.toml")
    assert resolve_config_path(Path("/x/cli.toml"), env) == Path("/x/cli.toml")
    assert resolve_config_path(None, env) == Path("/etc/frontrow/env.toml")
    assert resolve_config_path(None, {}) == Path("config.toml")
    assert resolve_config_path(None, {"FRONTROW_CONFIG": ""}) == Path("config.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("0s", timedelta(0)),
        ("10m", timedelta(minutes=10)),
        ("2h", timedelta(hours=2)),
        ("3d", timedelta(days=3)),
        ("180d", timedelta(days=180)),
        (" 60s ", timedelta(seconds=60)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["3 dayz", "", "10", "1w", "-5m", "1.5h", "h", "2h30m", "3D"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration \(use 30s, 10m, 2h or 3d\)"):
        parse_duration(text)


BROKEN = [
    # (data, key the message must name, words of the message)
    (broken("mastodon.typo", 1), "mastodon.typo", "unknown key"),
    (broken("approval.aprovers", ["x"]), "approval.aprovers", 'did you mean "approvers"'),
    (broken("rules.0.cooldwn", "1d"), "rules[1].cooldwn", "unknown key"),
    (broken("limit", {"max_posts_per_hour": 1}), "limit:", "unknown section"),
    (broken("rules.1.on", "folow"), "rules[2].on", '"folow" is not an event (follow, mention'),
    (broken("rules.1.cooldown", "3 dayz"), "rules[2].cooldown", "is not a duration (use 30s, 10m, 2h or 3d)"),
    (broken("approval.expire_after", 3), "approval.expire_after", "is not a duration"),
    (broken("approval.batch_window", "2 min"), "approval.batch_window", "is not a duration"),
    (broken("listener.poll_interval", "1 minute"), "listener.poll_interval", "is not a duration"),
    (broken("listener.poll_interval", "0s"), "listener.poll_interval", "longer than 0s"),
    (broken("listener.max_event_age", "2days"), "listener.max_event_age", "is not a duration"),
    (broken("limits.spike_window", "1hr"), "limits.spike_window", "is not a duration"),
    (broken("rules.0.templates", []), "rules[1].templates", "at least one template"),
    (broken("rules.0.templates", "x"), "rules[1].templates", "must be a list"),
    (broken("rules.0.templates", [""]), "rules[1].templates[1]", "empty"),
    (broken("rules.0.templates", ["ok {name}", "hi {nmae}"]), "rules[1].templates[2]", "{nmae}"),
    (broken("rules.0.templates", ["hi {name"]), "rules[1].templates[1]", "brace"),
    (broken("rules.0.templates", ["hi {0}"]), "rules[1].templates[1]", "not a template field"),
    (broken("rules.0.regex", "(unclosed"), "rules[1].regex", "not a valid regular expression"),
    (broken("rules.1.regex", "how (?=do)"), "rules[2].regex", "uses a look-ahead, which Frontrow's"),
    (broken("rules.1.regex", r"(a)\1"), "rules[2].regex", "uses a backreference"),
    (broken("rules.1.regex", 5), "rules[2].regex", "write the regular expression in quotes"),
    (broken("rules.0.visibility", "followers"), "rules[1].visibility", "is not a visibility"),
    (
        broken("rules.0.visibility_in", ["public", "everyone"]),
        "rules[1].visibility_in[2]",
        "not a visibility",
    ),
    (broken("mastodon.base_url", ...), "mastodon.base_url", "missing (the bot account's home instance"),
    (broken("mastodon", ...), "mastodon.base_url", "missing"),
    (broken("mastodon.base_url", "mastodon.example"), "mastodon.base_url", "http(s) URL"),
    (broken("approval.approvers", []), "approval.approvers", "at least one approver is needed"),
    (broken("approval.approvers", [5]), "approval.approvers[1]", "not an approver"),
    (broken("approval.approvers", ["a b"]), "approval.approvers[1]", "not an account"),
    (broken("rules.1.name", "thanks"), "rules[2].name", '"thanks" is already used by rules[1]'),
    (broken("rules.1.name", ...), "rules[2].name", "missing"),
    (broken("limits.quiet_hours", "22-7"), "limits.quiet_hours", "HH:MM-HH:MM"),
    (broken("limits.quiet_hours", "22:00-22:00"), "limits.quiet_hours", "same time"),
    (broken("limits.timezone", "Mars/Olympus"), "limits.timezone", "not a time zone"),
    (broken("approval.max_dms_per_hour", -1), "approval.max_dms_per_hour", "negative"),
    (broken("limits.max_posts_per_hour", 2.5), "limits.max_posts_per_hour", "whole number"),
    (broken("limits.max_drafts_per_day", "200"), "limits.max_drafts_per_day", "whole number"),
    (broken("limits.spike_threshold", True), "limits.spike_threshold", "whole number"),
    (broken("etiquette.max_replies_per_thread", -3), "etiquette.max_replies_per_thread", "negative"),
    (broken("listen.max_items", False), "listen.max_items", "whole number"),
    (broken("rules.0.min_followers", -1), "rules[1].min_followers", "negative"),
    (broken("rules.0.max_followers", "many"), "rules[1].max_followers", "whole number"),
    (broken("rules.0.priority", True), "rules[1].priority", "whole number"),
    (broken("etiquette.skip_bots", "yes"), "etiquette.skip_bots", "true or false"),
    (broken("rules.0.first_contact", 1), "rules[1].first_contact", "true or false"),
    (broken("listen.digest_at", "9am"), "listen.digest_at", "HH:MM"),
    (broken("listen.weekly_on", "someday"), "listen.weekly_on", "mon, tue"),
    (broken("listen.sources", ["home", "timeline"]), "listen.sources[2]", "list:<name>"),
    (broken("listen.sources", "home"), "listen.sources", "must be a list"),
    (broken("rules.0.contains_any", "?"), "rules[1].contains_any", "must be a list"),
    (broken("rules.0.contains_none", [""]), "rules[1].contains_none[1]", "empty"),
    (broken("store.url", "not a url"), "store.url", "not a database URL"),
    (broken("rules", {"name": "x"}), "rules:", "[[rules]]"),
    (broken("mastodon.access_token", 12345), "mastodon.access_token", "text in quotes"),
]


@pytest.mark.parametrize(("data", "key", "words"), BROKEN, ids=[f"{key}/{words}" for _, key, words in BROKEN])
def test_broken_config_names_the_key(data: dict[str, Any], key: str, words: str) -> None:
    errors = errors_of(data)
    assert any(line.startswith(key) and words in line for line in errors), errors


NOT_LINEAR = "which Frontrow's linear-time matcher does not support"
AS_TEXT = "which Frontrow's linear-time matcher reads as plain text"
UNSUPPORTED_REGEXES = [
    # (pattern, what the one error says of it)
    (r"(\w+) \1", f"uses a backreference (\\1), {NOT_LINEAR}"),
    ("(?P<word>a)(?P=word)", f"uses a backreference, {NOT_LINEAR}"),
    ("how (?=do)", f"uses a look-ahead, {NOT_LINEAR}"),
    ("how (?!not)", f"uses a look-ahead, {NOT_LINEAR}"),
    ("(?<=@)bot", f"uses a look-behind, {NOT_LINEAR}"),
    ("(?<!no )thanks", f"uses a look-behind, {NOT_LINEAR}"),
    ("a*+b", f"uses a possessive quantifier (*+), {NOT_LINEAR}"),
    ("a{2}+", f"uses a possessive quantifier ({{2}}+), {NOT_LINEAR}"),
    ("(?>a|ab)c", f"uses an atomic group, {NOT_LINEAR}"),
    ("(a)?(?(1)b|c)", f"uses a conditional group, {NOT_LINEAR}"),
    ("(?x) how do", f'uses the inline flag "x", {NOT_LINEAR} (only i, m and s)'),
    ("done\\Z", f"uses \\Z, {NOT_LINEAR} (write \\z for the end of the text)"),
    ("a{1001}", f"repeats something more than 1000 times ({{1001}}), {NOT_LINEAR}"),
    # RE2 would take these but read them otherwise than Python's re: an octal code, plain text.
    (r"(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\10", f"uses a backreference (\\10), {NOT_LINEAR}"),
    (r"[\12]\12", f"uses a backreference (\\12), {NOT_LINEAR}"),
    ("ha{,3}!", f'uses the repetition "{{,3}}", {AS_TEXT} (write {{0,3}})'),
    (r"[{,]x{,}", f'uses the repetition "{{,}}", {AS_TEXT} (write {{0,}})'),
    ("(?i", "is not a valid regular expression: invalid perl operator: (?i"),
    ("(unclosed", "is not a valid regular expression: missing ): (unclosed"),
    ("[z-a]", "is not a valid regular expression: invalid character class range: z-a"),
]


@pytest.mark.parametrize(("pattern", "why"), UNSUPPORTED_REGEXES)
def test_a_regex_the_linear_time_matcher_cannot_take_is_one_clear_error(pattern: str, why: str) -> None:
    # rules[N] counts the [[rules]] tables in file order from 1, as every rule error does, and names it.
    expected = f'rules[2].regex ("questions"): {json.dumps(pattern)} {why}'
    assert errors_of(broken("rules.1.regex", pattern)) == [expected]


@pytest.mark.parametrize(
    "pattern",
    [
        r"\bv\d+\.\d+\b",
        "(?i)how do (i|you)",
        r"^\p{L}+[!?.]*\z",
        "(?m)^thanks",
        "(a|aa)+$",
        # Read alike by RE2 and Python's re: octal codes, braces in a class or escaped.
        r"\101\0[\12]",
        r"[{,3}]\{,3}[]{,}]",
        r"\Qa{,3}\12",  # RE2's quoted text (Python had no \Q)
        "a{2}b{1,}c{0,2}",
    ],
)
def test_a_regex_the_linear_time_matcher_takes_is_stored_as_written(pattern: str) -> None:
    assert settings_from_dict(broken("rules.1.regex", pattern)).rules[1].regex == pattern


def test_check_config_names_an_unsupported_regex_in_one_line(tmp_path: Path) -> None:
    """The real process: exit 2, the one message on stderr, nothing from the regex engine itself."""
    text = EXAMPLE.read_text()
    assert 'contains_any = ["?"]\n' in text
    path = tmp_path / "config.toml"
    path.write_text(text.replace('contains_any = ["?"]\n', 'contains_any = ["?"]\nregex = "how (?=do)"\n', 1))
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(path), "check-config"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "FRONTROW_CONFIG": ""},
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}: the config has 1 error(s):",
        f'  rules[2].regex ("answer-questions"): "how (?=do)" uses a look-ahead, {NOT_LINEAR}',
    ]


def test_secret_is_not_echoed_in_errors() -> None:
    assert "12345" not in "\n".join(errors_of(broken("mastodon.access_token", 12345)))


def test_all_errors_are_reported_together() -> None:
    data = broken("rules.1.cooldown", "3 dayz")
    data["approval"]["typo"] = True
    data["limits"] = {"timezone": "Nowhere/Land", "max_posts_per_hour": -1}
    data["rules"][0]["on"] = "folow"
    data["rules"].append({"name": "thanks", "on": "follow", "templates": ["{who}"]})
    errors = errors_of(data)
    expected = [
        "approval.typo: unknown key (a typo must not silently disable a setting)",
        'rules[2].cooldown ("questions"): "3 dayz" is not a duration (use 30s, 10m, 2h or 3d)',
        'rules[1].on ("thanks"): "folow" is not an event '
        "(follow, mention, reblog (boost), favourite, follow_request, reply, share, quote)",
        'rules[3].name: "thanks" is already used by rules[1]',
        "limits.timezone:",
        "limits.max_posts_per_hour:",
        'rules[3].templates[1] ("thanks"):',
    ]
    for line in expected:
        assert any(error.startswith(line) for error in errors), (line, errors)
    assert len(errors) == len(expected)


def test_settings_are_frozen() -> None:
    settings = settings_from_dict(VALID)
    with pytest.raises(pydantic.ValidationError):
        settings.limits.max_posts_per_hour = 1000
    with pytest.raises(pydantic.ValidationError):
        settings.rules[0].templates = ("x",)
    with pytest.raises(AttributeError):
        settings.rules.append(settings.rules[0])  # type: ignore[attr-defined]
    hash(settings)  # frozen all the way down: usable as a dict key or in a set


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.errors == [f"config: file not found: {path} (`frontrow init` writes one)"]


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[mastodon]\nbase_url = "https://mastodon.example"\naccess_token = oops\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    (error,) = caught.value.errors
    assert error.startswith("config: TOML syntax error at line 3, column")


def test_file_errors_are_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[mastodon]\nbase_url = "https://m.example"\n[approval]\napprovers = []\n'
        '[[rules]]\nname = "a"\non = "follow"\ntemplates = "hi"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.errors == [
        "approval.approvers: at least one approver is needed",
        'rules[1].templates ("a"): must be a list (e.g. templates = ["..."]), not "hi"',
    ]


@pytest.mark.parametrize(("data", "key", "words"), BROKEN, ids=[f"{key}/{words}" for _, key, words in BROKEN])
def test_check_config_exits_2_naming_the_key_without_a_traceback(
    data: dict[str, Any], key: str, words: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from bot.cli import cli
    from tests.conftest import to_toml

    path = tmp_path / "config.toml"
    path.write_text(to_toml(data))
    result = CliRunner().invoke(cli, ["--config", str(path), "check-config"])
    assert result.exit_code == 2, result.output
    assert key in result.stderr and "Traceback" not in result.stderr


# --- secrets are never repeated -------------------------------------------------------------------

SECRET = "sekrit-0123456789abcdef"


@pytest.mark.parametrize(
    "mastodon",
    [
        [{"base_url": "https://x.example", "access_token": SECRET}],  # [[mastodon]] for [mastodon]
        {"base_url": SECRET, "access_token": "t"},  # the token pasted into the wrong key
        {"base_url": "https://x.example", "access_token": [SECRET]},
        {"base_url": "https://x.example", "access_token": {"value": SECRET}},
        {"base_url": "https://x.example", "acess_token": SECRET},
        SECRET,
        42,
    ],
)
def test_config_errors_never_repeat_a_value_from_mastodon(mastodon: object) -> None:
    data = {"mastodon": mastodon, "approval": {"approvers": ["alice"]}, "store": {"url": SECRET}}
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(data)
    message = str(caught.value)
    assert SECRET not in message and "0123456789" not in message
    assert "mastodon" in message  # still names the key


def test_double_brackets_for_a_section_say_how_to_write_it() -> None:
    data = {
        "mastodon": [{"base_url": "https://x.example", "access_token": SECRET}],
        "approval": {"approvers": ["a"]},
    }
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(data)
    assert "mastodon: must be one table: write [mastodon], not [[mastodon]]" in str(caught.value)


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("sqlite:///frontrow.db", "sqlite:///{folder}/frontrow.db"),
        ("sqlite:///data/frontrow.db", "sqlite:///{folder}/data/frontrow.db"),
        ("sqlite:////var/lib/frontrow.db", "sqlite:////var/lib/frontrow.db"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("sqlite:///file:frontrow.db?uri=true", "sqlite:///file:frontrow.db?uri=true"),
        ("postgresql+psycopg://u@h/frontrow", "postgresql+psycopg://u@h/frontrow"),
    ],
)
def test_a_relative_sqlite_path_is_read_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: str, read: str
) -> None:
    folder = tmp_path / "srv"
    folder.mkdir()
    config = folder / "config.toml"
    text = EXAMPLE.read_text().replace('url = "sqlite:///frontrow.db"', f'url = "{written}"')
    config.write_text(text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the current directory does not matter
    assert load_settings(Path("..") / "srv" / "config.toml", env={}).store.url == read.format(folder=folder)
