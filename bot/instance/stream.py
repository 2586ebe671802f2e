"""Instance (stream): the user stream and its watchdog; handlers only enqueue, never work on the socket."""

from __future__ import annotations

import logging
import queue
import socket
import time
from collections.abc import Callable
from typing import Any

from mastodon import Mastodon, MastodonError
from mastodon.streaming import StreamListener

LOGGER = logging.getLogger(__name__)
CLOSE_WAIT = 1.0  # seconds for the stream's thread to end once its socket is shut


class StreamInbox(StreamListener):
    """User-stream handlers: they only enqueue (no work on the socket thread)."""

    def __init__(self, inbox: queue.Queue[tuple[str, Any]], wake: Callable[[], None]) -> None:
        super().__init__()
        self.inbox = inbox
        self.wake = wake
        self.last_seen = time.monotonic()
        self.handle: Any = None  # set by Stream.open
        # Mastodon.py reconnects silently (not every drop reaches on_abort): a new connection object
        # seen alive is a reconnect, and the first connect counts as one too. Catch up then.
        self._connection: Any = None

    def _put(self, kind: str, data: Any) -> None:
        self.inbox.put((kind, data))
        self.wake()

    def _alive(self) -> None:
        self.last_seen = time.monotonic()
        connection = getattr(self.handle, "connection", None)
        if connection is not None and connection is not self._connection:
            self._connection = connection
            self._put("reconnected", None)

    def on_any_event(self, name: str, data: Any = None, for_stream: Any = None) -> None:
        self._alive()

    def handle_heartbeat(self) -> None:
        self._alive()

    def on_notification(self, notification: Any) -> None:
        self._put("notification", notification)

    def on_update(self, status: Any) -> None:
        self._put("update", status)

    def on_abort(self, err: Exception) -> None:
        LOGGER.warning("stream interrupted (%s); reconnecting", err)

    def on_unknown_event(self, name: str, unknown_event: Any = None) -> None:
        LOGGER.debug("ignoring stream event %s", name)


class Stream:
    """The user stream with a watchdog: silent for 2 × timeout (no event, no heartbeat) → reconnect."""

    def __init__(
        self, api: Mastodon, inbox: StreamInbox, *, timeout: float = 60.0, reconnect_wait: float = 5.0
    ):
        self.api = api
        self.inbox = inbox
        self.timeout = timeout
        self.reconnect_wait = reconnect_wait
        self.handle: Any = None

    def open(self) -> None:
        self.inbox.last_seen = time.monotonic()
        try:
            self.handle = self.api.stream_user(
                self.inbox,
                run_async=True,
                reconnect_async=True,
                reconnect_async_wait_sec=self.reconnect_wait,
                timeout=self.timeout,
            )
        except MastodonError as exc:
            LOGGER.warning("could not open the user stream (%s); polling until it opens", exc)
            self.handle = None
        self.inbox.handle = self.handle

    def watchdog(self) -> None:
        """Reopen a stream whose thread died (Mastodon.py lets some errors end it) or that went silent."""
        if self.handle is not None and not self.handle.is_alive():
            LOGGER.warning("the stream's thread ended; reconnecting")
        elif time.monotonic() - self.inbox.last_seen > 2 * self.timeout:
            LOGGER.warning("the stream has been silent for %.0fs; reconnecting", 2 * self.timeout)
        else:
            return
        self.close()
        self.open()

    def close(self) -> None:
        """Close the stream at once: its thread is blocked reading the socket, and closing the response
        from here neither wakes it nor frees what the interpreter's exit then waits on (the heartbeat
        would, seconds later). Shutting the socket down ends that read now."""
        if self.handle is not None:
            handle, self.handle = self.handle, None
            sock = _socket_of(getattr(handle, "connection", None))
            try:
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError as exc:  # already closed by the other side
                LOGGER.debug("shutting the stream's socket down: %s", exc)
            try:
                handle.close()
                handle.join(timeout=CLOSE_WAIT)
            except Exception as exc:  # closing a dead socket must not stop the shutdown
                LOGGER.debug("closing the stream: %s", exc)


def _socket_of(response: Any) -> socket.socket | None:
    """The socket under a streaming requests.Response (urllib3 2: response.raw.connection.sock)."""
    connection = getattr(getattr(response, "raw", None), "connection", None)
    sock = getattr(connection, "sock", None)
    return sock if isinstance(sock, socket.socket) else None
