"""Shared helpers for the benchmarks: a request-counting mastodon_mock on loopback, config writing,
seeding through the mock's HTTP API (with retries on "database is locked"), child processes with
their own resource usage, and small statistics.

Not part of the product: nothing in bot/ imports this.
"""

from __future__ import annotations

import importlib.resources
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from mastodon_mock.testing import MockServer

from bot.cli.demo import instance_config

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.conftest import to_toml  # noqa: E402  (one TOML writer for tests and benchmarks)

# --- the mock, counting every request it answers ----------------------------------------------


_ID = re.compile(r"/\d+(?=/|$)")


def route_of(path: str) -> str:
    """`/api/v1/statuses/1234/context` → `/api/v1/statuses/:id/context` (so counts group by endpoint)."""
    return _ID.sub("/:id", path)


class RequestCounter:
    """Counts HTTP requests by (method, route) as the server receives them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._seconds = 0.0  # time the server spent answering (streams excluded)

    def wrap(self, app: Any) -> Any:
        async def counted(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            key = (scope["method"], route_of(scope["path"]))
            with self._lock:
                self._counts[key] += 1
            started = time.perf_counter()
            try:
                await app(scope, receive, send)
            finally:
                if "/streaming" not in key[1]:
                    elapsed = time.perf_counter() - started
                    with self._lock:
                        self._seconds += elapsed

        return counted

    def snapshot(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter(self._counts)

    def server_seconds(self) -> float:
        with self._lock:
            return self._seconds


class CountingMockServer(MockServer):
    """`MockServer` whose ASGI app is wrapped in a `RequestCounter` (counted at the server, so the
    floor script and Frontrow are measured the same way, whatever client they use)."""

    def __init__(self, workdir: Path, **extra: Any) -> None:
        super().__init__(config=instance_config(workdir, **extra))
        self.counter = RequestCounter()

    def __enter__(self) -> CountingMockServer:
        return self.start()

    def start(self) -> CountingMockServer:
        import mastodon_mock.app as mock_app  # MockServer.start imports create_app from here at call time

        original = mock_app.create_app

        def create_counted_app(config: Any = None) -> Any:
            return self.counter.wrap(original(config))

        mock_app.create_app = create_counted_app  # type: ignore[assignment]
        try:
            super().start()
        finally:
            mock_app.create_app = original  # type: ignore[assignment]
        return self


def diff(after: Counter[tuple[str, str]], before: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    out = Counter(after)
    out.subtract(before)
    return Counter({k: v for k, v in out.items() if v})


# --- talking to the mock while seeding ------------------------------------------------------


class Locked(Exception):
    """The mock answered 500 (SQLite "database is locked" under concurrent writes)."""


def with_retries(call: Callable[[], T], attempts: int = 12) -> T:
    """Retry a seeding call that hit the mock's "database is locked" 500 (or a dropped connection)."""
    delay = 0.02
    for attempt in range(attempts):
        try:
            return call()
        except (Locked, httpx.TransportError):
            if attempt == attempts - 1:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class User:
    id: str
    username: str
    token: str


class Api:
    """A thin httpx client for seeding: one pooled connection set, any account's token per call."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60, limits=httpx.Limits(max_connections=32))

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        def once() -> Any:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = self.http.request(method, path, headers=headers, **kwargs)
            if response.status_code >= 500:
                raise Locked(f"{method} {path}: {response.status_code} {response.text[:200]}")
            response.raise_for_status()
            return response.json()

        return with_retries(once)

    def user(self, username: str, display_name: str | None = None) -> User:
        made = self.call(
            "POST",
            "/api/v1/_mock/dev_user",
            json={"username": username, "display_name": display_name or username},
        )
        return User(str(made["id"]), made["username"], made["access_token"])

    def post(self, who: User, text: str, **fields: Any) -> dict[str, Any]:
        return self.call("POST", "/api/v1/statuses", who.token, json={"status": text, **fields})

    def follow(self, who: User, target: User) -> None:
        self.call("POST", f"/api/v1/accounts/{target.id}/follow", who.token)

    def favourite(self, who: User, status_id: str) -> None:
        self.call("POST", f"/api/v1/statuses/{status_id}/favourite", who.token)

    def reblog(self, who: User, status_id: str) -> None:
        self.call("POST", f"/api/v1/statuses/{status_id}/reblog", who.token)


def parallel(jobs: Iterable[Callable[[], Any]], workers: int = 6) -> list[Any]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [f.result() for f in futures]


# --- Frontrow's config --------------------------------------------------------------------


def example_config() -> dict[str, Any]:
    """The packaged config.example.toml, parsed."""
    example = importlib.resources.files("bot") / "config.example.toml"
    return tomllib.loads(example.read_text(encoding="utf-8"))


def frontrow_config(
    base_url: str, token: str, store_url: str, approver: str, **sections: dict[str, Any]
) -> dict[str, Any]:
    """The example config pointed at the mock, a store and one approver; `sections` override keys."""
    data = example_config()
    data["mastodon"] = {"base_url": base_url, "access_token": token}
    data["store"] = {"url": store_url}
    data.setdefault("approval", {})["approvers"] = [approver]
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return data


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(to_toml(data), encoding="utf-8")
    tomllib.loads(path.read_text(encoding="utf-8"))  # fail here, not in the child, if the writer slips
    return path


# --- child processes --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildRun:
    seconds: float  # wall time from spawn to exit
    returncode: int
    max_rss_mb: float  # this child's peak RSS: the highest VmHWM read from /proc while it ran
    stdout: str
    stderr: str


def _vm_hwm_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class HighWaterSampler(threading.Thread):
    """Reads a child's VmHWM (peak RSS of its own address space) until it exits.

    Not ru_maxrss: Linux carries the *parent's* peak RSS over a fork/vfork + exec into the child's
    ru_maxrss, so a 120 MB bench process would make every child look at least 120 MB big.
    VmHWM belongs to the child's new address space only. It only ever grows, so the last reading
    before exit is the peak up to then; readings are 10 ms apart.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            value = _vm_hwm_kb(self.pid)
            if value is not None:
                self.peak_kb = max(self.peak_kb, value)
            self.done.wait(0.01)


def run_child(argv: Sequence[str], workdir: Path, *, env: dict[str, str] | None = None) -> ChildRun:
    """Run a child to completion: its wall time, exit status, peak RSS and output."""
    out_path, err_path = workdir / "child.out", workdir / "child.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=REPO_ROOT
        )
        sampler = HighWaterSampler(proc.pid)
        sampler.start()
        # (An exited child has no address space left to ask: the last reading before exit is the figure.)
        returncode = proc.wait()
        seconds = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
    result = ChildRun(
        seconds=seconds,
        returncode=returncode,
        max_rss_mb=sampler.peak_kb / 1024,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )
    out_path.unlink()
    err_path.unlink()
    return result


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("FRONTROW_ACCESS_TOKEN", None)  # the config's token, never one from the bench's environment
    env.pop("FRONTROW_CONFIG", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


PYTHON = sys.executable


# --- figures ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        pairs = enumerate(zip(row, widths, strict=True))
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)

    out = [title, line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells[1:]]
    return "\n".join(out)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
