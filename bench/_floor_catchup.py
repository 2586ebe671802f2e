"""The floor for bench/catchup.py: a bare Mastodon.py script that only pages through the notifications
with a `min_id` cursor, the way DESIGN.md says a catch-up must (and nothing else: no store, no rules).

Usage: python bench/_floor_catchup.py BASE_URL TOKEN  → prints the number of notifications read.
"""

import sys

from mastodon import Mastodon


def main() -> None:
    base_url, token = sys.argv[1], sys.argv[2]
    api = Mastodon(api_base_url=base_url, access_token=token, version_check_mode="none")
    cursor, seen = "0", 0
    while True:
        page = api.notifications(min_id=cursor, limit=80)
        if not page:
            break
        for notification in reversed(page):
            seen += notification["id"] is not None
        cursor = str(page[0]["id"])
    print(seen)


if __name__ == "__main__":
    main()
