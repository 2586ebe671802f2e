"""The test harness: a reused PostgreSQL database comes back empty (tests/stores.py); CI's Hypothesis
profile drops deadlines (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from hypothesis import settings
from mastodon_mock.testing import MockServer
from sqlalchemy import create_engine, inspect, text

from bot.store import Store
from tests.conftest import PG_URL, mock_config, stop_soon, wait_for
from tests.stores import PgDatabases


@pytest.mark.skipif(not PG_URL, reason="no PostgreSQL server (set FRONTROW_TEST_PG_URL)")
def test_a_postgresql_database_given_back_is_empty_even_with_a_connection_left_open(
    pg_databases: PgDatabases,
) -> None:
    url = pg_databases.take()
    store = Store.open(url)
    left_open = store.engine.connect()  # a test that forgot to close its store
    left_open.execute(text("SELECT count(*) FROM drafts"))
    pg_databases.give_back(url)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            assert inspect(connection).get_table_names() == []
    finally:
        engine.dispose()
        store.close()


def test_ci_selects_the_hypothesis_profile_without_deadlines() -> None:
    ci = settings.get_profile("ci")
    assert ci.deadline is None
    assert ci.max_examples == settings.get_profile("default").max_examples  # CI is the gate: as thorough
    ci_script = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "export FRONTROW_HYPOTHESIS_PROFILE=ci" in ci_script


def test_a_server_stopped_soon_stops_and_frees_its_port(tmp_path: Path) -> None:
    server = MockServer(config=mock_config(tmp_path)).start()
    base_url = server.base_url
    assert httpx.get(f"{base_url}/api/v1/instance").status_code == 200
    stop_soon(server)
    wait_for(lambda: not server.started, what="the server to stop")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base_url}/api/v1/instance")
