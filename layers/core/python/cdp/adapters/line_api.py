"""A small LINE Platform HTTP client (stdlib urllib, no SDK): link tokens, LINE Login ID token checks,
audiences, sending messages (push, multicast, reply) for the send point, and per-user rich menus.

Each LINE answer is mapped onto a domain error with a machine-readable code, so the admin API can
tell a caller's mistake (unknown LINE user, bad ID token: 4xx) from LINE or our own channel
configuration failing (502/503). The transport is a parameter: unit tests pass a fake one.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdp.errors import BadRequest, CdpError, NotFound
from cdp.messaging.ports import ProviderResult, ProviderUnavailable

DEFAULT_BASE_URL = "https://api.line.me"
DEFAULT_TIMEOUT_SECONDS = 5.0  # well inside the admin function's timeout, leaving room for DynamoDB
MAX_ERROR_TEXT = 300
MAX_MULTICAST_RECIPIENTS = 500


class LineApiError(CdpError):
    """LINE refused or failed in a way that is not the caller's fault (our token, LINE itself)."""

    status = 502
    code = "line_api_error"


class LineRateLimited(LineApiError):
    status = 503
    code = "line_rate_limited"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout: float


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


Transport = Callable[[HttpRequest], HttpResponse]


def urllib_transport(request: HttpRequest) -> HttpResponse:
    """Send with urllib; HTTP error statuses are answers, not exceptions. Network failures raise OSError."""
    prepared = urllib.request.Request(  # noqa: S310 - the URL's scheme is checked by LineApiClient
        request.url, data=request.body, headers=dict(request.headers), method=request.method
    )
    try:
        with urllib.request.urlopen(prepared, timeout=request.timeout) as response:  # noqa: S310
            return HttpResponse(response.status, response.read(), dict(response.headers.items()))
    except urllib.error.HTTPError as error:
        with error:
            return HttpResponse(error.code, error.read(), dict(error.headers.items()) if error.headers else {})


class LineApiClient:
    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        transport: Transport = urllib_transport,
    ) -> None:
        scheme = urllib.parse.urlsplit(base_url).scheme
        if scheme not in ("https", "http"):  # http only ever means the local fake
            raise ValueError(f"LINE API base URL must be http(s), got {base_url!r}")
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout_seconds
        self._transport = transport

    def issue_link_token(self, *, access_token: str, user_id: str) -> str:
        """POST /v2/bot/user/{userId}/linkToken: a single-use token valid for 10 minutes."""
        path = f"/v2/bot/user/{urllib.parse.quote(user_id, safe='')}/linkToken"
        response = self._send("POST", path, headers={"Authorization": f"Bearer {access_token}"}, body=b"")
        if response.status in (400, 404):
            raise NotFound(
                f"LINE could not issue a link token for {user_id}: {_line_message(response)}",
                code="line_user_not_found",
                details={"lineStatus": response.status},
            )
        document = self._success(response, "issuing a link token")
        token = document.get("linkToken")
        if not isinstance(token, str) or not token:
            raise LineApiError("LINE answered the link token request without a linkToken", code="line_bad_response")
        return token

    def verify_id_token(self, *, id_token: str, client_id: str) -> dict[str, Any]:
        """POST /oauth2/v2.1/verify: LINE checks signature, audience and expiry, and answers the claims."""
        form = urllib.parse.urlencode({"id_token": id_token, "client_id": client_id}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        response = self._send("POST", "/oauth2/v2.1/verify", headers=headers, body=form)
        if response.status == 400:
            raise BadRequest(f"LINE rejected the ID token: {_line_message(response)}", code="invalid_id_token")
        return self._success(response, "verifying an ID token")

    def message_quota(self, *, access_token: str) -> tuple[int | None, int]:
        """GET /v2/bot/message/quota and /quota/consumption: this month's limit (None when LINE
        sets none) and the messages counted so far."""
        headers = {"Authorization": f"Bearer {access_token}"}
        quota = self._success(
            self._send("GET", "/v2/bot/message/quota", headers=headers, body=b""), "reading the quota"
        )
        used = self._success(
            self._send("GET", "/v2/bot/message/quota/consumption", headers=headers, body=b""), "reading the consumption"
        )
        limit = quota.get("value") if quota.get("type") == "limited" else None
        usage = used.get("totalUsage", 0)
        return (int(limit) if isinstance(limit, int) else None), (int(usage) if isinstance(usage, int) else 0)

    # internals ---------------------------------------------------------------------------------
    def _send(self, method: str, path: str, *, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        request = HttpRequest(
            method, f"{self._base_url}{path}", {"Accept": "application/json", **headers}, body, self._timeout
        )
        try:
            return self._transport(request)
        except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, refused or cut connections
            raise LineApiError(f"LINE did not answer: {type(exc).__name__}", code="line_unavailable") from exc

    @staticmethod
    def _success(response: HttpResponse, what: str) -> dict[str, Any]:
        if response.status in (401, 403):
            # Our channel access token or channel id is wrong: an operator problem, not the caller's.
            raise LineApiError(
                f"LINE refused our credentials while {what}: {_line_message(response)}", code="line_auth_failed"
            )
        if response.status == 429:
            raise LineRateLimited(
                f"LINE rate-limited us while {what}; retry later",
                details={"retryAfter": _header(response, "retry-after")},
            )
        if response.status >= 500:
            raise LineApiError(f"LINE failed while {what} ({response.status})", code="line_unavailable")
        if not 200 <= response.status < 300:
            raise LineApiError(
                f"LINE answered {response.status} while {what}: {_line_message(response)}",
                details={"lineStatus": response.status},
            )
        try:
            document = json.loads(response.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise LineApiError(f"LINE answered non-JSON while {what}", code="line_bad_response") from exc
        if not isinstance(document, dict):
            raise LineApiError(f"LINE answered an unexpected document while {what}", code="line_bad_response")
        return document


def _line_message(response: HttpResponse) -> str:
    """LINE's own words: `message` (Messaging API) or `error_description` (LINE Login)."""
    try:
        document = json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return response.body[:MAX_ERROR_TEXT].decode("utf-8", "replace") or f"HTTP {response.status}"
    if isinstance(document, dict):
        for key in ("error_description", "message", "error"):
            if isinstance(document.get(key), str) and document[key]:
                return str(document[key])[:MAX_ERROR_TEXT]
    return f"HTTP {response.status}"


def _header(response: HttpResponse, name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in response.headers.items() if key.lower() == wanted), None)


MAX_AUDIENCE_IDS_PER_REQUEST = 10_000  # manage-audience.yml: `audiences` maxItems 10000 (create and add)
MAX_AUDIENCE_DESCRIPTION = 120


class LineAudienceApi:
    """Messaging API audience groups by user id (JSON uploads), over a LineApiClient's transport and mapping."""

    def __init__(self, client: LineApiClient) -> None:
        self._client = client

    def create_audience(self, *, access_token: str, description: str, user_ids: list[str]) -> int:
        """POST /v2/bot/audienceGroup/upload: a new group with up to 10,000 user ids."""
        _check_chunk(user_ids)
        body = {"description": description[:MAX_AUDIENCE_DESCRIPTION], "audiences": [{"id": u} for u in user_ids]}
        document = self._post("POST", access_token, body, "creating an audience group")
        group_id = document.get("audienceGroupId")
        if not isinstance(group_id, int) or isinstance(group_id, bool):
            raise LineApiError("LINE answered without an audienceGroupId", code="line_bad_response")
        return group_id

    def add_to_audience(self, *, access_token: str, audience_group_id: int, user_ids: list[str]) -> None:
        """PUT /v2/bot/audienceGroup/upload: add up to 10,000 user ids to an existing group."""
        _check_chunk(user_ids)
        body = {"audienceGroupId": audience_group_id, "audiences": [{"id": u} for u in user_ids]}
        self._post("PUT", access_token, body, "adding to an audience group")

    def _post(self, method: str, access_token: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"}
        payload = json.dumps(body, separators=(",", ":")).encode()
        response = self._client._send(method, "/v2/bot/audienceGroup/upload", headers=headers, body=payload)
        if response.status == 202 and not response.body.strip():
            return {}
        return LineApiClient._success(response, what)


def _check_chunk(user_ids: list[str]) -> None:
    if not 0 < len(user_ids) <= MAX_AUDIENCE_IDS_PER_REQUEST:
        raise ValueError(f"an audience upload carries 1 to {MAX_AUDIENCE_IDS_PER_REQUEST} ids, got {len(user_ids)}")


# --- sending messages ---------------------------------------------------------------------------

MAX_SEND_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 0.2
BACKOFF_CAP_SECONDS = 5.0
MONTHLY_LIMIT_TEXT = "monthly limit"  # LINE's 429 "You have reached your monthly limit."
INVALID_REPLY_TOKEN_TEXT = "invalid reply token"  # noqa: S105 (LINE's words, not a secret)
# LINE's per-channel limits (Messaging API rate limits), shared by every sender of the channel.
PUSH_REQUESTS_PER_SECOND = 2_000
MULTICAST_REQUESTS_PER_SECOND = 200
REPLY_REQUESTS_PER_SECOND = 2_000


class TokenBucket:
    """At most `rate` acquisitions per second, bursts up to one second's worth, by sleeping.

    The sender function runs with reserved concurrency N and gives each container a bucket of
    LINE's per-channel limit divided by N, so all containers together stay under the limit
    without a shared counter. A 429 that gets through anyway is retried with backoff."""

    def __init__(
        self,
        rate: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._monotonic = monotonic
        self._sleep = sleep
        self._at = monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return
            wait = (1 - self._tokens) / self.rate
            self._tokens = 0.0
            self._at = now + wait
        self._sleep(wait)


def per_sender_buckets(concurrency: int, **clock: Any) -> dict[str, TokenBucket]:
    """Each of `concurrency` concurrent senders gets its share of LINE's per-channel limits."""
    share = max(1, concurrency)
    return {
        "push": TokenBucket(PUSH_REQUESTS_PER_SECOND / share, **clock),
        "multicast": TokenBucket(MULTICAST_REQUESTS_PER_SECOND / share, **clock),
        "reply": TokenBucket(REPLY_REQUESTS_PER_SECOND / share, **clock),
    }


@dataclass(frozen=True, slots=True)
class MonthlyQuota:
    limit: int | None  # messages a month; None: no limit
    used: int

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)


class LineMessagingApi:
    """Push, multicast and reply (cdp.messaging.ports.LineMessenger) over a LineApiClient.

    Push and multicast carry the caller's X-Line-Retry-Key on every attempt: a 5xx, a timeout or
    a rate-limit 429 is retried with backoff and full jitter under the same key, and LINE's 409
    with `x-line-accepted-request-id` means an earlier attempt was accepted: sent. A 429 naming
    the monthly limit is `quota_exhausted` (not retried); any other 4xx fails with LINE's message.
    A reply has no retry key (its token is single use): it is not retried after a 5xx.
    """

    def __init__(
        self,
        client: LineApiClient,
        *,
        buckets: Mapping[str, TokenBucket] | None = None,
        attempts: int = MAX_SEND_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._client = client
        self._buckets = dict(buckets or per_sender_buckets(1))
        self._attempts = attempts
        self._sleep = sleep
        self._jitter = jitter

    def push(self, *, access_token: str, to: str, messages: list[dict[str, Any]], retry_key: str) -> ProviderResult:
        return self._send("push", access_token, {"to": to, "messages": messages}, retry_key)

    def multicast(
        self, *, access_token: str, to: Sequence[str], messages: list[dict[str, Any]], retry_key: str
    ) -> ProviderResult:
        if not 0 < len(to) <= MAX_MULTICAST_RECIPIENTS:
            raise ValueError(f"a multicast has 1 to {MAX_MULTICAST_RECIPIENTS} recipients, got {len(to)}")
        return self._send("multicast", access_token, {"to": list(to), "messages": messages}, retry_key)

    def reply(self, *, access_token: str, reply_token: str, messages: list[dict[str, Any]]) -> ProviderResult:
        return self._send("reply", access_token, {"replyToken": reply_token, "messages": messages}, None)

    def monthly_quota(self, *, access_token: str) -> MonthlyQuota:
        """GET /v2/bot/message/quota and /quota/consumption: this month's target limit (None when
        the plan has none) and the messages counted so far (what a campaign's preflight weighs)."""
        headers = {"Authorization": f"Bearer {access_token}"}
        limit = LineApiClient._success(
            self._client._send("GET", "/v2/bot/message/quota", headers=headers, body=b""), "reading the quota"
        )
        used = LineApiClient._success(
            self._client._send("GET", "/v2/bot/message/quota/consumption", headers=headers, body=b""),
            "reading the quota consumption",
        )
        value, total = limit.get("value"), used.get("totalUsage")
        if not isinstance(total, int) or (limit.get("type") == "limited" and not isinstance(value, int)):
            raise LineApiError("LINE answered the quota without its numbers", code="line_bad_response")
        return MonthlyQuota(limit=value if limit.get("type") == "limited" else None, used=total)

    def _send(self, endpoint: str, access_token: str, body: dict[str, Any], retry_key: str | None) -> ProviderResult:
        headers = {"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"}
        if retry_key is not None:
            headers["X-Line-Retry-Key"] = retry_key
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        last = ""
        for attempt in range(self._attempts):
            if attempt:
                self._backoff(attempt, last)
            self._buckets[endpoint].acquire()
            try:
                response = self._client._send("POST", f"/v2/bot/message/{endpoint}", headers=headers, body=payload)
            except LineApiError as exc:  # no answer: timeout, refused or cut connection
                if retry_key is None:
                    raise ProviderUnavailable(f"LINE {endpoint} got no answer: {exc.message}") from exc
                last = exc.message
                continue
            status = response.status
            if 200 <= status < 300:
                return ProviderResult("sent", provider_id=_header(response, "x-line-request-id"))
            if status == 409 and retry_key is not None:
                accepted = _header(response, "x-line-accepted-request-id")
                return ProviderResult("sent", provider_id=accepted, duplicate=True)
            message = _line_message(response)
            if status == 429 and MONTHLY_LIMIT_TEXT in message.lower():
                return ProviderResult("quota_exhausted", reason="quota_exhausted", message=message)
            if status == 429 or status >= 500:
                if retry_key is None:  # a reply: retrying could deliver twice
                    raise ProviderUnavailable(f"LINE {endpoint} answered {status}: {message}")
                last = _header(response, "retry-after") or ""
                continue
            if endpoint == "reply" and status == 400 and INVALID_REPLY_TOKEN_TEXT in message.lower():
                return ProviderResult("invalid_reply_token", reason="reply_token_invalid", message=message)
            reason = "line_auth_failed" if status in (401, 403) else "line_rejected"
            return ProviderResult("failed", reason=reason, message=f"{status}: {message}")
        raise ProviderUnavailable(f"LINE {endpoint} did not accept after {self._attempts} attempts")

    def _backoff(self, attempt: int, retry_after: str) -> None:
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
        delay = self._jitter(0, ceiling)  # full jitter: concurrent senders do not retry in step
        if retry_after.isdigit():
            delay = max(delay, min(float(retry_after), BACKOFF_CAP_SECONDS))
        self._sleep(delay)


# --- rich menus -----------------------------------------------------------------------------------

MAX_RICH_MENU_BULK_USERS = 500  # LINE's limit per bulk link / unlink request
# Bulk link and unlink fall under LINE's "other endpoints" limit (2,000 requests a second per
# channel); each container keeps far below it, and a 429 that gets through is retried.
RICH_MENU_REQUESTS_PER_SECOND = 100
MAX_RICH_MENU_ATTEMPTS = 5


class LineRichMenuApi:
    """Per-user rich menus (cdp.segments.rich_menus.RichMenuLinks): bulk link and unlink of up to
    500 users, and whether a rich menu exists. Not messages, so not through the send point.

    Linking and unlinking are idempotent (the same state whatever the number of calls), so a
    timeout, a 5xx or a 429 is simply retried with backoff and full jitter."""

    def __init__(
        self,
        client: LineApiClient,
        *,
        bucket: TokenBucket | None = None,
        attempts: int = MAX_RICH_MENU_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._client = client
        self._bucket = bucket or TokenBucket(RICH_MENU_REQUESTS_PER_SECOND)
        self._attempts = attempts
        self._sleep = sleep
        self._jitter = jitter

    def exists(self, *, access_token: str, rich_menu_id: str) -> bool:
        """GET /v2/bot/richmenu/{richMenuId}: the menu was created on this channel."""
        path = f"/v2/bot/richmenu/{urllib.parse.quote(rich_menu_id, safe='')}"
        response = self._call("GET", path, access_token, None, "reading a rich menu")
        if response.status in (400, 404):
            return False
        LineApiClient._success(response, "reading a rich menu")
        return True

    def link(self, *, access_token: str, rich_menu_id: str, user_ids: Sequence[str]) -> None:
        """POST /v2/bot/richmenu/bulk/link: these users see this menu."""
        body = {"richMenuId": rich_menu_id, "userIds": _bulk_users(user_ids)}
        self._bulk("/v2/bot/richmenu/bulk/link", access_token, body, "linking a rich menu")

    def unlink(self, *, access_token: str, user_ids: Sequence[str]) -> None:
        """POST /v2/bot/richmenu/bulk/unlink: these users see the default menu again."""
        self._bulk(
            "/v2/bot/richmenu/bulk/unlink", access_token, {"userIds": _bulk_users(user_ids)}, "unlinking rich menus"
        )

    def _bulk(self, path: str, access_token: str, body: dict[str, Any], what: str) -> None:
        response = self._call("POST", path, access_token, json.dumps(body, separators=(",", ":")).encode(), what)
        if not 200 <= response.status < 300:
            if response.status in (400, 404):
                raise LineApiError(
                    f"LINE refused {what}: {_line_message(response)}",
                    code="line_rejected",
                    details={"lineStatus": response.status},
                )
            LineApiClient._success(response, what)

    def _call(self, method: str, path: str, access_token: str, body: bytes | None, what: str) -> HttpResponse:
        headers = {"Authorization": f"Bearer {access_token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        last = ""
        for attempt in range(self._attempts):
            if attempt:
                ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
                delay = self._jitter(0, ceiling)
                if last.isdigit():
                    delay = max(delay, min(float(last), BACKOFF_CAP_SECONDS))
                self._sleep(delay)
            self._bucket.acquire()
            try:
                response = self._client._send(method, path, headers=headers, body=body or b"")
            except LineApiError:
                last = ""
                continue
            if response.status == 429 or response.status >= 500:
                last = _header(response, "retry-after") or ""
                continue
            return response
        raise LineApiError(f"LINE did not answer {what} after {self._attempts} attempts", code="line_unavailable")


def _bulk_users(user_ids: Sequence[str]) -> list[str]:
    if not 0 < len(user_ids) <= MAX_RICH_MENU_BULK_USERS:
        raise ValueError(f"a bulk rich menu request has 1 to {MAX_RICH_MENU_BULK_USERS} users, got {len(user_ids)}")
    return list(user_ids)
