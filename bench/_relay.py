"""The two-hop baseline of bench/latency.py: a second process that answers a mention with a DM.

It listens on its account's user stream (Mastodon.py `stream_user`, as Frontrow does) and answers
every mention with a direct message to the approver carrying the mention's token (`(Q000Z)`): the
same two hops as Frontrow's mention → draft DM (the mention delivered to a stream, a DM posted and
delivered to the approver's stream), with none of Frontrow's own work between them.

    python bench/_relay.py BASE_URL TOKEN APPROVER
"""

from __future__ import annotations

import re
import sys
import threading
from typing import Any

from mastodon import Mastodon
from mastodon.streaming import StreamListener

TOKEN = re.compile(r"\(([A-Z]\d{3}Z)\)")


class Relay(StreamListener):
    def __init__(self, api: Mastodon, approver: str) -> None:
        super().__init__()
        self.api = api
        self.approver = approver

    def on_notification(self, notification: Any) -> None:
        if notification.get("type") != "mention":
            return
        found = TOKEN.search(str(notification["status"].get("content") or ""))
        if found is not None:
            self.api.status_post(f"@{self.approver} a mention ({found.group(1)})", visibility="direct")


def main() -> None:
    base_url, token, approver = sys.argv[1:4]
    api = Mastodon(api_base_url=base_url, access_token=token, version_check_mode="none")
    api.stream_user(Relay(api, approver), run_async=True, reconnect_async=True)
    print("listening", flush=True)
    threading.Event().wait()  # until the bench terminates us


if __name__ == "__main__":
    main()
