"""Instance (client): the one Mastodon.py client (paced, retrying) and the instance's facts."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse

import requests
from mastodon import Mastodon, MastodonError

LOGGER = logging.getLogger(__name__)
DEFAULT_CHAR_LIMIT = 500
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RESET_MARGIN = 1.0  # servers round their reset times; arriving a second late beats a 429


class ShuttingDown(requests.RequestException):
    """The service is stopping: a request that has not been sent yet is not sent."""


class Pacer:
    """One budget for every thread: at most `limit` requests per `window` seconds (Mastodon: 300 / 5 min),
    slowing down as the server's `X-RateLimit-Remaining` falls."""

    def __init__(
        self,
        limit: int = 300,
        window: float = 300.0,
        *,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.stop = stop or threading.Event()
        self.clock = clock
        self._sent: deque[float] = deque()
        self._server_limit: int | None = None
        self._remaining: int | None = None
        self._reset_at: float | None = None  # monotonic time the server's window resets
        self._lock = threading.Lock()
        self.requests = 0  # counted for the benchmarks
        self.throttled = 0  # 429s received: pacing should keep this at zero

    def wait(self) -> None:
        """Block until one more request fits the budget (or raise ShuttingDown)."""
        with self._lock:
            while True:
                now = self.clock()
                while self._sent and now - self._sent[0] >= self.window:
                    self._sent.popleft()
                delay = 0.0
                if len(self._sent) >= self.limit:
                    delay = self._sent[0] + self.window - now
                elif self._remaining is not None and self._reset_at is not None and now < self._reset_at:
                    # Spread what the server says is left over the time until its reset, once it runs low.
                    if self._remaining <= 0:
                        delay = self._reset_at - now
                    elif self._remaining < (self._server_limit or self.limit) // 5:
                        delay = (self._reset_at - now) / self._remaining
                if delay <= 0:
                    self._sent.append(now)
                    self.requests += 1
                    return
                self.pause(min(delay, self.window))

    def pause(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise ShuttingDown("stopping")

    def share(self, fraction: float) -> Pacer:
        """A smaller budget inside this one, for background work (the history backfill): at most
        `fraction` of `limit` per `window`, and every request still waits on this pacer too, so the
        foreground keeps the rest and the server's own count slows both."""
        return SharePacer(self, max(int(self.limit * fraction), 1))

    def observe(self, headers: Any) -> None:
        """Take the server's own count: remaining requests and when its window resets."""
        try:
            remaining = int(headers["X-RateLimit-Remaining"])
            server_limit = int(headers.get("X-RateLimit-Limit") or 0) or None
        except (KeyError, TypeError, ValueError):
            return
        reset = reset_delay(headers)
        with self._lock:
            self._remaining, self._server_limit = remaining, server_limit
            self._reset_at = self.clock() + reset + RESET_MARGIN if reset is not None else None


class SharePacer(Pacer):
    """`Pacer.share`: its own sliding window first, then the whole budget's."""

    def __init__(self, whole: Pacer, limit: int) -> None:
        super().__init__(limit, whole.window, stop=whole.stop, clock=whole.clock)
        self.whole = whole

    def wait(self) -> None:
        super().wait()
        self.whole.wait()

    def observe(self, headers: Any) -> None:
        self.whole.observe(headers)  # the server counts one budget for the account


def reset_delay(headers: Any, now: float | None = None) -> float | None:
    """Seconds until the server lets us in again: `X-RateLimit-Reset` (ISO date, HTTP date or epoch
    seconds), else `Retry-After` (seconds or HTTP date)."""
    now = time.time() if now is None else now
    for name in ("X-RateLimit-Reset", "Retry-After"):
        value = headers.get(name)
        if value:
            moment = _moment(str(value).strip(), now, relative_numbers=name == "Retry-After")
            if moment is not None:
                return max(moment - now, 0.0)
    return None


def _moment(value: str, now: float, *, relative_numbers: bool) -> float | None:
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        return now + number if relative_numbers else number
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class PacedSession(requests.Session):
    """Every request waits for the pacer; transient failures are retried with backoff and jitter.

    Only requests that are safe to repeat are retried: reads, and writes carrying an Idempotency-Key
    (the server answers a repeat with the first result instead of acting twice).
    """

    def __init__(self, pacer: Pacer, *, attempts: int = 5, base_delay: float = 0.5, max_delay: float = 60.0):
        super().__init__()
        self.pacer = pacer
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        method = method.decode() if isinstance(method, bytes) else method
        if kwargs.get("stream"):  # the user stream has its own reconnect loop
            return super().request(method, str(url), *args, **kwargs)
        headers = kwargs.get("headers") or {}
        repeatable = str(method).upper() == "GET" or "Idempotency-Key" in headers
        for attempt in range(1, self.attempts + 1):
            self.pacer.wait()
            last = attempt == self.attempts or not repeatable
            try:
                response = super().request(method, str(url), *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if last:
                    raise
                LOGGER.info("%s %s failed (%s); retry %d", method, _path(url), exc, attempt)
                self.pacer.pause(self._backoff(attempt))
                continue
            self.pacer.observe(response.headers)
            if response.status_code == 429:
                self.pacer.throttled += 1
            if response.status_code not in RETRY_STATUSES or last:
                return response
            delay = reset_delay(response.headers) if response.status_code == 429 else None
            delay = min(delay, self.max_delay * 5) if delay is not None else self._backoff(attempt)
            LOGGER.info(
                "%s %s: %d; retry %d in %.1fs", method, _path(url), response.status_code, attempt, delay
            )
            self.pacer.pause(delay)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        return min(self.base_delay * 2 ** (attempt - 1), self.max_delay) * random.uniform(0.5, 1.5)


def _path(url: str | bytes) -> str:
    return urlparse(url.decode() if isinstance(url, bytes) else url).path


def connect(
    base_url: str, access_token: str, *, timeout: float = 30.0, pacer: Pacer | None = None
) -> Mastodon:
    """A client that throws on 429: our shared pacer paces (Mastodon.py's pacing is not thread-safe)."""
    return Mastodon(
        api_base_url=base_url,
        access_token=access_token,
        ratelimit_method="throw",
        request_timeout=timeout,
        version_check_mode="none",
        user_agent="frontrow",
        session=PacedSession(pacer or Pacer()),
    )


# `api_versions.mastodon` (instance_v2) from which notification policies, notification requests and
# `include_filtered` exist: Mastodon 4.3 answers 2; older servers have no `api_versions` at all.
FILTERED_NOTIFICATIONS_API = 2


@dataclass(frozen=True)
class InstanceFacts:
    domain: str
    char_limit: int
    api_version: int = 0  # `api_versions.mastodon`; 0 for a server before 4.3 (or one that does not say)

    @property
    def filters_notifications(self) -> bool:
        """Whether the server may hold notifications back under a notification policy (4.3+)."""
        return self.api_version >= FILTERED_NOTIFICATIONS_API


def instance_facts(api: Mastodon, base_url: str) -> InstanceFacts:
    """The instance's domain (for writing local accts in full) and its post length limit."""
    fallback_domain = urlparse(base_url).hostname or "localhost"
    try:
        info = api.instance_v2()
    except MastodonError as exc:
        LOGGER.warning(
            "could not read the instance's limits (%s); assuming %d characters", exc, DEFAULT_CHAR_LIMIT
        )
        return InstanceFacts(fallback_domain, DEFAULT_CHAR_LIMIT)
    try:
        limit = int(info["configuration"]["statuses"]["max_characters"])
    except (KeyError, TypeError, ValueError):
        limit = DEFAULT_CHAR_LIMIT
    return InstanceFacts(str(info.get("domain") or fallback_domain), limit, _api_version(info))


def _api_version(info: Any) -> int:
    versions = info.get("api_versions") if hasattr(info, "get") else None
    try:
        return max(int(versions["mastodon"]), 0)  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return 0


def plain_client(base_url: str, access_token: str) -> Mastodon:
    """An unpaced client acting as one account: the demo's practice community uses these."""
    return Mastodon(access_token=access_token, api_base_url=base_url, version_check_mode="none")
