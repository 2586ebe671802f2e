"""Instance (reader): what we read — our account, notifications, threads, timelines, whom we silence."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from mastodon import Mastodon, MastodonError

from bot.instance.client import InstanceFacts, instance_facts
from bot.instance.convert import to_account
from bot.instance.errors import NetworkError, NotFound, RateLimited, Refused, ServerError, Unauthorized
from bot.model import Account, Follower

LOGGER = logging.getLogger(__name__)
PAGE_SIZE = 80  # Mastodon's maximum page of notifications
FOLLOWERS_PAGE = 80  # … and of followers
QUOTES_PAGE = 40  # Mastodon's maximum page of statuses: one request per post checked


@dataclass(frozen=True)
class FollowerPage:
    followers: list[Follower]
    next_max_id: str | None  # None: this was the last page


@dataclass(frozen=True)
class Relationship:
    account_id: str
    following: bool
    requested: bool
    followed_by: bool = False  # they follow us (an approver who does not may find our DMs filtered)


class Reader:
    """Reads through the one paced client; returns plain JSON pages or our own dataclasses.

    Notifications a 4.3+ notification policy holds back are read too (`include_filtered`, switched on
    by `App.start` from the instance's `api_versions`) and carry `"filtered": true` as Mastodon marks
    them. A server that filters without marking (mastodon_mock) is told apart by comparing each page
    with the same page read without them (`compare_filtered`), until it is seen marking one itself.
    """

    def __init__(self, api: Mastodon) -> None:
        self.api = api
        self.include_filtered = False
        self.compare_filtered = False

    def me(self) -> Account:
        """Our own account; raises Unauthorized for a wrong or revoked token."""
        return to_account(self.api.account_verify_credentials())

    def facts(self, base_url: str) -> InstanceFacts:
        return instance_facts(self.api, base_url)

    def account_id(self, lookup: str) -> str:
        """The id of `user` (local) or `user@domain`; raises NotFound."""
        return str(self.api.account_lookup(lookup)["id"])

    def relationships(self, account_ids: Sequence[str]) -> list[Relationship]:
        return [
            Relationship(str(r["id"]), bool(r["following"]), bool(r["requested"]), bool(r.get("followed_by")))
            for r in self.api.account_relationships(list(account_ids))
        ]

    def notifications_after(self, cursor: str) -> list[Mapping[str, Any]]:
        """The page of notifications just newer than `cursor`, newest first (empty: caught up)."""
        return self._marked_page({"min_id": cursor})

    def newest_notifications(self) -> list[Mapping[str, Any]]:
        """The newest page of notifications, newest first: where a first run starts."""
        return self._marked_page({})

    def notifications_before(self, max_id: str) -> list[Mapping[str, Any]]:
        """The page just older than `max_id`, newest first (empty: the start of the history).

        For the history backfill, which never drafts: filtered ones are read but not told apart."""
        return self._notifications({"max_id": max_id}, include_filtered=self.include_filtered)

    def notification_policy(self) -> dict[str, str] | None:
        """The account's notification policy (4.3+: `for_private_mentions` … → accept, filter or drop);
        None when the server has none or does not say."""
        try:
            policy = self._get_json("/api/v2/notifications/policy", {})
        except MastodonError as exc:  # a token without read:notifications, a server without it
            LOGGER.info("could not read the notification policy (%s)", exc)
            return None
        if not isinstance(policy, Mapping):
            return None
        return {k: str(v) for k, v in policy.items() if k.startswith("for_") and isinstance(v, str)}

    def _marked_page(self, paging: dict[str, Any]) -> list[Mapping[str, Any]]:
        page = self._notifications(paging, include_filtered=self.include_filtered)
        if any(n.get("filtered") is True for n in page):
            if self.compare_filtered:
                LOGGER.info("the instance marks filtered notifications itself; no second read needed")
            self.compare_filtered = False
        elif page and self.include_filtered and self.compare_filtered:
            # The same window without the filtered ones: at most PAGE_SIZE unfiltered notifications lie
            # in this page's span, and they are the first PAGE_SIZE this read returns, so what is
            # missing from it was held back by the policy.
            shown = {str(n.get("id")) for n in self._notifications(paging, include_filtered=False)}
            page = [n if str(n.get("id")) in shown else {**n, "filtered": True} for n in page]
        return page

    def _notifications(self, paging: dict[str, Any], *, include_filtered: bool) -> list[Mapping[str, Any]]:
        """One page of `GET /api/v1/notifications` as plain JSON (Mastodon.py has no include_filtered)."""
        params = {"limit": PAGE_SIZE, **paging}
        if include_filtered:
            params["include_filtered"] = "true"
        page = self._get_json("/api/v1/notifications", params)
        return [n for n in page if isinstance(n, Mapping)] if isinstance(page, list) else []

    def _get_json(self, path: str, params: Mapping[str, Any]) -> Any:
        """GET as plain JSON; raises the errors of bot.instance.errors."""
        return _json(self._get(path, params), path)

    def _get(self, path: str, params: Mapping[str, Any]) -> requests.Response:
        """GET through the same paced session, with our token; raises the errors of bot.instance.errors."""
        try:
            response = self.api.session.get(
                f"{self.api.api_base_url}{path}",
                params=params,
                headers={"Authorization": f"Bearer {self.api.access_token}", "User-Agent": "frontrow"},
                timeout=self.api.request_timeout,
            )
        except requests.RequestException as exc:
            raise NetworkError(f"{path}: {exc}") from exc
        _raise_for(response)
        return response

    def silenced(self) -> frozenset[str]:
        """Ids of the accounts we block or mute: never drafted for. Two requests, not one per person."""
        ids: set[str] = set()
        for listing in (self.api.blocks, self.api.mutes):
            try:
                page = listing(limit=80)
                while page:
                    ids.update(str(account["id"]) for account in page)
                    page = self.api.fetch_next(page)
            except MastodonError as exc:  # e.g. a token without read:blocks / read:mutes
                LOGGER.warning("could not read whom we block or mute (%s); assuming nobody", exc)
        return frozenset(ids)

    def direct_replies(self, status_id: str) -> list[Mapping[str, Any]]:
        """The statuses in `status_id`'s thread that answer it directly."""
        context = self.api.status_context(status_id)
        return [s for s in context.get("descendants") or [] if str(s.get("in_reply_to_id")) == status_id]

    def quotes_of(self, status_id: str) -> list[Mapping[str, Any]]:
        """The newest posts quoting `status_id` (Mastodon 4.5+, `GET /api/v1/statuses/:id/quotes`), one page.

        Mastodon.py 2.3.3 has the call; an older server answers 404 (NotFound), like a deleted post.
        """
        return list(self.api.status_quotes(status_id, limit=QUOTES_PAGE))

    def thread_descendants(self, status_id: str) -> list[Mapping[str, Any]]:
        return list(self.api.status_context(status_id).get("descendants") or [])

    def followers_page(self, account_id: str, max_id: str | None = None) -> FollowerPage:
        """One page of the accounts following `account_id`, from `max_id` on (None: the newest follows).

        Read as plain JSON through the same paced session: Mastodon.py's entity casting cost more CPU
        than the requests themselves (about 2 ms an account, minutes for 100 k followers). The next page
        is where the Link header says, not the last id seen: Mastodon pages followers by the follow.
        """
        params: dict[str, Any] = {"limit": FOLLOWERS_PAGE}
        if max_id is not None:
            params["max_id"] = max_id
        path = f"/api/v1/accounts/{account_id}/followers"
        response = self._get(path, params)  # the Link header says where the next page is
        page = _json(response, path)
        followers = []
        for data in page if isinstance(page, list) else ():
            if not isinstance(data, Mapping):
                continue
            moved = data.get("moved")
            moved_to = str(moved["id"]) if isinstance(moved, Mapping) and moved.get("id") else None
            account_id_, acct = str(data.get("id") or ""), str(data.get("acct") or data.get("username") or "")
            if account_id_ and acct:
                followers.append(Follower(account_id_, acct, moved_to))
        following = response.links.get("next", {}).get("url")
        next_max_id = parse_qs(urlsplit(following).query).get("max_id", [None])[0] if following else None
        return FollowerPage(followers, next_max_id if followers else None)

    # --- listening: timelines, lists, accounts (plain JSON, as the digest ranks it) -------------

    def account_statuses(self, account_id: str, **paging: Any) -> list[Mapping[str, Any]]:
        return list(self.api.account_statuses(account_id, **paging))

    def timeline_home(self, **paging: Any) -> list[Mapping[str, Any]]:
        return list(self.api.timeline_home(**paging))

    def timeline_hashtag(self, tag: str, **paging: Any) -> list[Mapping[str, Any]]:
        return list(self.api.timeline_hashtag(tag, **paging))

    def lists(self) -> list[Mapping[str, Any]]:
        return list(self.api.lists())

    def timeline_list(self, list_id: str, **paging: Any) -> list[Mapping[str, Any]]:
        return list(self.api.timeline_list(list_id, **paging))

    def status(self, status_id: str) -> Mapping[str, Any]:
        """One status as JSON; raises NotFound."""
        return self.api.status(status_id)

    def account_lookup(self, acct: str) -> Mapping[str, Any]:
        """The account as JSON; raises NotFound."""
        return self.api.account_lookup(acct)

    def account_relationships(self, account_ids: Sequence[str]) -> list[Mapping[str, Any]]:
        return list(self.api.account_relationships(list(account_ids)))

    def search_statuses(self, url: str) -> list[Mapping[str, Any]]:
        """The status at `url`, fetched by our instance if it has not seen it (resolve)."""
        return list(self.api.search_v2(url, resolve=True, result_type="statuses").get("statuses") or [])


def _json(response: requests.Response, path: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ServerError(f"{path}: not JSON") from exc


def _raise_for(response: requests.Response) -> None:
    """A failed answer as the errors Mastodon.py would have raised (bot.instance.errors names them)."""
    status = response.status_code
    if status < 400:
        return
    why = f"{status}: {response.text[:200]}"
    if status == 401:
        raise Unauthorized(why)
    if status == 404:
        raise NotFound(why)
    if status == 429:
        raise RateLimited(why)
    if status >= 500:
        raise ServerError(why)
    raise Refused(why)
