"""The `frontrow` command as users run it: exit codes, stdout for answers only, stderr for logs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.store import Store
from tests.conftest import Community, to_toml

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def frontrow(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def test_check_config_accepts_the_example_and_shows_the_rules() -> None:
    result = frontrow("--config", str(EXAMPLE), "check-config", env={"FRONTROW_ACCESS_TOKEN": "t0k3n"})
    assert result.returncode == 0, result.stderr
    assert "thank-new-followers" in result.stdout and "answer-questions" in result.stdout


def test_a_broken_config_exits_2_naming_every_key_without_a_traceback(tmp_path: Path) -> None:
    broken = EXAMPLE.read_text().replace('expire_after = "3d"', 'expire_after = "3 dayz"')
    broken = broken.replace("max_posts_per_hour = 20", "max_posts_per_hour = -1")
    path = tmp_path / "config.toml"
    path.write_text(broken)
    result = frontrow("--config", str(path), "check-config")
    assert result.returncode == 2
    assert "approval.expire_after" in result.stderr and "limits.max_posts_per_hour" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_the_config_path_comes_from_the_environment_then_the_working_folder(tmp_path: Path) -> None:
    found = frontrow("check-config", env={"FRONTROW_CONFIG": str(EXAMPLE), "FRONTROW_ACCESS_TOKEN": "t"})
    assert found.returncode == 0, found.stderr
    missing = frontrow("check-config", cwd=tmp_path, env={"FRONTROW_CONFIG": ""})
    assert missing.returncode == 2 and "config.toml" in missing.stderr
    assert "`frontrow init` writes one" in missing.stderr


def test_rules_test_explains_rule_by_rule() -> None:
    result = frontrow(
        "--config",
        str(EXAMPLE),
        "rules",
        "test",
        "--event",
        "mention",
        "--text",
        "lovely day",
        "--from",
        "fan@example.social",
    )
    assert result.returncode == 0, result.stderr
    assert "answer-questions: no, the text contains none of contains_any" in result.stdout
    assert "thank-new-followers: no, it is for follow events" in result.stdout
    assert "No rule matches" in result.stdout

    matched = frontrow(
        "--config",
        str(EXAMPLE),
        "rules",
        "test",
        "--event",
        "mention",
        "--text",
        "how?",
        "--from",
        "fan@example.social",
    )
    assert (
        "answer-questions: MATCHES" in matched.stdout
        and "@fan@example.social Good question" in matched.stdout
    )


def test_drafts_json_prints_only_json_and_logs_never_show_the_token(community: Community) -> None:
    fan = community.person("fan")
    fan.api.account_follow(community.bot.id)
    fan.api.status_post("@bot how are you?")
    data = community.config()
    token = data["mastodon"].pop("access_token")
    config = community.tmp / "config.toml"
    config.write_text(to_toml(data))
    env = {"FRONTROW_ACCESS_TOKEN": token}

    run = frontrow("--config", str(config), "--log-format", "json", "run", "--once", env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    lines = [json.loads(line) for line in run.stderr.splitlines() if line.strip()]
    assert lines and all({"time", "level", "message"} <= set(line) for line in lines)
    assert token not in run.stderr

    listed = frontrow("--config", str(config), "drafts", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    drafts = json.loads(listed.stdout)
    assert {d["rule"] for d in drafts} == {"thank-new-followers", "answer-questions"}
    assert set(drafts[0]) == {
        "id",
        "state",
        "rule",
        "acct",
        "in_reply_to_id",
        "text",
        "created_at",
        "status_id",
    }

    pending = frontrow("--config", str(config), "drafts", "--state", "pending", env=env)
    assert pending.returncode == 0 and "thank-new-followers" in pending.stdout
    assert frontrow("--config", str(config), "drafts", "--state", "bogus", env=env).returncode == 2

    first = drafts[0]["id"]
    assert frontrow("--config", str(config), "approve", str(first), "--text", "Hi!", env=env).returncode == 0
    again = frontrow("--config", str(config), "reject", str(first), env=env)
    assert again.returncode == 1 and "already approved" in again.stderr

    who = frontrow("--config", str(config), "who", "fan", "--json", env=env)
    record = json.loads(who.stdout)
    assert record["acct"] == "fan" and record["follows_us"] is True
    opened = Store.open(community.store_url, create=False)
    domain = opened.find_owner(community.server.base_url, token).partition("@")[2]
    opened.close()
    for form in ("@fan", f"fan@{domain}", f"@fan@{domain}", f"{community.server.base_url}/@fan"):
        same = frontrow("--config", str(config), "who", form, "--json", env=env)
        assert same.returncode == 0 and json.loads(same.stdout)["acct"] == "fan", (form, domain, same.stderr)
    assert record["theirs"]["mention"] == 1 and record["theirs"]["follow"] == 1
    assert set(record) >= {
        "acct",
        "display_name",
        "follows_us",
        "follows_us_since",
        "we_follow",
        "theirs",
        "ours",
    }


def test_health_needs_a_fresh_heartbeat(community: Community) -> None:
    config = community.write_config()
    assert frontrow("--config", str(config), "health").returncode == 1
    app = community.app()
    app.store.beat(app.clock())
    assert frontrow("--config", str(config), "health").returncode == 0


@pytest.mark.parametrize("command", [["--help"], ["run", "--help"], ["rules", "test", "--help"]])
def test_help_works(command: list[str]) -> None:
    result = frontrow(*command)
    assert result.returncode == 0 and "Usage" in result.stdout


def test_help_loads_none_of_the_heavy_libraries() -> None:
    """`frontrow --help` answers at once: no ORM, no validation, no API client."""
    probe = (
        "import sys\n"
        "from bot.cli import main\n"
        "sys.argv = ['frontrow', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('sqlalchemy', 'sqlmodel', 'pydantic', 'mastodon', 'alembic', 'httpx')\n"
        "print(' '.join(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "Usage" in result.stdout
    assert result.stderr.strip() == ""


def test_a_relative_store_path_is_the_config_folders_and_reading_creates_none(tmp_path: Path) -> None:
    folder, elsewhere = tmp_path / "srv", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    config = folder / "config.toml"
    config.write_text(EXAMPLE.read_text())  # store.url = "sqlite:///frontrow.db"
    for command in (["drafts"], ["who", "fan"], ["people"], ["health"], ["events"]):
        shown = frontrow("--config", str(config), *command, cwd=elsewhere)
        assert shown.returncode == 1, (command, shown.stderr)
        assert shown.stderr.strip() == (
            f"no store at {folder / 'frontrow.db'}; run `frontrow run` or check `store.url`"
        )
    assert list(elsewhere.iterdir()) == [] and not (folder / "frontrow.db").exists()

    assert frontrow("--config", str(config), "db", "upgrade", cwd=elsewhere).returncode == 0
    assert (folder / "frontrow.db").stat().st_mode & 0o777 == 0o600
    listed = frontrow("--config", str(config), "drafts", "--json", cwd=elsewhere)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    assert list(elsewhere.iterdir()) == []


def without_psycopg(*args: str) -> subprocess.CompletedProcess[str]:
    """`frontrow ARGS` in a process where the PostgreSQL driver cannot be imported, as without the extra."""
    probe = (
        "import sys\n"
        "sys.modules['psycopg'] = None\n"
        "from bot.cli import main\n"
        f"sys.argv = ['frontrow', *{list(args)!r}]\n"
        "main()\n"
    )
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)


def unwritable_folder(tmp_path: Path) -> Path:
    if os.geteuid() == 0:  # root writes through any mode; nobody creates files in /proc
        return Path("/proc")
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o500)
    return folder


@pytest.mark.parametrize(
    ("token", "url", "key", "words"),
    [
        ("", "sqlite:///frontrow.db", "mastodon.access_token", "FRONTROW_ACCESS_TOKEN"),
        (
            "t0k3n",
            "sqllite:///frontrow.db",
            "store.url",
            "unknown kind of database 'sqllite' (did you mean sqlite?)",
        ),
        ("t0k3n", "postgresql+psycopg://u@127.0.0.1/f", "store.url", 'pip install "frontrow[postgres]"'),
        ("t0k3n", "sqlite:///{unwritable}/frontrow.db", "store.url", "cannot be written"),
        ("t0k3n", "sqlite:///{tmp}/no/such/frontrow.db", "store.url", "does not exist"),
    ],
    ids=["empty-token", "unknown-dialect", "missing-driver", "unwritable-folder", "missing-folder"],
)
def test_check_config_and_run_refuse_offline_what_would_fail_exit_2_naming_the_key(
    tmp_path: Path, token: str, url: str, key: str, words: str
) -> None:
    url = url.format(unwritable=unwritable_folder(tmp_path), tmp=tmp_path)
    text = EXAMPLE.read_text().replace('url = "sqlite:///frontrow.db"', f'url = "{url}"')
    text = text.replace('access_token = ""', f'access_token = "{token}"')
    config = tmp_path / "config.toml"
    config.write_text(text)
    # `run` says the same, never a traceback (shown for the store cases: a token is checked alike).
    for command in ("check-config", "run") if key == "store.url" and "such" not in url else ("check-config",):
        result = without_psycopg("--config", str(config), command)
        assert result.returncode == 2, result.stderr
        [head, line] = result.stderr.splitlines()
        assert head == f"{config}: the config has 1 error(s):"
        assert line.strip().startswith(f"{key}: ") and words in line
        assert result.stdout == "" and not (tmp_path / "frontrow.db").exists()


def test_an_empty_token_in_the_file_is_fine_when_the_environment_gives_one(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(EXAMPLE.read_text())
    result = frontrow("--config", str(config), "check-config", env={"FRONTROW_ACCESS_TOKEN": "t0k3n"})
    assert result.returncode == 0, result.stderr


def every_command() -> list[list[str]]:
    import typer.main

    from bot.cli import cli

    group = typer.main.get_command(cli)
    found: list[list[str]] = [[]]

    def walk(command: object, path: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            found.append([*path, name])
            walk(sub, [*path, name])

    walk(group, [])
    return found


def test_version_and_short_help_and_completion() -> None:
    version = frontrow("--version")
    assert version.returncode == 0 and re.fullmatch(r"frontrow \d+\.\d+\.\S+\n", version.stdout)
    short = frontrow("-h")
    assert short.returncode == 0 and short.stdout == frontrow("--help").stdout
    assert "--install-completion" in short.stdout and "--show-completion" in short.stdout


def test_every_commands_help_answers_to_h_without_type_labels_on_its_options() -> None:
    from typer.testing import CliRunner

    from bot.cli import cli

    commands = every_command()
    assert ["people"] in commands and ["rules", "test"] in commands and ["db", "upgrade"] in commands
    for command in commands:
        shown = CliRunner().invoke(cli, [*command, "-h"])
        assert shown.exit_code == 0, (command, shown.output)
        assert "Usage: " in shown.output
        options = [line for line in shown.output.splitlines() if re.match(r"\s+-", line)]
        labels = re.findall(r"<(?:bool|str|int|float|int range)>", "\n".join(options))
        assert labels == [], (command, labels)
