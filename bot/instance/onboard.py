"""Instance (onboarding): register the app, the sign-in address, the code exchange, account look-ups."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from mastodon import Mastodon

from bot.instance.client import instance_facts
from bot.instance.errors import InstanceError, NetworkError, NotFound

# Granular scopes, each for something Frontrow does, instead of the broad read/write/follow/push:
# the token cannot upload media, edit filters or lists, block, mute, report, bookmark or use push.
SCOPES: tuple[str, ...] = (
    "read:notifications",  # follows, mentions, replies, approver DMs (polling and the user stream)
    "read:statuses",  # the user stream, the home timeline for the listening digest, threads
    "read:accounts",  # verify_credentials, approver lookup, followers for the OPML feed list
    "read:follows",  # relationships: do we follow the approvers, do we block or mute someone
    "read:lists",  # digest sources "list:<name>"
    "read:blocks",  # never draft for accounts the account blocks
    "read:mutes",  # … or mutes
    "write:statuses",  # draft DMs, approved replies, boosts from the digest
    "write:follows",  # follow the approvers so their DMs are not filtered (Mastodon 4.3+)
    "write:favourites",  # `fav N` from the digest
    "write:accounts",  # set the account's bot flag
)
OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"  # Mastodon shows the code instead of redirecting
APP_NAME = "Frontrow"
APP_WEBSITE = "https://pypi.org/project/frontrow/"
REQUEST_TIMEOUT = 30.0  # Mastodon.py's default is 300 s: far too long to stare at a prompt
USER_AGENT = "frontrow"


class NotRegistered(InstanceError):
    """The instance answered, but no app came of it: not a Mastodon instance, or registration is closed."""


class ScopesRefused(InstanceError):
    """The instance granted fewer scopes than Frontrow asked for."""


@dataclass(frozen=True)
class Registration:
    """Frontrow's app on one instance, and the address where the bot's human signs in."""

    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    sign_in_url: str


@dataclass(frozen=True)
class SignedIn:
    """Who signed in with the pasted code, with the token and a client acting as them."""

    base_url: str
    domain: str  # the instance's own domain, for writing local accts in full
    username: str
    display_name: str
    bot: bool  # the account is already flagged as a bot
    access_token: str = field(repr=False)
    api: Any = field(repr=False, compare=False)  # a Mastodon.py client signed in as the bot


def _app_client(base_url: str, client_id: str, client_secret: str) -> Mastodon:
    return Mastodon(
        client_id=client_id,
        client_secret=client_secret,
        api_base_url=base_url,
        request_timeout=REQUEST_TIMEOUT,
        version_check_mode="none",
        user_agent=USER_AGENT,
    )


def _allow_http(base_url: str) -> bool:
    return base_url.startswith("http://")  # the caller lets only loopback addresses be plain http


def register(base_url: str) -> Registration:
    """Register Frontrow on the instance and make the sign-in address (out-of-band code, forced login).

    Raises NetworkError when the instance cannot be reached, NotRegistered when it answers but no app
    results.
    """
    try:
        client_id, client_secret = Mastodon.create_app(
            APP_NAME,
            scopes=list(SCOPES),
            redirect_uris=OOB_REDIRECT,
            website=APP_WEBSITE,
            api_base_url=base_url,
            request_timeout=REQUEST_TIMEOUT,
            user_agent=USER_AGENT,
        )
        api = _app_client(base_url, client_id, client_secret)
        # force_login: the browser is likely signed in to the human's own account, not the bot's.
        url = api.auth_request_url(
            redirect_uris=OOB_REDIRECT,
            scopes=list(SCOPES),
            force_login=True,
            allow_http=_allow_http(base_url),
        )
    except NetworkError:
        raise
    except (InstanceError, KeyError, TypeError, ValueError) as exc:
        # create_app does not check the HTTP status: an error page surfaces as a missing client_id.
        raise NotRegistered(f"{base_url} did not register the app") from exc
    return Registration(base_url, str(client_id), str(client_secret), _without_none(str(url)))


def _without_none(url: str) -> str:
    """Mastodon.py writes unset parameters as `state=None&lang=None`: the address carries only set ones."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if value != "None"]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def sign_in(registration: Registration, code: str) -> SignedIn:
    """Trade the pasted code for a token and read who it belongs to.

    Raises NetworkError, ScopesRefused, or InstanceError when the code is refused.
    """
    base_url = registration.base_url
    api = _app_client(base_url, registration.client_id, registration.client_secret)
    try:
        token = api.log_in(
            code=code, redirect_uri=OOB_REDIRECT, scopes=list(SCOPES), allow_http=_allow_http(base_url)
        )
        me = api.account_verify_credentials()
    except NetworkError:
        raise
    except InstanceError as exc:
        if "Granted scopes" in str(exc):  # Mastodon.py's check that every scope asked for was granted
            raise ScopesRefused(str(exc)) from exc
        raise
    username = str(me["username"])
    return SignedIn(
        base_url=base_url,
        domain=instance_facts(api, base_url).domain,
        username=username,
        display_name=str(me.get("display_name") or ""),
        bot=bool(me.get("bot")),
        access_token=str(token),
        api=api,
    )


def account_findable(signed: SignedIn, acct: str, is_local: bool) -> bool:
    """Whether the instance knows `acct` (a local username, or user@domain), so `frontrow run` finds it."""
    api = signed.api
    try:
        api.account_lookup(acct)
        return True
    except NotFound:
        if is_local:
            return False
    except InstanceError:
        return True  # cannot tell (e.g. lookup disabled); `frontrow run` will say if it is really missing
    # A remote account the instance has never seen: resolving it once (WebFinger) makes lookup work.
    try:
        found = api.account_search(acct, resolve=True, limit=1)
    except InstanceError:
        return True
    return any(str(a.get("acct", "")).lower() == acct.lower() for a in found)


def mark_as_bot(signed: SignedIn) -> None:
    """Set the account's bot flag, so people see its posts are automated. Raises InstanceError."""
    signed.api.account_update_credentials(bot=True)


def network_reason(exc: NetworkError) -> str:
    """Mastodon.py's network errors quote urllib3's whole retry chain; the user needs the gist."""
    text = str(exc)
    for needle, reason in (
        ("NameResolution", "the name does not resolve"),
        ("Name or service not known", "the name does not resolve"),
        ("Connection refused", "connection refused"),
        ("timed out", "no answer (timed out)"),
        ("CERTIFICATE", "its TLS certificate is not valid"),
        ("SSL", "TLS (https) failed"),
        ("Expecting value", "it did not answer like a Mastodon server"),
    ):
        if needle in text:
            return reason
    return "network error"
