"""Local fake of the LINE Messaging API (``https://api.line.me``) for offline tests and the demo.

Code under test points its LINE base URL at :attr:`LineApiFake.base_url` and calls it exactly as it
would call LINE. The fake checks requests the way LINE does (bearer token, body size, message
counts and lengths, recipient ID formats, retry keys, reply/link token lifetimes, quota) and
records every accepted send so tests can assert on what would have reached users.

Stdlib only, so it runs anywhere the project's Python runs. Numbers follow LINE's Messaging API
documentation (at most 5 messages per send, 2 MB bodies, 500 multicast recipients, narrowcast to
at least 50, 10,000 IDs per audience upload, 1,000 audiences per channel kept 180 days, retry keys
valid 24 h, link tokens 10 minutes) and the OpenAPI specs in ``vendor/line-openapi/``. Error
``message`` strings mimic LINE's where they are known; assert on status and ``property`` rather
than on exact wording.

Rich menus: create, image upload (the ``api-data.line.me`` path), per-user link and unlink, bulk
link and unlink (up to 500 users), the default rich menu; :meth:`LineApiFake.rich_menu_of` tells
which menu a user sees. Rate limits: :meth:`LineApiFake.set_rate_limit` answers 429 past N
requests per second of one operation, as LINE does per endpoint.

Time: the fake reads a clock (``now()``); standalone it keeps its own, which
:meth:`LineApiFake.advance_time` moves; the local stack passes its shared clock, so moving the
stack's clock (``POST /_local/clock``) also ages reply tokens, retry keys and link tokens here.

Simplifications, deliberate: every registered channel shares one friend list (``add_user``);
a well-formed user ID that was never added is treated as a friend; narrowcast completes
synchronously and ignores demographic filters (recorded only); reply sends are free and blocked
recipients are not delivered, so neither counts towards quota consumption; rich menu links
apply at once (LINE's bulk link is asynchronous) and rich menus are shared by every channel.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import re
import secrets
import string
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_MESSAGES = 5
MAX_TEXT_LENGTH = 5000
MAX_MULTICAST_RECIPIENTS = 500
MAX_QUICK_REPLY_ITEMS = 13
MAX_AUDIENCE_IDS_PER_REQUEST = 10_000
MAX_AUDIENCE_GROUPS_PER_CHANNEL = 1_000
MAX_AUDIENCE_DESCRIPTION = 120
AUDIENCE_LIFETIME_SECONDS = 180 * 24 * 3600
LINK_TOKEN_TTL_SECONDS = 10 * 60
RETRY_KEY_TTL_SECONDS = 24 * 3600
JST_OFFSET_SECONDS = 9 * 3600  # the monthly message count starts again at 00:00 JST on the 1st
REPLY_TOKEN_TTL_SECONDS = 60
ID_TOKEN_TTL_SECONDS = 3600
NARROWCAST_MIN_RECIPIENTS = 50
MAX_RICH_MENUS = 1000
MAX_RICH_MENU_AREAS = 20
MAX_RICH_MENU_IMAGE_BYTES = 1024 * 1024
MAX_BULK_RICH_MENU_USERS = 500
RICH_MENU_IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})

USER_ID_RE = re.compile(r"^U[0-9a-f]{32}$")
CHAT_ID_RE = re.compile(r"^[UCR][0-9a-f]{32}$")
IFA_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

SEND_ENDPOINTS = ("push", "reply", "multicast", "narrowcast", "broadcast")
RETRY_KEY_ENDPOINTS = frozenset({"push", "multicast", "narrowcast", "broadcast"})
QUOTABLE_TYPES = frozenset({"text", "textV2", "sticker", "image", "video"})
REQUIRED_MESSAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "textV2": ("text",),
    "sticker": ("packageId", "stickerId"),
    "image": ("originalContentUrl", "previewImageUrl"),
    "video": ("originalContentUrl", "previewImageUrl"),
    "audio": ("originalContentUrl", "duration"),
    "location": ("title", "address", "latitude", "longitude"),
    "imagemap": ("baseUrl", "altText", "baseSize", "actions"),
    "template": ("altText", "template"),
    "flex": ("altText", "contents"),
    "coupon": ("couponId",),
}
URL_FIELDS = ("originalContentUrl", "previewImageUrl", "baseUrl")
ALT_TEXT_LIMITS = {"template": 400, "imagemap": 1500, "flex": 1500}

UNAUTHENTICATED_MISSING = (
    "Authentication failed due to the following reason: no token. "
    "Confirm that the access token in the authorization header is valid."
)
UNAUTHENTICATED_INVALID = (
    "Authentication failed due to the following reason: invalid token. "
    "Confirm that the access token in the authorization header is valid."
)
STATUS_MESSAGES = {
    429: "The API rate limit has been exceeded. Try again later.",
    500: "An error occurred in the API server.",
}
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_user_id() -> str:
    """A well-formed LINE user ID (``U`` + 32 hex), so tests need no hand-typed IDs."""
    return "U" + secrets.token_hex(16)


def _utf16_len(text: str) -> int:
    """LINE counts text length in UTF-16 code units (an emoji outside the BMP counts as 2)."""
    return len(text.encode("utf-16-le")) // 2


def _iso_ms(epoch: float) -> str:
    """LINE's timestamp format in narrowcast progress: ISO 8601, UTC, milliseconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def _ulid(epoch: float) -> str:
    """Webhook event IDs are ULIDs; generate one so fabricated events look like LINE's."""
    value = (int(epoch * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _OwnClock:
    """The fake's clock when it runs alone: real time plus what ``advance_time`` added."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, duration: timedelta) -> None:
        with self._lock:
            self._offset += duration.total_seconds()

    def real(self) -> None:
        with self._lock:
            self._offset = 0.0


class LinkTokenError(Exception):
    """Raised by :meth:`LineApiFake.consume_link_token` when LINE would reject the link token."""


class _ApiError(Exception):
    """An error answer; raised anywhere in request handling and turned into the HTTP response."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message") or body.get("error_description"))
        self.status = status
        self.body = body
        self.headers = headers or {}


def _bad_request(errors: list[tuple[str, str]]) -> _ApiError:
    """LINE's validation error shape: a count plus one detail per failing property."""
    details = [{"message": message, "property": prop} for message, prop in errors]
    return _ApiError(400, {"message": f"The request body has {len(errors)} error(s)", "details": details})


def _audience_error(message: str, code: str, prop: str | None = None) -> _ApiError:
    """Audience API errors carry an upper-case code in ``details[].message``."""
    detail = {"message": code} if prop is None else {"message": code, "property": prop}
    return _ApiError(400, {"message": message, "details": [detail]})


@dataclass
class _Channel:
    access_token: str
    bot_user_id: str
    quota: int | None
    consumption: int = 0
    month: str = ""  # the JST month `consumption` counts
    retry_keys: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _User:
    user_id: str
    display_name: str
    picture_url: str | None
    language: str | None
    status_message: str | None


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class _Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., _Response]
    auth: bool = True
    operation: str = ""  # what a rate limit counts (send routes: the endpoint name)


class LineApiFake:
    """An in-process HTTP server answering like ``api.line.me``; all state sits behind one lock."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        monthly_quota: int | None = None,
        narrowcast_min_recipients: int = NARROWCAST_MIN_RECIPIENTS,
        reply_token_ttl: float = REPLY_TOKEN_TTL_SECONDS,
        clock: Any = None,
    ) -> None:
        """``clock``: anything with ``now()`` (epoch seconds) and ``advance(timedelta)``, e.g. the
        local stack's shared clock; without one the fake keeps its own."""
        self.host = host
        self.port = port
        self._owns_clock = clock is None
        self.clock: Any = _OwnClock() if clock is None else clock
        self.narrowcast_min_recipients = narrowcast_min_recipients
        self.reply_token_ttl = reply_token_ttl
        self._default_quota = monthly_quota
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._channels: dict[str, _Channel] = {}
        self._users: dict[str, _User] = {}
        self._blocked: set[str] = set()
        self._rate_limits: dict[str, int] = {}
        self._rate_windows: dict[str, deque[float]] = {}
        self._clear_activity()
        self._routes = self._build_routes()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LineApiFake:
        """Bind (port 0 picks a free port) and serve on a daemon thread."""
        if self._server is not None:
            return self
        handler = type("LineFakeHandler", (_Handler,), {"fake": self})
        server = _Server((self.host, self.port), handler)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="line-api-fake", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> LineApiFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("LineApiFake is not started")
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ setup helpers

    def register_channel(self, access_token: str, bot_user_id: str, *, monthly_quota: int | None = None) -> None:
        """Make ``access_token`` valid; sends made with it are recorded under ``bot_user_id``."""
        quota = self._default_quota if monthly_quota is None else monthly_quota
        with self._lock:
            self._channels[access_token] = _Channel(access_token, bot_user_id, quota)

    def set_quota(self, limit: int | None, bot_user_id: str | None = None) -> None:
        """Monthly target limit (``None`` = no limit); without ``bot_user_id`` it applies to every channel."""
        with self._lock:
            if bot_user_id is None:
                self._default_quota = limit
            for channel in self._channels.values():
                if bot_user_id is None or channel.bot_user_id == bot_user_id:
                    channel.quota = limit

    def add_user(
        self,
        user_id: str,
        display_name: str,
        picture_url: str | None = None,
        language: str | None = "zh-TW",
        *,
        status_message: str | None = None,
    ) -> None:
        """Add a friend with a profile (broadcast reaches them, GET profile answers it); also unblocks."""
        if not USER_ID_RE.match(user_id):
            raise ValueError(f"not a LINE user ID: {user_id!r}")
        with self._lock:
            self._users[user_id] = _User(user_id, display_name, picture_url, language, status_message)
            self._blocked.discard(user_id)

    def block_user(self, user_id: str) -> None:
        """The user blocks the account: pushes still answer 200 but are recorded as not delivered."""
        with self._lock:
            self._blocked.add(user_id)

    def unblock_user(self, user_id: str) -> None:
        with self._lock:
            self._blocked.discard(user_id)

    def fail_next(self, n: int = 1, status: int = 429, *, after_accept: bool = False) -> None:
        """Answer the next ``n`` send requests with ``status``.

        With ``after_accept`` the send is still accepted and recorded (as when LINE processed a
        request but the client saw a 5xx or timeout), so a retry with the same retry key gets 409.
        """
        with self._lock:
            self._fail_queue.extend([(status, after_accept)] * n)

    def slow_next(self, n: int = 1, seconds: float = 5.0) -> None:
        """Accept and record the next ``n`` sends but answer each only after ``seconds`` (a client
        timeout while LINE delivered: its retry with the same retry key gets 409)."""
        with self._lock:
            self._slow_queue.extend([float(seconds)] * n)

    def issue_reply_token(self, user_id: str | None, bot_user_id: str | None = None) -> str:
        """A reply token as a webhook event would carry it: single use, valid ``reply_token_ttl`` seconds."""
        token = secrets.token_hex(16)
        with self._lock:
            self._reply_tokens[token] = {
                "user_id": user_id,
                "bot_user_id": bot_user_id,
                "expires_at": self.now() + self.reply_token_ttl,
                "used": False,
            }
        return token

    def issue_id_token(
        self,
        user_id: str,
        channel_id: str,
        *,
        name: str | None = None,
        picture: str | None = None,
        email: str | None = None,
        nonce: str | None = None,
        expires_in: int = ID_TOKEN_TTL_SECONDS,
        channel_secret: str | None = None,
    ) -> str:
        """A LINE Login ID token (HS256 JWT, as LINE issues for web login) that verify will accept."""
        issued = int(self.now())
        claims: dict[str, Any] = {
            "iss": "https://access.line.me",
            "sub": user_id,
            "aud": channel_id,
            "exp": issued + expires_in,
            "iat": issued,
            "auth_time": issued,
            "amr": ["linesso"],
        }
        for key, value in (("nonce", nonce), ("name", name), ("picture", picture), ("email", email)):
            if value is not None:
                claims[key] = value
        header = _b64url(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        secret = (channel_secret or f"fake-channel-secret-{channel_id}").encode()
        signature = _b64url(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        token = f"{header}.{payload}.{signature}"
        with self._lock:
            self._id_tokens[token] = claims
        return token

    def consume_link_token(self, link_token: str) -> str:
        """Use a link token as LINE's account-link dialog does; answers its user ID.

        Raises :class:`LinkTokenError` for unknown, already used or expired (10 min) tokens.
        """
        with self._lock:
            record = self._link_tokens.get(link_token)
            if record is None:
                raise LinkTokenError("unknown link token")
            if record["used_at"] is not None:
                raise LinkTokenError("link token already used")
            if self.now() > record["expires_at"]:
                raise LinkTokenError("link token expired")
            record["used_at"] = self.now()
            return str(record["user_id"])

    def account_link_event(self, link_token: str, nonce: str) -> dict[str, Any]:
        """The ``accountLink`` webhook event LINE sends after the user opens the link dialog.

        A failed link (bad or reused token, nonce outside 10–255 chars) has ``result: failed`` and,
        as on LINE, no ``source``.
        """
        with self._lock:
            record = self._link_tokens.get(link_token)
            user_id = record["user_id"] if record else None
            bot_user_id = record["bot_user_id"] if record else None
            ok = 10 <= len(nonce) <= 255
            if ok:
                try:
                    self.consume_link_token(link_token)
                except LinkTokenError:
                    ok = False
            now = self.now()
            event: dict[str, Any] = {
                "type": "accountLink",
                "mode": "active",
                "timestamp": int(now * 1000),
                "webhookEventId": _ulid(now),
                "deliveryContext": {"isRedelivery": False},
                "replyToken": self.issue_reply_token(user_id, bot_user_id),
                "link": {"result": "ok" if ok else "failed", "nonce": nonce},
            }
            if ok:
                event["source"] = {"type": "user", "userId": user_id}
            return event

    def advance_time(self, seconds: float) -> None:
        """Move the clock forward to expire link/reply/ID tokens, retry keys and audiences (with a
        shared clock, everything that reads it moves too)."""
        self.clock.advance(timedelta(seconds=seconds))

    def now(self) -> float:
        return float(self.clock.now())

    def set_rate_limit(self, operation: str, per_second: int | None) -> None:
        """Answer 429 to requests of ``operation`` (``push``, ``multicast``, ``reply``, ``narrowcast``,
        ``broadcast``, ``richmenu.link``, ``richmenu.bulk``) past ``per_second`` in any second of real
        time; ``None`` lifts the limit."""
        with self._lock:
            if per_second is None:
                self._rate_limits.pop(operation, None)
            else:
                self._rate_limits[operation] = int(per_second)
            self._rate_windows.pop(operation, None)

    def reset(self, *, full: bool = False) -> None:
        """Forget sends, tokens, audiences, rich menus and consumption (and the fake's own clock
        offset); ``full`` also drops channels and users."""
        with self._lock:
            self._clear_activity()
            self._rate_limits.clear()
            self._rate_windows.clear()
            if self._owns_clock:
                self.clock.real()
            if full:
                self._channels.clear()
                self._users.clear()
                self._blocked.clear()

    # ------------------------------------------------------------------ inspection helpers

    def sent(self, endpoint: str | None = None, to: str | None = None) -> list[dict[str, Any]]:
        """Accepted sends, oldest first (copies); filter by endpoint name and/or a recipient."""
        with self._lock:
            records = [
                r
                for r in self._sent
                if (endpoint is None or r["endpoint"] == endpoint) and (to is None or to in r["recipients"])
            ]
            return copy.deepcopy(records)

    def calls(self) -> list[dict[str, Any]]:
        """Every API request with its answer status, including rejected ones (to count retries)."""
        with self._lock:
            return copy.deepcopy(self._calls)

    def consumption(self, bot_user_id: str | None = None) -> int:
        """Messages counted this month (LINE's months start at 00:00 JST on the 1st)."""
        with self._lock:
            channels = [c for c in self._channels.values() if bot_user_id in (None, c.bot_user_id)]
            return sum(self._month_usage(c) for c in channels)

    def _month_usage(self, channel: _Channel) -> int:
        """The channel's consumption, started again when the clock has entered a new JST month."""
        month = time.strftime("%Y-%m", time.gmtime(self.now() + JST_OFFSET_SECONDS))
        if channel.month != month:
            channel.month, channel.consumption = month, 0
        return channel.consumption

    def link_tokens(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._link_tokens.values()))

    def rich_menu_of(self, user_id: str) -> str | None:
        """The rich menu a user sees: the one linked to them, else the default (None: neither)."""
        with self._lock:
            return self._user_rich_menus.get(user_id) or self._default_rich_menu

    def rich_menus(self) -> dict[str, Any]:
        """Every rich menu (with whether its image is uploaded), the per-user links and the default."""
        with self._lock:
            return {
                "richMenus": [
                    {**copy.deepcopy(menu["object"]), "imageUploaded": menu["image"] is not None}
                    for menu in self._rich_menus.values()
                ],
                "links": dict(sorted(self._user_rich_menus.items())),
                "default": self._default_rich_menu,
            }

    def audience(self, audience_group_id: int) -> dict[str, Any] | None:
        """An audience including its member IDs, which LINE's API never returns."""
        with self._lock:
            group = self._audiences.get(audience_group_id)
            if group is None:
                return None
            result = copy.deepcopy(group)
            result["members"] = sorted(group["members"])
            return result

    # ------------------------------------------------------------------ internals: state

    def _clear_activity(self) -> None:
        self._sent: list[dict[str, Any]] = []
        self._calls: list[dict[str, Any]] = []
        self._fail_queue: list[tuple[int, bool]] = []
        self._slow_queue: list[float] = []
        self._reply_tokens: dict[str, dict[str, Any]] = {}
        self._link_tokens: dict[str, dict[str, Any]] = {}
        self._id_tokens: dict[str, dict[str, Any]] = {}
        self._audiences: dict[int, dict[str, Any]] = {}
        self._next_audience_id = 1_234_567_890_000
        self._next_job_id = 10_000_000
        self._rich_menus: dict[str, dict[str, Any]] = {}
        self._user_rich_menus: dict[str, str] = {}
        self._default_rich_menu: str | None = None
        for channel in getattr(self, "_channels", {}).values():
            channel.consumption = 0
            channel.retry_keys.clear()

    def _build_routes(self) -> list[_Route]:
        def route(
            method: str, pattern: str, handler: Callable[..., _Response], *, auth: bool = True, operation: str = ""
        ) -> _Route:
            return _Route(method, re.compile(f"^{pattern}$"), handler, auth, operation)

        send = self._handle_send
        menu = r"(?P<rich_menu_id>[^/]+)"
        user = r"(?P<user_id>[^/]+)"
        return [
            route("POST", r"/v2/bot/message/(?P<endpoint>push|reply|multicast|narrowcast|broadcast)", send),
            route("POST", r"/v2/bot/richmenu", self._handle_rich_menu_create),
            route("POST", r"/v2/bot/richmenu/validate", self._handle_rich_menu_validate),
            route("GET", r"/v2/bot/richmenu/list", self._handle_rich_menu_list),
            route("POST", r"/v2/bot/richmenu/bulk/link", self._handle_rich_menu_bulk_link, operation="richmenu.bulk"),
            route(
                "POST", r"/v2/bot/richmenu/bulk/unlink", self._handle_rich_menu_bulk_unlink, operation="richmenu.bulk"
            ),
            route("POST", rf"/v2/bot/richmenu/{menu}/content", self._handle_rich_menu_image),
            route("GET", rf"/v2/bot/richmenu/{menu}/content", self._handle_rich_menu_image_get),
            route("GET", rf"/v2/bot/richmenu/{menu}", self._handle_rich_menu_get),
            route("DELETE", rf"/v2/bot/richmenu/{menu}", self._handle_rich_menu_delete),
            route("POST", rf"/v2/bot/user/all/richmenu/{menu}", self._handle_default_rich_menu_set),
            route("GET", r"/v2/bot/user/all/richmenu", self._handle_default_rich_menu_get),
            route("DELETE", r"/v2/bot/user/all/richmenu", self._handle_default_rich_menu_cancel),
            route(
                "POST", rf"/v2/bot/user/{user}/richmenu/{menu}", self._handle_rich_menu_link, operation="richmenu.link"
            ),
            route("GET", rf"/v2/bot/user/{user}/richmenu", self._handle_rich_menu_of_user),
            route("DELETE", rf"/v2/bot/user/{user}/richmenu", self._handle_rich_menu_unlink, operation="richmenu.link"),
            route("GET", r"/v2/bot/message/progress/narrowcast", self._handle_narrowcast_progress),
            route("GET", r"/v2/bot/message/quota", self._handle_quota),
            route("GET", r"/v2/bot/message/quota/consumption", self._handle_consumption),
            route("GET", r"/v2/bot/profile/(?P<user_id>[^/]+)", self._handle_profile),
            route("POST", r"/v2/bot/user/(?P<user_id>[^/]+)/linkToken", self._handle_link_token),
            route("POST", r"/v2/bot/audienceGroup/upload", self._handle_audience_create),
            route("PUT", r"/v2/bot/audienceGroup/upload", self._handle_audience_add),
            route("GET", r"/v2/bot/audienceGroup/(?P<group_id>[^/]+)", self._handle_audience_get),
            route("DELETE", r"/v2/bot/audienceGroup/(?P<group_id>[^/]+)", self._handle_audience_delete),
            route("POST", r"/oauth2/v2\.1/verify", self._handle_verify_id_token, auth=False),
        ]

    def _handle(self, req: _Request) -> _Response:
        """Route one request; API answers all carry ``x-line-request-id`` as LINE's do."""
        if req.path.startswith("/__fake__/"):
            try:
                return self._handle_control(req)
            except _ApiError as err:
                return _Response(err.status, err.body, err.headers)
            except (KeyError, TypeError, ValueError) as err:
                return _Response(400, {"message": f"bad control request: {err!r}"})
        request_id = str(uuid.uuid4())
        try:
            response = self._dispatch(req, request_id)
        except _ApiError as err:
            response = _Response(err.status, err.body, err.headers)
        except Exception as err:  # a fake bug must surface as an answer, not a hung client
            response = _Response(500, {"message": f"LINE API fake internal error: {err!r}"})
        response.headers.setdefault("x-line-request-id", request_id)
        with self._lock:
            self._calls.append(
                {
                    "method": req.method,
                    "path": req.path,
                    "status": response.status,
                    "request_id": request_id,
                    "retry_key": req.header("x-line-retry-key"),
                    "time": self.now(),
                }
            )
        return response

    def _dispatch(self, req: _Request, request_id: str) -> _Response:
        allowed: list[str] = []
        for candidate in self._routes:
            match = candidate.pattern.match(req.path)
            if match is None:
                continue
            if candidate.method != req.method:
                allowed.append(candidate.method)
                continue
            if len(req.body) > MAX_BODY_BYTES:
                raise _ApiError(413, {"message": "Request Entity Too Large"})
            channel = self._authenticate(req) if candidate.auth else None
            self._count_rate(candidate.operation or match.groupdict().get("endpoint") or "")
            return candidate.handler(req, channel, request_id, **match.groupdict())
        if allowed:
            raise _ApiError(405, {"message": "Method Not Allowed"}, {"Allow": ", ".join(allowed)})
        raise _ApiError(404, {"message": "Not found"})

    def _count_rate(self, operation: str) -> None:
        """A sliding one-second window of real time per limited operation, as LINE counts."""
        with self._lock:
            limit = self._rate_limits.get(operation)
            if limit is None:
                return
            window = self._rate_windows.setdefault(operation, deque())
            now = time.monotonic()
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= limit:
                raise _ApiError(429, {"message": STATUS_MESSAGES[429]})
            window.append(now)

    def _authenticate(self, req: _Request) -> _Channel:
        header = req.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _ApiError(401, {"message": UNAUTHENTICATED_MISSING})
        with self._lock:
            channel = self._channels.get(token.strip())
        if channel is None:
            raise _ApiError(401, {"message": UNAUTHENTICATED_INVALID})
        return channel

    @staticmethod
    def _json_body(req: _Request) -> dict[str, Any]:
        try:
            payload = json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise _ApiError(400, {"message": "The request body could not be parsed as JSON"}) from err
        if not isinstance(payload, dict):
            raise _ApiError(400, {"message": "The request body could not be parsed as JSON"})
        return payload

    def _known_audience_users(self, channel: _Channel) -> set[str]:
        members: set[str] = set(self._users)
        for group in self._audiences.values():
            if group["bot_user_id"] == channel.bot_user_id:
                members |= group["members"]
        return members

    # ------------------------------------------------------------------ internals: sending

    def _handle_send(self, req: _Request, channel: _Channel, request_id: str, endpoint: str) -> _Response:
        retry_key = req.header("x-line-retry-key")
        if retry_key is not None:
            if endpoint not in RETRY_KEY_ENDPOINTS:
                raise _ApiError(400, {"message": "The X-Line-Retry-Key header cannot be used with this endpoint"})
            if not _is_uuid(retry_key):
                raise _ApiError(400, {"message": "The value of the X-Line-Retry-Key header is invalid"})
            retry_key = retry_key.lower()
        body = self._json_body(req)
        errors = _validate_messages(body.get("messages"))
        if "notificationDisabled" in body and not isinstance(body["notificationDisabled"], bool):
            errors.append(("Must be a boolean", "notificationDisabled"))
        validator = getattr(self, f"_validate_{endpoint}")
        errors.extend(validator(body))
        if errors:
            raise _bad_request(errors)
        if endpoint == "push" and not CHAT_ID_RE.match(body["to"]):
            raise _ApiError(400, {"message": "The property, 'to', in the request body is invalid (line: -, column: -)"})

        with self._lock:
            failure = self._fail_queue[0] if self._fail_queue else None
            if failure is not None and not failure[1]:
                self._fail_queue.pop(0)
                raise self._status_error(failure[0])
            now = self.now()
            if retry_key is not None:
                accepted = channel.retry_keys.get(retry_key)
                if accepted is not None and now - accepted["time"] < RETRY_KEY_TTL_SECONDS:
                    conflict: dict[str, Any] = {"message": "The retry key is already accepted"}
                    if accepted["sent_messages"]:
                        conflict["sentMessages"] = accepted["sent_messages"]
                    raise _ApiError(409, conflict, {"x-line-accepted-request-id": accepted["request_id"]})
            recipients, extra = getattr(self, f"_recipients_{endpoint}")(body, channel)
            delivered = [u for u in recipients if u not in self._blocked]
            if endpoint == "narrowcast" and extra["narrowcast"]["progress"]["phase"] == "failed":
                delivered = []
            billable = 0 if endpoint == "reply" else len(set(delivered))
            used = self._month_usage(channel)
            if channel.quota is not None and used + billable > channel.quota:
                raise _ApiError(429, {"message": "You have reached your monthly limit."})
            if endpoint == "reply":
                self._reply_tokens[body["replyToken"]]["used"] = True
            sent_messages = []
            if endpoint in ("push", "reply"):
                for message in body["messages"]:
                    item = {"id": str(secrets.randbelow(9 * 10**17) + 10**17)}
                    if message.get("type") in QUOTABLE_TYPES:
                        item["quoteToken"] = _b64url(secrets.token_bytes(48))
                    sent_messages.append(item)
            channel.consumption += billable
            record: dict[str, Any] = {
                "request_id": request_id,
                "endpoint": endpoint,
                "bot_user_id": channel.bot_user_id,
                "time": now,
                "retry_key": retry_key,
                "recipients": recipients,
                "delivered_to": delivered,
                "not_delivered_to": [u for u in recipients if u not in delivered],
                "delivered": len(delivered) == len(recipients),
                "messages": copy.deepcopy(body["messages"]),
                "notification_disabled": bool(body.get("notificationDisabled", False)),
                "sent_messages": sent_messages,
                "body": copy.deepcopy(body),
                **extra,
            }
            self._sent.append(record)
            if retry_key is not None:
                channel.retry_keys[retry_key] = {"request_id": request_id, "time": now, "sent_messages": sent_messages}
            if failure is not None:
                self._fail_queue.pop(0)
                raise self._status_error(failure[0])
            delay = self._slow_queue.pop(0) if self._slow_queue else 0.0

        if delay:  # accepted and recorded; the answer comes late (a client with a shorter timeout gives up)
            time.sleep(delay)
        if endpoint in ("push", "reply"):
            return _Response(200, {"sentMessages": copy.deepcopy(sent_messages)})
        return _Response(202 if endpoint == "narrowcast" else 200, {})

    @staticmethod
    def _status_error(status: int) -> _ApiError:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        return _ApiError(status, {"message": STATUS_MESSAGES.get(status, phrase)})

    @staticmethod
    def _validate_push(body: dict[str, Any]) -> list[tuple[str, str]]:
        to = body.get("to")
        if to is None or to == "":
            return [("May not be empty", "to")]
        return [] if isinstance(to, str) else [("Must be a string", "to")]

    @staticmethod
    def _validate_reply(body: dict[str, Any]) -> list[tuple[str, str]]:
        token = body.get("replyToken")
        if token is None or token == "":
            return [("May not be empty", "replyToken")]
        return [] if isinstance(token, str) else [("Must be a string", "replyToken")]

    @staticmethod
    def _validate_multicast(body: dict[str, Any]) -> list[tuple[str, str]]:
        to = body.get("to")
        if not isinstance(to, list):
            return [("May not be empty", "to")]
        if not 1 <= len(to) <= MAX_MULTICAST_RECIPIENTS:
            return [(f"Size must be between 1 and {MAX_MULTICAST_RECIPIENTS}", "to")]
        return [
            ("Invalid user ID", f"to[{i}]")
            for i, uid in enumerate(to)
            if not (isinstance(uid, str) and USER_ID_RE.match(uid))
        ]

    @staticmethod
    def _validate_broadcast(body: dict[str, Any]) -> list[tuple[str, str]]:
        return []

    @staticmethod
    def _validate_narrowcast(body: dict[str, Any]) -> list[tuple[str, str]]:
        errors: list[tuple[str, str]] = []
        if body.get("recipient") is not None:
            errors.extend(_validate_recipient(body["recipient"], "recipient"))
        limit = body.get("limit")
        if limit is not None:
            if not isinstance(limit, dict):
                return [*errors, ("Must be an object", "limit")]
            maximum = limit.get("max")
            if maximum is not None and (not isinstance(maximum, int) or isinstance(maximum, bool) or maximum < 1):
                errors.append(("Must be greater than or equal to 1", "limit.max"))
            if limit.get("forbidPartialDelivery") and not limit.get("upToRemainingQuota"):
                errors.append(("Can be true only if upToRemainingQuota is true", "limit.forbidPartialDelivery"))
        return errors

    def _recipients_push(self, body: dict[str, Any], channel: _Channel) -> tuple[list[str], dict[str, Any]]:
        return [body["to"]], {}

    def _recipients_reply(self, body: dict[str, Any], channel: _Channel) -> tuple[list[str], dict[str, Any]]:
        token = self._reply_tokens.get(body["replyToken"])
        if (
            token is None
            or token["used"]
            or self.now() > token["expires_at"]
            or token["bot_user_id"] not in (None, channel.bot_user_id)
        ):
            raise _ApiError(400, {"message": "Invalid reply token"})
        user_id = token["user_id"]
        return ([user_id] if user_id else []), {"reply_token": body["replyToken"]}

    def _recipients_multicast(self, body: dict[str, Any], channel: _Channel) -> tuple[list[str], dict[str, Any]]:
        return list(dict.fromkeys(body["to"])), {}

    def _recipients_broadcast(self, body: dict[str, Any], channel: _Channel) -> tuple[list[str], dict[str, Any]]:
        return sorted(u for u in self._users if u not in self._blocked), {}

    def _recipients_narrowcast(self, body: dict[str, Any], channel: _Channel) -> tuple[list[str], dict[str, Any]]:
        """Resolve audiences now and decide the final phase the way LINE's async job would."""
        universe = self._known_audience_users(channel)
        audiences_used: list[int] = []
        recipient = body.get("recipient")
        targets = self._evaluate_recipient(recipient, channel, universe, audiences_used) if recipient else universe
        targets = {u for u in targets if u not in self._blocked}
        limit = body.get("limit") or {}
        chosen = sorted(targets)
        if limit.get("max"):
            chosen = chosen[: limit["max"]]
        truncated_by_quota = False
        if limit.get("upToRemainingQuota") and channel.quota is not None:
            remaining = max(channel.quota - self._month_usage(channel), 0)
            truncated_by_quota = len(chosen) > remaining
            chosen = chosen[:remaining]
        now = self.now()
        progress: dict[str, Any] = {"acceptedTime": _iso_ms(now), "completedTime": _iso_ms(now)}
        minimum = self.narrowcast_min_recipients
        small = [gid for gid in audiences_used if len(self._audiences[gid]["members"]) < minimum]
        if small:
            progress.update(
                phase="failed",
                errorCode=4,
                failedDescription=f"An audience of less than {minimum} recipients is included",
            )
        elif len(targets) < minimum:
            progress.update(phase="failed", errorCode=2, failedDescription="There weren't enough recipients")
        elif truncated_by_quota and limit.get("forbidPartialDelivery"):
            progress.update(phase="failed", errorCode=5, failedDescription="Partial delivery was forbidden")
        else:
            progress.update(phase="succeeded", successCount=len(chosen), failureCount=0, targetCount=len(chosen))
        narrowcast = {
            "recipient": recipient,
            "filter": body.get("filter"),
            "limit": body.get("limit"),
            "progress": progress,
        }
        return chosen, {"narrowcast": narrowcast}

    def _evaluate_recipient(
        self, node: dict[str, Any], channel: _Channel, universe: set[str], audiences_used: list[int]
    ) -> set[str]:
        kind = node["type"]
        if kind == "audience":
            group = self._audiences.get(node["audienceGroupId"])
            if group is None or group["bot_user_id"] != channel.bot_user_id:
                raise _audience_error("audience group not found", "AUDIENCE_GROUP_NOT_FOUND", "recipient")
            audiences_used.append(node["audienceGroupId"])
            return set(group["members"])
        if kind == "redelivery":
            previous = [r for r in self._sent if r["request_id"] == node["requestId"]]
            if not previous:
                raise _bad_request([("Request ID not found", "recipient.requestId")])
            return set(previous[0]["recipients"])
        if "and" in node:
            sets = [self._evaluate_recipient(child, channel, universe, audiences_used) for child in node["and"]]
            return set.intersection(*sets) if sets else set()
        if "or" in node:
            result: set[str] = set()
            for child in node["or"]:
                result |= self._evaluate_recipient(child, channel, universe, audiences_used)
            return result
        return universe - self._evaluate_recipient(node["not"], channel, universe, audiences_used)

    def _handle_narrowcast_progress(self, req: _Request, channel: _Channel, request_id: str) -> _Response:
        wanted = (req.query.get("requestId") or [""])[0]
        if not wanted:
            raise _ApiError(400, {"message": "requestId is required", "details": [{"property": "requestId"}]})
        with self._lock:
            for record in self._sent:
                if (
                    record["request_id"] == wanted
                    and record["endpoint"] == "narrowcast"
                    and record["bot_user_id"] == channel.bot_user_id
                ):
                    return _Response(200, copy.deepcopy(record["narrowcast"]["progress"]))
        raise _ApiError(404, {"message": "Not found"})

    # ------------------------------------------------------------------ internals: other endpoints

    def _handle_quota(self, req: _Request, channel: _Channel, request_id: str) -> _Response:
        with self._lock:
            if channel.quota is None:
                return _Response(200, {"type": "none"})
            return _Response(200, {"type": "limited", "value": channel.quota})

    def _handle_consumption(self, req: _Request, channel: _Channel, request_id: str) -> _Response:
        with self._lock:
            return _Response(200, {"totalUsage": self._month_usage(channel)})

    def _handle_profile(self, req: _Request, channel: _Channel, request_id: str, user_id: str) -> _Response:
        with self._lock:
            user = self._users.get(user_id)
            if user is None or user_id in self._blocked:
                raise _ApiError(404, {"message": "Not found"})
            profile: dict[str, Any] = {"userId": user.user_id, "displayName": user.display_name}
            for key, value in (
                ("pictureUrl", user.picture_url),
                ("statusMessage", user.status_message),
                ("language", user.language),
            ):
                if value is not None:
                    profile[key] = value
            return _Response(200, profile)

    def _handle_link_token(self, req: _Request, channel: _Channel, request_id: str, user_id: str) -> _Response:
        if not USER_ID_RE.match(user_id):
            raise _ApiError(400, {"message": "The value for the 'userId' parameter is invalid"})
        alphabet = string.ascii_letters + string.digits
        token = "".join(secrets.choice(alphabet) for _ in range(32))
        with self._lock:
            now = self.now()
            self._link_tokens[token] = {
                "link_token": token,
                "user_id": user_id,
                "bot_user_id": channel.bot_user_id,
                "issued_at": now,
                "expires_at": now + LINK_TOKEN_TTL_SECONDS,
                "used_at": None,
            }
        return _Response(200, {"linkToken": token})

    def _handle_verify_id_token(self, req: _Request, channel: None, request_id: str) -> _Response:
        """LINE Login's ID token verification: form-encoded, no bearer token, OAuth-style errors."""

        def invalid(description: str) -> _ApiError:
            return _ApiError(400, {"error": "invalid_request", "error_description": description})

        content_type = (req.header("content-type") or "").split(";")[0].strip().lower()
        form = (
            parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
            if content_type == "application/x-www-form-urlencoded"
            else {}
        )

        def param(name: str) -> str | None:
            values = form.get(name)
            return values[0] if values else None

        id_token, client_id = param("id_token"), param("client_id")
        if not id_token:
            raise invalid("id_token is required")
        if not client_id:
            raise invalid("client_id is required")
        with self._lock:
            claims = self._id_tokens.get(id_token)
            now = self.now()
        if claims is None:
            raise invalid("Invalid IdToken.")
        if claims["aud"] != client_id:
            raise invalid("Invalid IdToken Audience.")
        if now >= claims["exp"]:
            raise invalid("IdToken expired.")
        nonce, user_id = param("nonce"), param("user_id")
        if nonce is not None and claims.get("nonce") != nonce:
            raise invalid("Invalid IdToken Nonce.")
        if user_id is not None and claims["sub"] != user_id:
            raise invalid("Invalid IdToken Subject Identifier.")
        return _Response(200, copy.deepcopy(claims))

    def _handle_audience_create(self, req: _Request, channel: _Channel, request_id: str) -> _Response:
        body = self._json_body(req)
        description = body.get("description")
        if not isinstance(description, str) or not description.strip():
            raise _audience_error("description is required", "AUDIENCE_GROUP_NAME_WRONG", "description")
        if len(description) > MAX_AUDIENCE_DESCRIPTION:
            raise _audience_error("description is too long", "AUDIENCE_GROUP_NAME_SIZE_OVER", "description")
        is_ifa = bool(body.get("isIfaAudience", False))
        members = _audience_ids(body.get("audiences", []), is_ifa, required=False)
        with self._lock:
            owned = [g for g in self._audiences.values() if g["bot_user_id"] == channel.bot_user_id]
            if len(owned) >= MAX_AUDIENCE_GROUPS_PER_CHANNEL:
                raise _audience_error("too many audience groups", "AUDIENCE_GROUP_COUNT_MAX_OVER")
            now = int(self.now())
            self._next_audience_id += 1
            group_id = self._next_audience_id
            self._audiences[group_id] = {
                "audienceGroupId": group_id,
                "type": "UPLOAD",
                "description": description,
                "created": now,
                "expireTimestamp": now + AUDIENCE_LIFETIME_SECONDS,
                "permission": "READ_WRITE",
                "createRoute": "MESSAGING_API",
                "isIfaAudience": is_ifa,
                "uploadDescription": body.get("uploadDescription"),
                "bot_user_id": channel.bot_user_id,
                "members": members,
                "jobs": [],
            }
            response = {k: self._audiences[group_id][k] for k in _AUDIENCE_CREATE_FIELDS}
        return _Response(202, response)

    def _handle_audience_add(self, req: _Request, channel: _Channel, request_id: str) -> _Response:
        body = self._json_body(req)
        group_id = body.get("audienceGroupId")
        with self._lock:
            group = self._owned_audience(group_id, channel)
            if self._audience_status(group) == "EXPIRED":
                raise _audience_error("audience group expired", "AUDIENCE_GROUP_CAN_NOT_UPLOAD_STATUS_EXPIRED")
            added = _audience_ids(body.get("audiences"), group["isIfaAudience"], required=True)
            new = added - group["members"]
            group["members"] |= added
            self._next_job_id += 1
            group["jobs"].append(
                {
                    "audienceGroupJobId": self._next_job_id,
                    "audienceGroupId": group["audienceGroupId"],
                    "description": body.get("uploadDescription") or "",
                    "type": "DIFF_ADD",
                    "jobStatus": "FINISHED",
                    "audienceCount": len(new),
                    "created": int(self.now()),
                }
            )
        return _Response(202, {})

    def _handle_audience_get(self, req: _Request, channel: _Channel, request_id: str, group_id: str) -> _Response:
        with self._lock:
            group = self._owned_audience(_int_or_none(group_id), channel)
            info = {k: group[k] for k in _AUDIENCE_CREATE_FIELDS if k != "createRoute"}
            info.update(
                status=self._audience_status(group),
                audienceCount=len(group["members"]),
                createRoute=group["createRoute"],
            )
            return _Response(200, {"audienceGroup": info, "jobs": copy.deepcopy(group["jobs"])})

    def _handle_audience_delete(self, req: _Request, channel: _Channel, request_id: str, group_id: str) -> _Response:
        with self._lock:
            group = self._owned_audience(_int_or_none(group_id), channel)
            del self._audiences[group["audienceGroupId"]]
        return _Response(200, {})

    def _owned_audience(self, group_id: Any, channel: _Channel) -> dict[str, Any]:
        group = self._audiences.get(group_id) if isinstance(group_id, int) else None
        if group is None or group["bot_user_id"] != channel.bot_user_id:
            raise _audience_error("audience group not found", "AUDIENCE_GROUP_NOT_FOUND")
        return group

    def _audience_status(self, group: dict[str, Any]) -> str:
        return "EXPIRED" if self.now() >= group["expireTimestamp"] else "READY"

    # ------------------------------------------------------------------ internals: rich menus

    def _handle_rich_menu_create(self, req: _Request, channel: _Channel, request_id: str) -> _Response:
        body = self._json_body(req)
        errors = _validate_rich_menu(body)
        if errors:
            raise _bad_request(errors)
        with self._lock:
            if len(self._rich_menus) >= MAX_RICH_MENUS:
                raise _ApiError(400, {"message": f"The number of rich menus exceeds the limit ({MAX_RICH_MENUS})"})
            rich_menu_id = f"richmenu-{secrets.token_hex(16)}"
            fields = ("size", "selected", "name", "chatBarText", "areas")
            self._rich_menus[rich_menu_id] = {
                "object": {"richMenuId": rich_menu_id, **{k: copy.deepcopy(body[k]) for k in fields}},
                "image": None,
            }
        return _Response(200, {"richMenuId": rich_menu_id})

    def _handle_rich_menu_validate(self, req: _Request, channel: _Channel, request_id: str) -> _Response:
        errors = _validate_rich_menu(self._json_body(req))
        if errors:
            raise _bad_request(errors)
        return _Response(200, {})

    def _handle_rich_menu_list(self, req: _Request, channel: _Channel, request_id: str) -> _Response:
        with self._lock:
            return _Response(200, {"richmenus": [copy.deepcopy(m["object"]) for m in self._rich_menus.values()]})

    def _handle_rich_menu_get(self, req: _Request, channel: _Channel, request_id: str, rich_menu_id: str) -> _Response:
        with self._lock:
            menu = self._rich_menus.get(rich_menu_id)
            if menu is None:
                raise _ApiError(404, {"message": "Not found"})
            return _Response(200, copy.deepcopy(menu["object"]))

    def _handle_rich_menu_delete(
        self, req: _Request, channel: _Channel, request_id: str, rich_menu_id: str
    ) -> _Response:
        with self._lock:
            if self._rich_menus.pop(rich_menu_id, None) is None:
                raise _ApiError(404, {"message": "Not found"})
            # Users linked to a deleted rich menu fall back to the default, as on LINE.
            self._user_rich_menus = {u: m for u, m in self._user_rich_menus.items() if m != rich_menu_id}
            if self._default_rich_menu == rich_menu_id:
                self._default_rich_menu = None
        return _Response(200, {})

    def _handle_rich_menu_image(
        self, req: _Request, channel: _Channel, request_id: str, rich_menu_id: str
    ) -> _Response:
        """The ``api-data.line.me`` upload: JPEG or PNG, at most 1 MB, once per rich menu."""
        content_type = (req.header("content-type") or "").split(";")[0].strip().lower()
        if content_type not in RICH_MENU_IMAGE_TYPES:
            raise _ApiError(415, {"message": "Unsupported Media Type: use image/jpeg or image/png"})
        if not req.body:
            raise _ApiError(400, {"message": "The image is empty"})
        if len(req.body) > MAX_RICH_MENU_IMAGE_BYTES:
            raise _ApiError(413, {"message": "Request Entity Too Large"})
        with self._lock:
            menu = self._rich_menus.get(rich_menu_id)
            if menu is None:
                raise _ApiError(404, {"message": "Not found"})
            if menu["image"] is not None:
                raise _ApiError(400, {"message": "An image has already been uploaded to the richmenu"})
            menu["image"] = (content_type, bytes(req.body))
        return _Response(200, {})

    def _handle_rich_menu_image_get(
        self, req: _Request, channel: _Channel, request_id: str, rich_menu_id: str
    ) -> _Response:
        with self._lock:
            menu = self._rich_menus.get(rich_menu_id)
            if menu is None or menu["image"] is None:
                raise _ApiError(404, {"message": "Not found"})
            content_type, data = menu["image"]
        return _Response(200, data, {"Content-Type": content_type})

    def _applicable_rich_menu(self, rich_menu_id: str) -> None:
        """LINE links or defaults only an existing rich menu whose image is uploaded."""
        menu = self._rich_menus.get(rich_menu_id)
        if menu is None:
            raise _ApiError(404, {"message": "richmenu not found"})
        if menu["image"] is None:
            raise _ApiError(400, {"message": "An image has not been uploaded to the richmenu"})

    def _handle_rich_menu_link(
        self, req: _Request, channel: _Channel, request_id: str, user_id: str, rich_menu_id: str
    ) -> _Response:
        if not USER_ID_RE.match(user_id):
            raise _ApiError(400, {"message": "The value for the 'userId' parameter is invalid"})
        with self._lock:
            self._applicable_rich_menu(rich_menu_id)
            self._user_rich_menus[user_id] = rich_menu_id
        return _Response(200, {})

    def _handle_rich_menu_unlink(self, req: _Request, channel: _Channel, request_id: str, user_id: str) -> _Response:
        if not USER_ID_RE.match(user_id):
            raise _ApiError(400, {"message": "The value for the 'userId' parameter is invalid"})
        with self._lock:
            self._user_rich_menus.pop(user_id, None)
        return _Response(200, {})

    def _handle_rich_menu_of_user(self, req: _Request, channel: _Channel, request_id: str, user_id: str) -> _Response:
        """Only a menu linked to the user; the default is not reported here (as on LINE)."""
        with self._lock:
            linked = self._user_rich_menus.get(user_id)
        if linked is None:
            raise _ApiError(404, {"message": "the user has no richmenu"})
        return _Response(200, {"richMenuId": linked})

    def _handle_rich_menu_bulk_link(self, req: _Request, channel: _Channel, request_id: str) -> _Response:
        body = self._json_body(req)
        errors = _bulk_user_errors(body.get("userIds"))
        rich_menu_id = body.get("richMenuId")
        if not isinstance(rich_menu_id, str) or not rich_menu_id:
            errors.append(("May not be empty", "richMenuId"))
        if errors or not isinstance(rich_menu_id, str):
            raise _bad_request(errors)
        with self._lock:
            self._applicable_rich_menu(rich_menu_id)
            for user_id in body["userIds"]:
                self._user_rich_menus[user_id] = rich_menu_id
        return _Response(202, {})

    def _handle_rich_menu_bulk_unlink(self, req: _Request, channel: _Channel, request_id: str) -> _Response:
        body = self._json_body(req)
        errors = _bulk_user_errors(body.get("userIds"))
        if errors:
            raise _bad_request(errors)
        with self._lock:
            for user_id in body["userIds"]:
                self._user_rich_menus.pop(user_id, None)
        return _Response(202, {})

    def _handle_default_rich_menu_set(
        self, req: _Request, channel: _Channel, request_id: str, rich_menu_id: str
    ) -> _Response:
        with self._lock:
            self._applicable_rich_menu(rich_menu_id)
            self._default_rich_menu = rich_menu_id
        return _Response(200, {})

    def _handle_default_rich_menu_get(self, req: _Request, channel: _Channel, request_id: str) -> _Response:
        with self._lock:
            default = self._default_rich_menu
        if default is None:
            raise _ApiError(404, {"message": "no default richmenu"})
        return _Response(200, {"richMenuId": default})

    def _handle_default_rich_menu_cancel(self, req: _Request, channel: _Channel, request_id: str) -> _Response:
        with self._lock:
            self._default_rich_menu = None
        return _Response(200, {})

    # ------------------------------------------------------------------ internals: control API

    def _handle_control(self, req: _Request) -> _Response:
        """``/__fake__/*``: inspection and seeding over HTTP, for the demo running the fake out of process."""
        path, method = req.path, req.method
        body = self._json_body(req) if req.body else {}
        if (method, path) == ("GET", "/__fake__/sent"):
            endpoint = (req.query.get("endpoint") or [None])[0]
            to = (req.query.get("to") or [None])[0]
            return _Response(200, {"sent": self.sent(endpoint, to)})
        if (method, path) == ("GET", "/__fake__/calls"):
            return _Response(200, {"calls": self.calls()})
        if (method, path) == ("GET", "/__fake__/link-tokens"):
            return _Response(200, {"linkTokens": self.link_tokens()})
        if (method, path) == ("POST", "/__fake__/reset"):
            self.reset(full=bool(body.get("full")) or (req.query.get("full") or [""])[0] in ("1", "true"))
            return _Response(200, {})
        if (method, path) == ("POST", "/__fake__/channels"):
            self.register_channel(body["accessToken"], body["botUserId"], monthly_quota=body.get("monthlyQuota"))
            return _Response(200, {})
        if (method, path) == ("POST", "/__fake__/users"):
            try:
                self.add_user(
                    body["userId"],
                    body["displayName"],
                    body.get("pictureUrl"),
                    body.get("language", "zh-TW"),
                    status_message=body.get("statusMessage"),
                )
            except ValueError as err:
                raise _ApiError(400, {"message": str(err)}) from err
            return _Response(200, {})
        if (method, path) == ("POST", "/__fake__/blocks"):
            self.block_user(body["userId"])
            return _Response(200, {})
        if (method, path) == ("POST", "/__fake__/unblocks"):
            self.unblock_user(body["userId"])
            return _Response(200, {})
        if (method, path) == ("POST", "/__fake__/quota"):
            limit = body.get("limit")
            if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
                raise _ApiError(400, {"message": "limit must be a whole number >= 0, or null for no limit"})
            self.set_quota(limit, body.get("botUserId"))
            return _Response(200, {"limit": limit, "totalUsage": self.consumption(body.get("botUserId"))})
        if (method, path) == ("POST", "/__fake__/rate-limit"):
            per_second = body.get("perSecond")
            if per_second is not None and (not isinstance(per_second, int) or per_second < 0):
                raise _ApiError(400, {"message": "perSecond must be a whole number >= 0, or null for no limit"})
            self.set_rate_limit(str(body["operation"]), per_second)
            return _Response(200, {})
        if (method, path) == ("GET", "/__fake__/rich-menus"):
            user = (req.query.get("user") or [""])[0]
            if user:
                return _Response(200, {"userId": user, "richMenuId": self.rich_menu_of(user)})
            return _Response(200, self.rich_menus())
        if (method, path) == ("POST", "/__fake__/fail-next"):
            self.fail_next(body.get("n", 1), body.get("status", 429), after_accept=bool(body.get("afterAccept")))
            return _Response(200, {})
        if (method, path) == ("POST", "/__fake__/slow-next"):
            seconds = body.get("seconds", 5)
            if not isinstance(seconds, int | float) or not 0 < seconds <= 60:
                raise _ApiError(400, {"message": "seconds must be a number in (0, 60]"})
            self.slow_next(int(body.get("n", 1)), float(seconds))
            return _Response(200, {})
        if (method, path) == ("POST", "/__fake__/reply-tokens"):
            return _Response(200, {"replyToken": self.issue_reply_token(body.get("userId"), body.get("botUserId"))})
        if (method, path) == ("POST", "/__fake__/id-tokens"):
            token = self.issue_id_token(
                body["userId"],
                body["channelId"],
                name=body.get("name"),
                picture=body.get("picture"),
                email=body.get("email"),
                nonce=body.get("nonce"),
            )
            return _Response(200, {"idToken": token})
        if (method, path) == ("POST", "/__fake__/account-link"):
            return _Response(200, self.account_link_event(body["linkToken"], body["nonce"]))
        raise _ApiError(404, {"message": "Not found"})

    def control(self, method: str, name: str, query: dict[str, str], body: bytes) -> tuple[int, Any]:
        """One ``/__fake__/<name>`` control request made in process (the local stack's
        ``/_local/line/<name>`` routes): its status and JSON answer."""
        request = _Request(method, f"/__fake__/{name}", {k: [v] for k, v in query.items()}, {}, body)
        response = self._handle(request)
        return response.status, response.body


# The control routes (``/__fake__/<name>``), also served by the local stack as ``/_local/line/<name>``.
CONTROL_ROUTES = (
    ("GET", "sent"),
    ("GET", "calls"),
    ("GET", "link-tokens"),
    ("GET", "rich-menus"),
    ("POST", "reset"),
    ("POST", "channels"),
    ("POST", "users"),
    ("POST", "blocks"),
    ("POST", "unblocks"),
    ("POST", "quota"),
    ("POST", "rate-limit"),
    ("POST", "fail-next"),
    ("POST", "slow-next"),
    ("POST", "reply-tokens"),
    ("POST", "id-tokens"),
    ("POST", "account-link"),
)

_AUDIENCE_CREATE_FIELDS = (
    "audienceGroupId",
    "createRoute",
    "type",
    "description",
    "created",
    "permission",
    "expireTimestamp",
    "isIfaAudience",
)


def _is_uuid(value: str) -> bool:
    """LINE wants the canonical hyphenated hex form (e.g. ``123e4567-e89b-12d3-a456-426614174000``)."""
    return bool(IFA_RE.match(value))


def _int_or_none(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def _audience_ids(value: Any, is_ifa: bool, *, required: bool) -> set[str]:
    """Validate ``audiences: [{"id": ...}]`` (≤ 10,000 per request) and answer the IDs."""
    if value is None:
        value = []
    if not isinstance(value, list):
        raise _audience_error(
            "audiences must be an array", "UPLOAD_AUDIENCE_GROUP_INVALID_AUDIENCE_ID_FORMAT", "audiences"
        )
    if len(value) > MAX_AUDIENCE_IDS_PER_REQUEST:
        raise _audience_error(
            f"audiences must contain at most {MAX_AUDIENCE_IDS_PER_REQUEST} items",
            "UPLOAD_AUDIENCE_GROUP_TOO_MANY_AUDIENCE_IDS",
            "audiences",
        )
    if required and not value:
        raise _audience_error("no valid audience IDs", "UPLOAD_AUDIENCE_GROUP_NO_VALID_AUDIENCE_IDS", "audiences")
    pattern = IFA_RE if is_ifa else USER_ID_RE
    ids: set[str] = set()
    for i, item in enumerate(value):
        audience_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(audience_id, str) or not pattern.match(audience_id):
            raise _audience_error(
                "invalid audience ID", "UPLOAD_AUDIENCE_GROUP_INVALID_AUDIENCE_ID_FORMAT", f"audiences[{i}].id"
            )
        ids.add(audience_id)
    return ids


def _validate_messages(messages: Any) -> list[tuple[str, str]]:
    """LINE's checks on ``messages``: 1–5 objects, each with a known ``type`` and its required fields."""
    if messages is None:
        return [("May not be empty", "messages")]
    if not isinstance(messages, list):
        return [("Must be an array", "messages")]
    if not 1 <= len(messages) <= MAX_MESSAGES:
        return [(f"Size must be between 1 and {MAX_MESSAGES}", "messages")]
    errors: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        prefix = f"messages[{i}]"
        if not isinstance(message, dict):
            errors.append(("Must be an object", prefix))
            continue
        kind = message.get("type")
        if kind is None or kind == "":
            errors.append(("May not be empty", f"{prefix}.type"))
            continue
        if kind not in REQUIRED_MESSAGE_FIELDS:
            allowed = ", ".join(REQUIRED_MESSAGE_FIELDS)
            errors.append((f"Must be one of the following values: [{allowed}]", f"{prefix}.type"))
            continue
        for name in REQUIRED_MESSAGE_FIELDS[kind]:
            if message.get(name) is None or message.get(name) == "":
                errors.append(("May not be empty", f"{prefix}.{name}"))
        text = message.get("text")
        if kind in ("text", "textV2") and text not in (None, ""):
            if not isinstance(text, str):
                errors.append(("Must be a string", f"{prefix}.text"))
            elif _utf16_len(text) > MAX_TEXT_LENGTH:
                errors.append((f"Length must be between 0 and {MAX_TEXT_LENGTH}", f"{prefix}.text"))
        alt_text = message.get("altText")
        if kind in ALT_TEXT_LIMITS and isinstance(alt_text, str) and len(alt_text) > ALT_TEXT_LIMITS[kind]:
            errors.append((f"Length must be between 0 and {ALT_TEXT_LIMITS[kind]}", f"{prefix}.altText"))
        quick_reply = message.get("quickReply")
        if quick_reply is not None:
            items = quick_reply.get("items") if isinstance(quick_reply, dict) else None
            if not isinstance(items, list) or not 1 <= len(items) <= MAX_QUICK_REPLY_ITEMS:
                errors.append((f"Size must be between 1 and {MAX_QUICK_REPLY_ITEMS}", f"{prefix}.quickReply.items"))
            else:
                for j, item in enumerate(items):
                    action = item.get("action") if isinstance(item, dict) else None
                    if not isinstance(action, dict) or not isinstance(action.get("type"), str):
                        errors.append(("May not be empty", f"{prefix}.quickReply.items[{j}].action"))
        for name in URL_FIELDS:
            url = message.get(name)
            if url not in (None, "") and not (isinstance(url, str) and url.startswith("https://") and len(url) <= 2000):
                errors.append(("Must be an HTTPS URL of at most 2000 characters", f"{prefix}.{name}"))
    return errors


def _validate_rich_menu(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The rich menu object's documented limits: size 800-2500 x >= 250 (ratio >= 1.45), 1-20 areas
    inside it, each with an action, name <= 300, chatBarText <= 14."""
    errors: list[tuple[str, str]] = []
    size = body.get("size")
    width = size.get("width") if isinstance(size, dict) else None
    height = size.get("height") if isinstance(size, dict) else None
    if not isinstance(width, int) or isinstance(width, bool) or not 800 <= width <= 2500:
        errors.append(("Must be between 800 and 2500", "size.width"))
    if not isinstance(height, int) or isinstance(height, bool) or height < 250:
        errors.append(("Must be at least 250", "size.height"))
    elif isinstance(width, int) and width / height < 1.45:
        errors.append(("The aspect ratio (width / height) must be at least 1.45", "size"))
    if not isinstance(body.get("selected"), bool):
        errors.append(("Must be a boolean", "selected"))
    for name, limit in (("name", 300), ("chatBarText", 14)):
        value = body.get(name)
        if not isinstance(value, str) or not value:
            errors.append(("May not be empty", name))
        elif len(value) > limit:
            errors.append((f"Length must be between 1 and {limit}", name))
    areas = body.get("areas")
    if not isinstance(areas, list) or not 1 <= len(areas) <= MAX_RICH_MENU_AREAS:
        errors.append((f"Size must be between 1 and {MAX_RICH_MENU_AREAS}", "areas"))
        return errors
    for i, area in enumerate(areas):
        bounds = area.get("bounds") if isinstance(area, dict) else None
        if not isinstance(bounds, dict) or not all(
            isinstance(bounds.get(k), int) and bounds[k] >= 0 for k in ("x", "y", "width", "height")
        ):
            errors.append(("May not be empty", f"areas[{i}].bounds"))
        elif (
            isinstance(width, int)
            and isinstance(height, int)
            and (bounds["x"] + bounds["width"] > width or bounds["y"] + bounds["height"] > height)
        ):
            errors.append(("The area must be inside the rich menu", f"areas[{i}].bounds"))
        action = area.get("action") if isinstance(area, dict) else None
        if not isinstance(action, dict) or not isinstance(action.get("type"), str):
            errors.append(("May not be empty", f"areas[{i}].action"))
    return errors


def _bulk_user_errors(user_ids: Any) -> list[tuple[str, str]]:
    if not isinstance(user_ids, list) or not 1 <= len(user_ids) <= MAX_BULK_RICH_MENU_USERS:
        return [(f"Size must be between 1 and {MAX_BULK_RICH_MENU_USERS}", "userIds")]
    return [
        ("Invalid user ID", f"userIds[{i}]")
        for i, uid in enumerate(user_ids)
        if not (isinstance(uid, str) and USER_ID_RE.match(uid))
    ]


def _validate_recipient(node: Any, prop: str, depth: int = 0) -> list[tuple[str, str]]:
    """Narrowcast recipient objects: audience / redelivery leaves combined by and/or/not operators."""
    if not isinstance(node, dict):
        return [("Must be an object", prop)]
    if depth > 10:
        return [("Too deeply nested", prop)]
    kind = node.get("type")
    if kind == "audience":
        group_id = node.get("audienceGroupId")
        ok = isinstance(group_id, int) and not isinstance(group_id, bool)
        return [] if ok else [("May not be empty", f"{prop}.audienceGroupId")]
    if kind == "redelivery":
        return [] if isinstance(node.get("requestId"), str) else [("May not be empty", f"{prop}.requestId")]
    if kind != "operator":
        return [("Must be one of the following values: [operator, audience, redelivery]", f"{prop}.type")]
    operators = [op for op in ("and", "or", "not") if op in node]
    if len(operators) != 1:
        return [("Exactly one of and, or, not must be specified", prop)]
    operator = operators[0]
    if operator == "not":
        return _validate_recipient(node["not"], f"{prop}.not", depth + 1)
    children = node[operator]
    if not isinstance(children, list) or not children:
        return [("May not be empty", f"{prop}.{operator}")]
    errors: list[tuple[str, str]] = []
    for i, child in enumerate(children):
        errors.extend(_validate_recipient(child, f"{prop}.{operator}[{i}]", depth + 1))
    return errors


class _Server(ThreadingHTTPServer):
    """A deeper listen backlog than the default 5: bursts of concurrent sends would otherwise wait
    a second for SYN retransmits, which makes backoff and concurrency tests slow and flaky."""

    daemon_threads = True
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    """Thin HTTP adapter: read the request, let the fake answer, write JSON back."""

    fake: LineApiFake
    protocol_version = "HTTP/1.1"
    server_version = "LineApiFake/1.0"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        req = _Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        response = self.fake._handle(req)
        headers = dict(response.headers)
        if isinstance(response.body, bytes):  # rich menu images
            payload = response.body
        else:
            payload = b"" if response.body is None else json.dumps(response.body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        self.send_response(response.status)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging; ``LineApiFake.calls()`` is the record."""


def _parse_channels(values: Iterable[str]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        token, sep, bot_user_id = value.partition(":")
        if not sep:
            raise argparse.ArgumentTypeError(f"--channel wants TOKEN:BOT_USER_ID, got {value!r}")
        pairs.append((token, bot_user_id))
    return pairs


def main(argv: list[str] | None = None) -> None:
    """Run the fake standalone for the demo: ``python -m infra.local.line_fake --channel TOKEN:Ubot...``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--channel", action="append", default=[], help="TOKEN:BOT_USER_ID (repeatable)")
    parser.add_argument("--monthly-quota", type=int, default=None)
    args = parser.parse_args(argv)
    fake = LineApiFake(args.host, args.port, monthly_quota=args.monthly_quota)
    for token, bot_user_id in _parse_channels(args.channel):
        fake.register_channel(token, bot_user_id)
    fake.start()
    print(f"LINE API fake listening on {fake.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
