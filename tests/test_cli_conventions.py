"""CLI conventions (#14, point 4): config values as written, rules counted from 1 with their names, one
reblog/boost vocabulary, and every listing with the same fields in its table and its JSON."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import cli
from bot.config import as_written, format_duration, parse_duration, settings_from_dict
from bot.model import Account, Follow, Mention, NewDraft, Reblog, Status, kind_for, word_for
from bot.store import Store, utcnow
from bot.store.tables import DepartureRow, PersonRow
from tests.test_cli_events import set_aside

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
BOT = Path(__file__).resolve().parent.parent / "bot"
TOKEN = {"FRONTROW_ACCESS_TOKEN": "t0k3n"}


def invoke(*args: str, ok: bool = True) -> Any:
    result = CliRunner().invoke(cli, list(args), env=TOKEN)
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def example_config(tmp_path: Path, text: str | None = None) -> str:
    """The example config in its own folder: its relative SQLite store lands there."""
    path = tmp_path / "config.toml"
    path.write_text(text if text is not None else EXAMPLE.read_text())
    return str(path)


def header(output: str) -> list[str]:
    """The column names of the first rich table in `output`."""
    line = next(line for line in output.splitlines() if "┃" in line)
    return [cell.strip() for cell in line.split("┃")[1:-1]]


def first_cells(output: str) -> list[str]:
    """The first cell of each body row of the rich tables in `output` (continuation lines left out)."""
    cells = [line.split("│")[1].strip() for line in output.splitlines() if line.startswith("│")]
    return [cell for cell in cells if cell]


# --- a. durations and lists as written in the config ----------------------------------------------


def test_check_config_shows_durations_and_lists_as_the_config_writes_them(tmp_path: Path) -> None:
    shown = invoke("--config", example_config(tmp_path), "check-config").stdout
    assert "180d" in shown and 'contains_any = ["?"]' in shown
    assert "days," not in shown and "('?',)" not in shown and "contains_any=" not in shown


@pytest.mark.parametrize(
    "duration",
    [timedelta(days=180), timedelta(hours=2), timedelta(minutes=90), timedelta(seconds=45), timedelta(0)],
)
def test_a_duration_is_written_back_as_the_config_would_write_it(duration: timedelta) -> None:
    written = format_duration(duration)
    assert re.fullmatch(r"\d+[smhd]", written) and parse_duration(written) == duration


def test_config_errors_show_a_list_as_toml_writes_it() -> None:
    data = {"mastodon": {"base_url": "https://m.example"}, "approval": {"approvers": ["a"]}}
    with pytest.raises(Exception) as raised:
        settings_from_dict({**data, "limits": {"max_posts_per_hour": ["a"]}})
    assert '["a"] is not a whole number' in str(raised.value)
    assert as_written(("?", "how")) == '["?", "how"]' and as_written(timedelta(days=3)) == "3d"


# --- b. rules counted from 1, with their names ------------------------------------------------------

REORDERED = 'contains_any = ["?"]\npriority = 5\n'  # the second rule is tried first


def test_rules_are_numbered_from_1_by_file_place_in_errors_check_config_and_rules_test(
    tmp_path: Path,
) -> None:
    text = EXAMPLE.read_text().replace('contains_any = ["?"]\n', REORDERED, 1)
    config = example_config(tmp_path, text)
    table = invoke("--config", config, "check-config").stdout
    rows = [line for line in table.splitlines() if line.startswith("│ ") and "│ " in line[2:]]
    numbered = {
        cells[1]: cells[0] for line in rows if (cells := [c.strip() for c in line.split("│")[1:-1]])[0]
    }
    assert numbered == {"answer-questions": "2", "thank-new-followers": "1"}
    assert table.index("answer-questions") < table.index("thank-new-followers")  # tried first

    (tmp_path / "broken").mkdir()
    broken = example_config(tmp_path / "broken", text.replace('cooldown = "180d"', 'cooldown = "180 days"'))
    refused = invoke("--config", broken, "check-config", ok=False)
    assert refused.exit_code == 2
    assert 'rules[1].cooldown ("thank-new-followers"): "180 days" is not a duration' in refused.stderr

    tried = invoke("--config", config, "rules", "test", "--event", "mention", "--text", "open?").stdout
    assert "2. answer-questions: MATCHES" in tried and "1. thank-new-followers: no," in tried
    assert "Draft (rule 2, answer-questions," in tried


def test_a_duplicate_rule_name_points_at_the_first_rule_counted_from_1() -> None:
    rule = {"name": "thanks", "on": "follow", "templates": ["Hi"]}
    data = {"mastodon": {"base_url": "https://m.example"}, "approval": {"approvers": ["a"]}}
    with pytest.raises(Exception) as raised:
        settings_from_dict({**data, "rules": [rule, rule]})
    assert 'rules[2].name: "thanks" is already used by rules[1]' in str(raised.value)


# --- c. one vocabulary: reblog in the config, boost in words, mapped in one table -------------------


def test_reblog_and_boost_are_mapped_in_one_table_and_the_config_takes_both() -> None:
    assert word_for("reblog") == "boost" and kind_for("boost") == "reblog"
    assert word_for("mention") == kind_for("mention") == "mention"
    data = {"mastodon": {"base_url": "https://m.example"}, "approval": {"approvers": ["a"]}}
    rule = {"name": "boosted", "on": "boost", "templates": ["Thanks for the boost, {name}!"]}
    assert settings_from_dict({**data, "rules": [rule]}).rules[0].on == "reblog"
    # No other module spells the mapping out again.
    pair = re.compile(r"""["']reblog["']\s*:\s*["']boost["']""")
    elsewhere = [p for p in BOT.rglob("*.py") if p.name != "model.py" and pair.search(p.read_text())]
    assert elsewhere == []


def test_rules_test_takes_boost_for_reblog_and_the_help_says_both(tmp_path: Path) -> None:
    text = (
        EXAMPLE.read_text()
        + '\n[[rules]]\nname = "boosted"\non = "reblog"\ntemplates = ["Thanks, {name}!"]\n'
    )
    config = example_config(tmp_path, text)
    for word in ("boost", "reblog"):
        tried = invoke("--config", config, "rules", "test", "--event", word).stdout
        assert "3. boosted: MATCHES" in tried
    rules_help = invoke("rules", "test", "--help").stdout
    stats_help = invoke("stats", "--help").stdout
    for shown in (rules_help, stats_help):
        assert "reblog" in shown and "boost" in shown
    shown = invoke("--config", config, "check-config").stdout
    assert "reblog (boost)" in shown


# --- d. every listing: the same fields in its table and its JSON, and an empty one says so -----------


def fill(store: Store) -> None:
    """A fan who followed, asked and boosted (a draft waits for them), one who left, one event set aside."""
    now = utcnow()
    fan = Account(id="1", acct="fan@example.social", username="fan", display_name="Fan", followers_count=40)
    ours = Status(id="s1", text="our post")
    theirs = Status(id="s2", text="are you open?", visibility="public")
    for event in (
        Follow(id="n1", created_at=now, account=fan),
        Mention(id="n2", created_at=now, account=fan, status=theirs),
        Reblog(id="n3", created_at=now, account=fan, status=ours),
    ):
        assert store.record_event(event, now)
    draft = NewDraft("answer-questions", "1", fan.acct, "Fan", "Good question!", "t", "unlisted", "s2")
    store.save_draft(draft, now)
    set_aside(store, "n-9", "other@example.social")
    with store.session() as session:
        session.add(PersonRow(account_id="2", acct="gone@example.social", first_seen=now - timedelta(days=9)))
        session.add(DepartureRow(account_id="2", acct="gone@example.social", after=now, noticed_at=now))
        session.commit()


LISTINGS = [
    ["drafts"],
    ["drafts", "--long"],
    ["people"],
    ["people", "--owed"],
    ["people", "--connectors"],
    ["people", "--left"],
    ["events"],
    ["answers"],
]


def test_every_listing_has_the_same_fields_in_its_table_and_its_json(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'frontrow.db'}")
    store.upgrade()
    fill(store)
    store.close()
    for command in LISTINGS:
        listed = json.loads(invoke("--config", config, *command, "--json").stdout)
        assert listed, command
        keys = [key.replace("_", " ") for key in listed[0]]
        assert header(invoke("--config", config, *command).stdout) == keys, command

    stats = json.loads(invoke("--config", config, "stats", "--json").stdout)
    shown = invoke("--config", config, "stats").stdout
    rows = []
    for key, value in stats.items():
        if key.endswith("_7d"):
            stem = key.removesuffix("_7d").replace("_", " ")
            rows += [f"{stem}: {kind}" for kind in value] if isinstance(value, dict) else [stem]
    weeks = [w["week_start"][:10] for w in stats["followers_by_week"]]
    assert first_cells(shown) == rows + weeks
    assert header(shown.split("followers per week")[1]) == [
        k.replace("_", " ") for k in stats["followers_by_week"][0]
    ]
    assert "theirs: boost" in rows and "ours: boost" in rows

    who = json.loads(invoke("--config", config, "who", "fan@example.social", "--json").stdout)
    lines = invoke("--config", config, "who", "fan@example.social").stdout.splitlines()
    labels = [line.split(":")[0] for line in lines if not line.startswith(" ")]
    assert labels == [key.replace("_", " ") for key in who]


def test_empty_listings_say_so_and_their_json_is_an_empty_list(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    Store(f"sqlite:///{tmp_path / 'frontrow.db'}").upgrade()
    text = EXAMPLE.read_text()
    no_answers = re.sub(r"\nanswer_from = .*", "", text[: text.index("\n[answers]\n")])
    empty = {
        ("drafts",): "no drafts yet",
        ("drafts", "--state", "sent"): "no sent drafts yet",
        ("people",): "nobody yet",
        ("people", "--owed"): "nobody is owed attention yet",
        ("people", "--connectors"): "no connectors yet",
        ("people", "--left"): "nobody has left yet",
        ("events",): "Nothing set aside.",
    }
    for command, said in empty.items():
        assert invoke("--config", config, *command).stdout == said + "\n", command
        assert json.loads(invoke("--config", config, *command, "--json").stdout) == [], command
    (tmp_path / "bare").mkdir()
    bare = example_config(tmp_path / "bare", no_answers)
    Store(f"sqlite:///{tmp_path / 'bare' / 'frontrow.db'}").upgrade()
    assert invoke("--config", bare, "answers").stdout.startswith("no answers yet")
    assert json.loads(invoke("--config", bare, "answers", "--json").stdout) == []


# --- point 3: `note` takes a person as `who` does ---------------------------------------------------


def test_note_takes_every_form_of_a_person(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'frontrow.db'}")
    store.upgrade()
    fill(store)
    store.close()
    forms = ("fan@example.social", "@fan@example.social", "https://example.social/@fan", "FAN@example.social")
    for number, form in enumerate(forms, start=1):
        assert (
            invoke("--config", config, "note", form, f"note {number}").stdout
            == "Noted for fan@example.social.\n"
        )
    noted = json.loads(invoke("--config", config, "who", "@fan@example.social", "--json").stdout)["notes"]
    assert [n["text"] for n in noted] == [f"note {n}" for n in range(1, len(forms) + 1)]
    unknown = invoke("--config", config, "note", "nobody@example.social", "x", ok=False)
    assert unknown.exit_code == 1 and "nobody of that name" in unknown.stderr
