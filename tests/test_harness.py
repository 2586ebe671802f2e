"""The test harness: an empty store gets the migrated schema replayed, a reused PostgreSQL database comes
back empty (tests/stores.py); CI's Hypothesis profile drops deadlines (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import settings
from mastodon_mock.testing import MockServer
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

import tests.stores
from bot.store import Store
from bot.store.base import HEAD, StoreBase
from tests.conftest import PG_URL, mock_config, stop_soon, wait_for
from tests.stores import PgDatabases


def second_store_url(store_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'second.db'}"
    databases: PgDatabases = request.getfixturevalue("pg_databases")
    url = databases.take()
    request.addfinalizer(lambda: databases.give_back(url))
    return url


def test_an_empty_store_gets_the_migrated_schema_replayed(
    store_url: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store.open(store_url).close()  # the session's first empty store of this kind records the schema
    real_runs: list[StoreBase] = []
    monkeypatch.setattr(tests.stores, "REAL_UPGRADE", real_runs.append)
    replayed = Store.open(second_store_url(store_url, tmp_path, request))
    try:
        assert real_runs == []  # replayed, not migrated
        with replayed.engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
        assert version == HEAD
        assert differences == []
    finally:
        replayed.close()


def test_a_store_with_tables_is_migrated_for_real(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine(store_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE unrelated (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    real_runs: list[Any] = []
    real = tests.stores.REAL_UPGRADE
    monkeypatch.setattr(tests.stores, "REAL_UPGRADE", lambda store: real_runs.append(real(store)))
    Store.open(store_url).close()
    assert len(real_runs) == 1


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
