"""The plain-JSON floor for bench/catchup.py: pages through the notifications with a `min_id` cursor using
bare `requests` + `json.loads` (no Mastodon.py objects, no store, no rules): the server's own time.

Pages of 80 are asked for, as Frontrow and the Mastodon.py floor ask (mastodon_mock answers at most 40).

Usage: python bench/_floor_plain.py BASE_URL TOKEN  → prints the number of notifications read.
"""

import json
import sys

import requests


def main() -> None:
    base_url, token = sys.argv[1], sys.argv[2]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    cursor, seen = "0", 0
    while True:
        response = session.get(f"{base_url}/api/v1/notifications", params={"min_id": cursor, "limit": 80})
        response.raise_for_status()
        page = json.loads(response.content)
        if not page:
            break
        for notification in reversed(page):
            seen += notification["id"] is not None
        cursor = str(page[0]["id"])
    print(seen)


if __name__ == "__main__":
    main()
