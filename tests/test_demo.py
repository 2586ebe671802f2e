"""`frontrow demo`: the scripted community, drafts by DM, approval, posts, and nothing left behind."""

from __future__ import annotations

import builtins
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli.demo import EDITED_ANSWER, run_demo


def flat(text: str) -> str:
    """Output with rich's line wrapping undone, so wrapped sentences can be matched whole."""
    return " ".join(text.split())


def store_folder(output: str) -> Path:
    match = re.search(r"Frontrow's store in (\S+) \(deleted at the end\)", output)
    assert match, output
    return Path(match.group(1))


def test_demo_once_plays_the_script_and_cleans_up(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    env.pop("FRONTROW_ACCESS_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--once"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,  # --once never reads stdin
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = flat(done.stdout)
    assert "Draft #" in out
    assert "thank-new-followers · for Fran Fan (fan@mock.local)" in out
    assert "answer-questions · for Fran Fan (fan@mock.local)" in out
    assert "Connie Connector (25 followers)" in out
    # The draft DM says what Fran wrote, links to it without an @, and who Fran is to us.
    assert "› wrote: “do you have signed copies of the new Le Guin?”" in out
    assert "https://mock.local/%40fan/" in out
    assert "› first contact · follows us since" in out
    assert "No draft for Quiet Reader" in out and "No draft for News Bot" in out
    assert f"Posted (unlisted, in reply to Fran Fan's post): @fan {EDITED_ANSWER}" in out
    assert "Posted (unlisted): @fan Thanks for the follow, Fran Fan!" in out
    assert "Posted (unlisted): @connector Thanks for the follow, Connie Connector!" in out
    # Third persons are never written with a leading @ in the approver's DMs.
    assert "@fan@" not in out
    folder = store_folder(done.stdout)
    assert folder.parent == tmpdir and not folder.exists()
    assert list(tmpdir.iterdir()) == []  # the practice instance's files went with it


def test_interactive_demo_answers_dms_and_cleans_up_on_ctrl_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.chdir(tmp_path)  # the demo's log goes to the current folder
    seen: list[str] = []
    typed: Iterator[str] = iter(["help", "more", "ok {thanks}"])

    def fake_input(prompt: str = "") -> str:
        seen.append(capsys.readouterr().out)
        line = next(typed, None)
        if line is None:
            raise KeyboardInterrupt
        # Approve the thank-you for New Reader 1, whatever number the drafts of that round were given.
        found = re.search(r"Draft #(\d+) · thank-new-followers · for New Reader 1", flat("".join(seen)))
        return line.format(thanks=found[1] if found else "?")

    monkeypatch.setattr(builtins, "input", fake_input)

    assert run_demo(once=False) == 130

    out = flat("".join(seen) + capsys.readouterr().out)
    assert "you → bot (DM)>" in out
    assert "edit 12 <new text>" in out  # the bot's help, by DM
    assert 'New Reader 1 follows and asks: "do you run a book club?"' in out
    thanks = re.search(r"Draft #(\d+) · thank-new-followers · for New Reader 1", out)
    assert thanks is not None
    assert f"Posted #{thanks[1]}:" in out and "Posted (unlisted): @newreader1 Thanks for the follow" in out
    assert not store_folder(out).exists()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_the_demo_shows_a_refused_dm_as_the_approver_would_and_logs_to_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.chdir(tmp_path)
    typed: Iterator[str] = iter(["edit 2 " + "so long " * 80, "ok 1"])

    def fake_input(prompt: str = "") -> str:
        line = next(typed, None)
        if line is None:
            raise EOFError
        return line

    monkeypatch.setattr(builtins, "input", fake_input)
    assert run_demo(once=False) == 0
    captured = capsys.readouterr()
    out = flat(captured.out)
    assert "The instance did not send your DM:" in out and "too long" in out
    assert "Traceback" not in out + captured.err
    shown = sorted({int(n) for n in re.findall(r"Draft #(\d+) ·", out)})
    hint = re.search(r"Write a DM to the bot, e\.g\. ok (\d+), edit (\d+) <text>, no (\d+)", out)
    assert hint, out
    assert {int(hint[1]), int(hint[2]), int(hint[3])} <= set(shown)  # only numbers of drafts shown
    assert "Posted #1:" in out  # the demo went on after the refused DM
    log = tmp_path / "frontrow-demo.log"
    assert f"Frontrow's log: {log}" in out
    assert " INFO " in log.read_text() and " INFO " not in captured.out + captured.err
