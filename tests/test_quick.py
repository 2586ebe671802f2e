"""bot/store/quick.py: `who` read with sqlite3 says what `Store` says, and `frontrow who` loads no ORM."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.model import Account, NewDraft
from bot.store import InteractionRow, Store
from bot.store.quick import QuickReader
from bot.store.tables import DepartureRow
from tests.conftest import to_toml

BASE_URL, TOKEN = "https://quick.example", "quick-token"
NOW = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def seeded(tmp_path: Path) -> tuple[str, Store]:
    """A store shared by two accounts, each knowing a `fan` (with notes, drafts, a stop, a departure)."""
    url = f"sqlite:///{tmp_path / 'frontrow.db'}"
    store = Store.open(url)
    for owner, base_url, token in (
        ("other@else.example", "https://else.example", "t2"),
        ("bot@quick.example", BASE_URL, TOKEN),
    ):
        store.claim(owner, base_url, token, NOW)
        store.remember_person(
            Account(id="7", acct="Fan", username="Fan", display_name=f"Fan of {owner}"), NOW
        )
        store.add_note("7", f"likes tea ({owner})", NOW)
        store.add_note("7", "second note", NOW + timedelta(seconds=1))
        for text in ("Thanks!", "Welcome"):
            draft = NewDraft("thank", "7", "Fan", "Fan", text, text, "unlisted", thread_key="t")
            store.save_draft(draft, NOW)
        with store.session() as session:
            session.add(
                InteractionRow(account_id="7", direction="theirs", kind="mention", at=NOW - timedelta(days=2))
            )
            session.add(
                DepartureRow(account_id="7", acct="Fan", after=NOW - timedelta(days=1), noticed_at=NOW)
            )
            session.commit()
    store.record_stop("7", "s1", NOW + timedelta(hours=1))
    return url, store


def test_the_quick_reader_reads_what_the_store_reads(tmp_path: Path) -> None:
    url, store = seeded(tmp_path)
    quick = QuickReader.open(url, tmp_path, BASE_URL, TOKEN)
    assert quick is not None and quick.owner == store.owner == "bot@quick.example"
    for written in ("7", "Fan", "fan", "@fan@quick.example", "https://quick.example/@Fan"):
        assert quick.person(written, "quick.example") == store.person(written, "quick.example"), written
    assert quick.person("nobody") is None and store.person("nobody") is None
    assert quick.interaction_counts("7") == store.interaction_counts("7")
    assert quick.notes("7") == store.notes("7") and len(quick.notes("7")) == 2
    assert quick.drafts_for("7") == store.drafts_for("7") and len(quick.drafts_for("7")) == 2
    assert quick.stopped_at("7") == store.stopped_at("7") == NOW + timedelta(hours=1)
    assert quick.departures_of("7") == store.departures_of("7")
    assert quick.departures_of("7")[0].last_engaged_kind == "mention"
    quick.close()
    store.close()


def test_the_quick_reader_leaves_other_stores_to_the_store(tmp_path: Path) -> None:
    url, store = seeded(tmp_path)
    store.close()
    assert QuickReader.open(f"sqlite:///{tmp_path / 'missing.db'}", tmp_path, BASE_URL, TOKEN) is None
    assert not (tmp_path / "missing.db").exists()  # never creates one
    assert QuickReader.open("postgresql+psycopg://u@127.0.0.1/x", tmp_path, BASE_URL, TOKEN) is None
    assert QuickReader.open(url + "?timeout=5", tmp_path, BASE_URL, TOKEN) is None
    assert (
        QuickReader.open("sqlite:///frontrow.db", tmp_path, BASE_URL, TOKEN) is not None
    )  # the config's folder
    (tmp_path / "junk.db").write_text("not a database")
    assert QuickReader.open(f"sqlite:///{tmp_path / 'junk.db'}", tmp_path, BASE_URL, TOKEN) is None
    old = Store.open(url)
    with old.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0007'")
    old.close()
    assert QuickReader.open(url, tmp_path, BASE_URL, TOKEN) is None  # behind: Store.open migrates it


def test_who_loads_no_orm_and_no_validation_library(tmp_path: Path) -> None:
    """`frontrow who` answers about as fast as `--help` (bench/commands.py): it reads the store with
    sqlite3 and the config's few keys with tomllib, and never imports the heavy libraries."""
    url, store = seeded(tmp_path)
    store.close()
    config = tmp_path / "config.toml"
    config.write_text(
        to_toml({"mastodon": {"base_url": BASE_URL, "access_token": TOKEN}, "store": {"url": url}})
    )
    probe = (
        "import sys\n"
        "from bot.cli import main\n"
        f"sys.argv = ['frontrow', '--config', {str(config)!r}, 'who', '@fan', '--json']\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    heavy = ('sqlalchemy', 'sqlmodel', 'pydantic', 'mastodon', 'alembic', 'httpx', 'bs4')\n"
        "    print(' '.join(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["display_name"] == "Fan of bot@quick.example"
    assert json.loads(result.stdout)["stopped_at"] == (NOW + timedelta(hours=1)).isoformat()
    assert result.stderr.strip() == ""
