"""Test harness: a real mastodon_mock server on loopback and real Mastodon.py clients for each person."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, settings
from mastodon import Mastodon, MastodonInternalServerError
from mastodon_mock.config import MastodonMockConfig
from mastodon_mock.testing import MockServer

from bot.cli.demo import instance_config
from bot.config import Settings, settings_from_dict
from bot.service.app import App, build_app
from bot.store import utcnow
from bot.text import html_to_text
from tests.stores import PgDatabases

# Set by .ci/run when a PostgreSQL server answers; the store-backed tests then run on both stores.
PG_URL = os.environ.get("FRONTROW_TEST_PG_URL", "")
T = TypeVar("T")

# Hypothesis profiles, chosen by FRONTROW_HYPOTHESIS_PROFILE (default: Hypothesis's own defaults).
# "ci" (.ci/run sets it) keeps every test's number of examples, since CI is the gate, but drops the
# per-example deadline and the too-slow health check: on a shared two-core machine running the suite
# on both cores, an example's wall time says how busy the machine is, not how slow the code is.
# "quick" is for trying a change locally: 20 examples where a test does not ask for more.
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("quick", max_examples=20, deadline=None)
settings.load_profile(os.environ.get("FRONTROW_HYPOTHESIS_PROFILE", "default"))


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def until_taken(call: Callable[[], T], timeout: float = 30.0) -> T:
    """A test's own request to the mock, tried again while it answers 500: its SQLite says "database is
    locked" when the service writes at the same moment (DESIGN.md), which real Mastodon does not."""
    taken: list[T] = []

    def attempt() -> bool:
        try:
            taken.append(call())
        except (MastodonInternalServerError, httpx.HTTPStatusError) as exc:
            status = getattr(getattr(exc, "response", None), "status_code", 500)
            if status != 500:
                raise
            return False
        return True

    wait_for(attempt, timeout, what="the mock to take a request")
    return taken[0]


class Clock:
    """An injected clock: real time plus whatever the test moved it forward by."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


# One HTTP client for the harness's own calls to the mock: `httpx.post` makes a client, and with it an
# SSL context (~25 ms of CPU), per call, and the suite makes thousands of people. No connection is
# kept: each test's server has its own port, and a port can come back for another test's server.
# A 30 s timeout, not 5: on a loaded shared machine a server can take seconds to answer.
LOOPBACK = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=30.0)


def mock_config(workdir: Path, **extra: Any) -> MastodonMockConfig:
    """An empty instance whose database and media live in `workdir` (nothing left behind in /tmp)."""
    return instance_config(workdir, **extra)


@dataclass
class Person:
    """One account on the mock server, with its own logged-in client."""

    id: str
    username: str
    api: Mastodon

    def texts_received(self, kind: str = "mention") -> list[str]:
        return [
            html_to_text(n["status"]["content"]) for n in self.api.notifications(types=[kind]) if n["status"]
        ]


@dataclass
class Community:
    """A mock instance with a bot and an approver; `person()` adds followers."""

    server: MockServer
    tmp: Path
    store_url: str
    bot: Person = field(init=False)
    approver: Person = field(init=False)

    def __post_init__(self) -> None:
        self.bot = self.person("bot", display_name="Frontrow Bot")
        self.approver = self.person("alice", display_name="Alice")

    def person(self, username: str, **profile: Any) -> Person:
        body = {"username": username, "display_name": profile.pop("display_name", username)}
        made = until_taken(
            lambda: LOOPBACK.post(
                f"{self.server.base_url}/api/v1/_mock/dev_user", json=body
            ).raise_for_status()
        ).json()
        api = Mastodon(access_token=made["access_token"], api_base_url=self.server.base_url)
        if profile:
            until_taken(lambda: api.account_update_credentials(**profile))
        return Person(str(made["id"]), username, api)

    def config(self, **sections: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "mastodon": {"base_url": self.server.base_url, "access_token": self.token(self.bot)},
            "store": {"url": self.store_url},
            "approval": {"approvers": ["alice"]},
            "listener": {"streaming": False, "max_event_age": "2d"},
            "rules": [
                {
                    "name": "thank-new-followers",
                    "on": "follow",
                    "templates": ["Thanks for the follow, {name}! Glad you're here."],
                    "visibility": "unlisted",
                    "cooldown": "180d",
                },
                {
                    "name": "answer-questions",
                    "on": "mention",
                    "contains_any": ["?"],
                    "templates": ["Good question, {name}. Let me think about it and come back to you."],
                },
            ],
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return data

    def settings(self, **sections: Any) -> Settings:
        return settings_from_dict(self.config(**sections), env={})

    def app(self, *, dry_run: bool = False, clock: Callable[[], datetime] = utcnow, **sections: Any) -> App:
        app = build_app(self.settings(**sections), dry_run=dry_run, clock=clock)
        app.start()
        return app

    def write_config(self, **sections: Any) -> Path:
        path = self.tmp / "config.toml"
        path.write_text(to_toml(self.config(**sections)))
        return path

    @staticmethod
    def token(person: Person) -> str:
        return str(person.api.access_token)


def to_toml(data: dict[str, Any]) -> str:
    """Just enough TOML writing for test configs (tables, arrays of tables, scalars, lists)."""
    import json

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        return json.dumps(v) if isinstance(v, str) else str(v)

    lines: list[str] = []
    for section, body in data.items():
        if isinstance(body, list):
            for item in body:
                lines.append(f"[[{section}]]")
                lines += [f"{k} = {value(v)}" for k, v in item.items()]
        else:
            lines.append(f"[{section}]")
            lines += [f"{k} = {value(v)}" for k, v in body.items()]
        lines.append("")
    return "\n".join(lines)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MockServer]:
    running = MockServer(config=mock_config(tmp_path)).start()
    try:
        yield running
    finally:
        stop_soon(running)


def stop_soon(server: MockServer) -> None:
    """Stop a test's server without waiting for it: uvicorn notices the request to exit at its next
    0.1 s tick and then closes its connections, time the next test need not spend. Each test has its
    own server (own port, own database file), so one still stopping disturbs no other."""
    threading.Thread(target=server.stop, name="mock-server-stop", daemon=True).start()


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    """This test process's PostgreSQL databases, emptied and reused between tests (tests/stores.py)."""
    databases = PgDatabases(PG_URL)
    yield databases
    databases.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store: a SQLite file, or an empty PostgreSQL database when a server is reachable."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'frontrow.db'}"
        return
    if not PG_URL:
        pytest.skip("no PostgreSQL server (set FRONTROW_TEST_PG_URL)")
    databases: PgDatabases = request.getfixturevalue("pg_databases")
    url = databases.take()
    try:
        yield url
    finally:
        databases.give_back(url)


@pytest.fixture
def community(server: MockServer, tmp_path: Path, store_url: str) -> Community:
    return Community(server, tmp_path, store_url)
