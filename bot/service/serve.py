"""Service (serve): the long-lived loop — waits on work, outlives faults, reloads the config, beats.

`frontrow run` calls `serve` with the App that `build_app` wired; `frontrow health` calls `healthy`.
Importing this module loads none of SQLAlchemy, pydantic, Mastodon.py or APScheduler (issue 15: the
service entry's import ≤ 0.9 s, and `health`, run every half minute by Docker, needs none of them):
the names below that come from those layers are imported where the loop first uses them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.store import StoreError  # bot.store.plain: no ORM

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.instance import Unauthorized
    from bot.service.app import App

LOGGER = logging.getLogger(__name__)
HEARTBEAT_EVERY = 10.0  # seconds; `frontrow health` calls a heartbeat older than HEALTHY_WITHIN stale
HEALTHY_WITHIN = timedelta(seconds=60)
OUTBOX_RECHECK = timedelta(seconds=60)  # approved posts held by quiet hours or a cap: look again
TICK = 1.0  # the loop looks at the time this often; looking costs no SQL and no request
MAX_BACKOFF = 60.0
AUTH_RECHECK = 30.0
AUTH_GRACE = 300.0  # a token refused this long: exit non-zero so Docker or systemd notices


class TokenRevoked(Exception):
    """The instance kept refusing our token (401) for longer than the grace period."""


@dataclass
class ConfigWatch:
    """Reloads the config on SIGHUP (`requested`) or when the file changes; a broken one is refused."""

    path: Path
    load: Callable[[Path], Settings]
    requested: threading.Event = field(default_factory=threading.Event)
    _seen: float | None = None

    def _mtime(self) -> float | None:
        try:
            return self.path.stat().st_mtime_ns / 1e9
        except OSError:
            return None

    def __post_init__(self) -> None:
        self._seen = self._mtime()

    def changed(self) -> Settings | None:
        """The new settings when the file changed or a reload was asked for (raises ConfigError)."""
        mtime = self._mtime()
        if not self.requested.is_set() and mtime == self._seen:
            return None
        self.requested.clear()
        self._seen = mtime
        return self.load(self.path)


class Service:
    """`frontrow run`: one loop that handles work when there is some and otherwise waits.

    Nothing runs while nothing happens: the stream, the scheduler's jobs and the retry times of what
    is pending wake the loop; the only idle cost is one heartbeat write every HEARTBEAT_EVERY seconds.
    """

    def __init__(
        self,
        app: App,
        watch: ConfigWatch | None = None,
        *,
        stream_timeout: float = 60.0,
        heartbeat_every: float = HEARTBEAT_EVERY,
        auth_grace: float = AUTH_GRACE,
        auth_recheck: float = AUTH_RECHECK,
    ) -> None:
        self.app = app
        self.watch = watch
        self.stream_timeout = stream_timeout
        self.heartbeat_every = heartbeat_every
        self.auth_grace = auth_grace
        self.auth_recheck = auth_recheck
        from bot.service.jobs import Scheduler  # APScheduler: only a service that runs needs it

        self.inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.wake = threading.Event()
        self.scheduler = Scheduler(on_error=lambda exc: LOGGER.error("job failed: %s", exc))
        self._payloads: list[tuple[str, Any]] = []  # from the stream, kept until the store took them
        # When the next work round is due, by the app's clock (None: only when something wakes us).
        self._due: datetime | None = None
        self._beat_at = 0.0
        self._backoff = 0.0
        self._store_down: str | None = None
        self._auth_failed_at: float | None = None
        self._jobs_from: tuple[object, ...] = ()
        self._history: threading.Thread | None = None  # a first run's older history, read in the background

    # --- the loop -----------------------------------------------------------------

    def run(self) -> None:
        from bot.service.jobs import job_keys, schedule

        app = self.app
        app.on_stop.append(self.wake.set)
        app.start(hold=True)
        if app.settings.listener.streaming:
            self._open_stream()
        self._jobs_from = job_keys(app.settings)
        schedule(self.scheduler, app.settings, self._request)
        self.scheduler.start()
        if self.watch is not None:
            LOGGER.info("watching %s: a reload applies every key but [mastodon] and [store]", self.watch.path)
        self.inbox.put(("poll", None))  # the first round catches up on what happened while we were away
        self._due = app.clock()
        try:
            while not app.stopping.is_set():
                self.step()
                self._wait()
        finally:
            LOGGER.info("closing the stream and the jobs")
            self.scheduler.shutdown()
            self._close_stream()
            if self._history is not None:
                self._history.join(timeout=5.0)  # the pacer gives up waiting once we stop
            app.release_lease()
        LOGGER.info("stopped")

    def step(self) -> None:
        """One pass: the stream's watchdog, a config change, the inbox, and the work that is due."""
        from bot.instance import InstanceError, Unauthorized  # loaded by build_app already: a lookup

        if self._auth_failed_at is not None:
            self._recheck_token()
            return
        if self.app.stream is not None:
            self.app.stream.watchdog()
        if self.watch is not None:
            self._reload()
        try:
            if self._drain() or self._work_due():
                self._work()
            self._recovered()
            self._heartbeat()
        except StoreError as exc:
            self._store_failed(exc)
        except Unauthorized as exc:
            self._token_refused(exc)
        except InstanceError as exc:
            LOGGER.warning("the instance failed us (%s); trying again shortly", exc)
            self._retry_later()
        except Exception:  # a bug must not take the service down; what was unhandled stays so
            LOGGER.exception("a round failed; trying again shortly")
            self._retry_later()

    def _wait(self) -> None:
        now = time.monotonic()
        until = min(self._beat_at + self.heartbeat_every, now + TICK)
        if self.wake.wait(timeout=max(until - now, 0.0)):
            self.wake.clear()

    def _request(self, kind: str) -> Callable[[], None]:
        def job() -> None:
            self.inbox.put((kind, None))
            self.wake.set()

        return job

    # --- work -----------------------------------------------------------------------

    def _drain(self) -> bool:
        """Take what the stream and the jobs sent; True when there is work for a round."""
        app = self.app
        catch_up = check_replies = False
        while True:
            try:
                kind, data = self.inbox.get_nowait()
            except queue.Empty:
                break
            if kind in ("poll", "reconnected"):
                catch_up = True
                check_replies = check_replies or kind == "poll"
            elif kind == "digest":
                app.send_digest(app.clock())
            elif kind == "weekly":
                app.send_weekly_summary()
            else:
                self._payloads.append((kind, data))
        recorded = False
        while self._payloads:
            kind, data = self._payloads[0]
            recorded = app.listener.record(kind, data) or recorded
            self._payloads.pop(0)  # only once the store has it
        if catch_up:
            recorded = app.catch_up() > 0 or recorded
            app.expire_drafts()
            self._backfill_history()
        if check_replies:
            app.sync_our_posts()
            recorded = app.listener.check_replies() > 0 or recorded
            recorded = app.listener.check_quotes() > 0 or recorded
            app.snapshot_followers()
            recorded = app.find_shares() > 0 or recorded
        return recorded or catch_up

    def _backfill_history(self) -> None:
        """A first run's older history, read in its own thread at a share of the rate limit."""
        if (self._history is None or not self._history.is_alive()) and self.app.history.due():
            self._history = threading.Thread(
                target=self.app.history.run, args=(self.app.stopping,), name="history", daemon=True
            )
            self._history.start()

    def _work_due(self) -> bool:
        return self._due is not None and self.app.clock() >= self._due

    def _work(self) -> None:
        app = self.app
        app.work()
        self._backoff = 0.0
        # When to look again without being woken: a retry, the end of a batch window, held posts.
        moments = [app.store.next_event_due_at(), app.announcer.next_announcement_at()]
        if not app.store.is_paused() and app.outbox.has_work():
            moments.append(app.clock() + OUTBOX_RECHECK)
        self._due = min((m for m in moments if m is not None), default=None)

    def _heartbeat(self) -> None:
        from bot.service.app import StartupError

        if time.monotonic() - self._beat_at >= self.heartbeat_every:
            self.app.store.beat(self.app.clock())
            try:
                self.app.hold_lease()  # renewed with every beat
            except StartupError as exc:
                # Stalled past the lease and another service took over: two must never work at once.
                LOGGER.error("stopping: another service took over this account on the store: %s", exc)
                self.app.stopping.set()
            self._beat_at = time.monotonic()

    # --- faults -----------------------------------------------------------------------

    def _retry_later(self) -> None:
        self._backoff = min(max(self._backoff * 2, 1.0), MAX_BACKOFF)
        self._due = self.app.clock() + timedelta(seconds=self._backoff)

    def _store_failed(self, exc: StoreError) -> None:
        if self._store_down != str(exc):
            LOGGER.error("the store cannot be written (%s); nothing is lost, retrying with backoff", exc)
        self._store_down = str(exc)
        self._retry_later()

    def _recovered(self) -> None:
        if self._store_down is not None:
            LOGGER.warning("the store works again; carrying on")
            self._store_down = None

    def _token_refused(self, exc: Unauthorized) -> None:
        """401 while running: stop working, say so once, and let `health` fail with the reason."""
        from bot.store.state import UNHEALTHY

        LOGGER.error(
            "mastodon.access_token: the instance refused the token (401); work is paused. "
            "Sign in again (frontrow init) and restart."
        )
        self._auth_failed_at = time.monotonic()
        self._close_stream()
        self.app.announcer.tell_all(
            "Frontrow: the instance refused my access token; I have paused. Please check the account."
        )
        try:
            self.app.store.put(UNHEALTHY, "the instance refused the access token (401)")
        except StoreError as store_exc:
            LOGGER.error("could not record the problem in the store (%s)", store_exc)
        self._due = self.app.clock() + timedelta(seconds=self.auth_recheck)

    def _recheck_token(self) -> None:
        from bot.instance import InstanceError, Unauthorized
        from bot.store.state import UNHEALTHY

        if self._due is not None and self.app.clock() < self._due:
            return
        try:
            self.app.reader.me()
        except Unauthorized:
            assert self._auth_failed_at is not None
            if time.monotonic() - self._auth_failed_at >= self.auth_grace:
                raise TokenRevoked(
                    "mastodon.access_token: the instance has refused the token (401) "
                    f"for {self.auth_grace:.0f}s; exiting"
                ) from None
            self._due = self.app.clock() + timedelta(seconds=self.auth_recheck)
            return
        except InstanceError as exc:
            LOGGER.warning("could not check the token again (%s)", exc)
            self._due = self.app.clock() + timedelta(seconds=self.auth_recheck)
            return
        LOGGER.warning("the instance accepts the token again; carrying on")
        self._auth_failed_at = None
        self.app.store.clear(UNHEALTHY)
        if self.app.settings.listener.streaming:
            self._open_stream()
        self.inbox.put(("poll", None))
        self._due = self.app.clock()

    # --- reload -------------------------------------------------------------------------

    def _reload(self) -> None:
        """A new config is taken whole or not at all; the service never stops for a bad one."""
        from bot.config import ConfigError
        from bot.instance import InstanceError
        from bot.service.app import StartupError
        from bot.service.jobs import job_keys, schedule

        assert self.watch is not None
        app = self.app
        try:
            settings = self.watch.changed()
            if settings is None:
                return
            restart = app.reload(settings)
        except ConfigError as exc:
            self._refuse("; ".join(exc.errors), exc.errors)
            return
        except StartupError as exc:
            self._refuse(str(exc), [str(exc)])
            return
        except InstanceError as exc:
            self._refuse(
                f"could not check the new approvers ({exc})", [f"could not check the approvers: {exc}"]
            )
            return
        if job_keys(app.settings) != self._jobs_from:
            self._jobs_from = job_keys(app.settings)
            schedule(self.scheduler, app.settings, self._request)
            LOGGER.info("jobs rescheduled: %s", ", ".join(self.scheduler.names()))
        if app.settings.listener.streaming and app.stream is None:
            self._open_stream()
        elif not app.settings.listener.streaming and app.stream is not None:
            self._close_stream()
        if restart:
            sections = "[" + "], [".join(restart) + "]"
            LOGGER.warning("config: %s changed; only a restart applies it", sections)
            self.app.announcer.tell_all(f"Config reloaded, except {sections}: only a restart applies those.")
        self._due = app.clock()  # new rules and limits apply from this round

    def _refuse(self, why: str, errors: list[str]) -> None:
        LOGGER.error("config reload refused, the previous config stays: %s", why)
        shown = "\n".join(errors[:5])
        self.app.announcer.tell_all(f"Config reload refused; the previous config stays.\n{shown}")

    # --- the stream -----------------------------------------------------------------------

    def _open_stream(self) -> None:
        from bot.instance.stream import Stream, StreamInbox

        app = self.app
        app.stream = Stream(app.api, StreamInbox(self.inbox, self.wake.set), timeout=self.stream_timeout)
        app.stream.open()

    def _close_stream(self) -> None:
        if self.app.stream is not None:
            self.app.stream.close()
            self.app.stream = None


def serve(
    app: App, watch: ConfigWatch | None = None, *, stream_timeout: float = 60.0, **options: Any
) -> None:
    """The long-lived service: stream + poll until `app.stopping` is set, then close cleanly."""
    Service(app, watch, stream_timeout=stream_timeout, **options).run()


def healthy(beat: datetime | None, problem: str | None, now: datetime) -> str | None:
    """Why `frontrow health` should fail, or None when the service is healthy."""
    if problem:
        return f"unhealthy: {problem}"
    if beat is None or now - beat > HEALTHY_WITHIN:
        return f"unhealthy: last heartbeat {beat.isoformat() if beat else 'never'}"
    return None
