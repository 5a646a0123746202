"""A small LINE Platform HTTP client (stdlib urllib, no SDK): link tokens and LINE Login ID token checks.

Each LINE answer is mapped onto a domain error with a machine-readable code, so the admin API can
tell a caller's mistake (unknown LINE user, bad ID token: 4xx) from LINE or our own channel
configuration failing (502/503). The transport is a parameter: unit tests pass a fake one.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cdp.errors import BadRequest, CdpError, NotFound

DEFAULT_BASE_URL = "https://api.line.me"
DEFAULT_TIMEOUT_SECONDS = 5.0  # well inside the admin function's timeout, leaving room for DynamoDB
MAX_ERROR_TEXT = 300


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
