"""The LINE HTTP client: requests as LINE documents them, and every kind of LINE answer mapped to a clear error."""

from __future__ import annotations

import json
import socket
import urllib.parse
from typing import Any

import pytest
from cdp.adapters.line_api import (
    HttpRequest,
    HttpResponse,
    LineApiClient,
    LineApiError,
    LineRateLimited,
    LineRichMenuApi,
)
from cdp.errors import BadRequest, CdpError, NotFound

from tests.fixtures.line_events import USER_ID

TOKEN = "channel-access-token"
LOGIN_CHANNEL = "1650000001"


class FakeTransport:
    """Answers each request with the next queued response (or raises it) and records what was sent."""

    def __init__(self, *answers: HttpResponse | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[HttpRequest] = []

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def answer(status: int, body: Any = None, **headers: str) -> HttpResponse:
    data = body if isinstance(body, bytes) else json.dumps(body if body is not None else {}).encode()
    return HttpResponse(status, data, headers)


def client(transport: FakeTransport) -> LineApiClient:
    return LineApiClient("https://api.line.me/", timeout_seconds=3.5, transport=transport)


# requests ------------------------------------------------------------------------------------------
def test_link_token_request_is_an_authorised_post_on_the_users_path() -> None:
    transport = FakeTransport(answer(200, {"linkToken": "NMZTNuVrPTqlr2IF8Bnymkb7rXfYv5EY"}))

    token = client(transport).issue_link_token(access_token=TOKEN, user_id=USER_ID)

    assert token == "NMZTNuVrPTqlr2IF8Bnymkb7rXfYv5EY"
    (request,) = transport.requests
    assert (request.method, request.url) == ("POST", f"https://api.line.me/v2/bot/user/{USER_ID}/linkToken")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.timeout == 3.5


def test_a_user_id_cannot_escape_its_path_segment() -> None:
    transport = FakeTransport(answer(200, {"linkToken": "t"}))
    client(transport).issue_link_token(access_token=TOKEN, user_id="../../v2/bot/message/push")
    assert transport.requests[0].url == "https://api.line.me/v2/bot/user/..%2F..%2Fv2%2Fbot%2Fmessage%2Fpush/linkToken"


def test_verify_posts_the_token_and_client_id_as_a_form() -> None:
    claims = {"iss": "https://access.line.me", "sub": USER_ID, "aud": LOGIN_CHANNEL, "exp": 2, "iat": 1}
    transport = FakeTransport(answer(200, claims))

    assert client(transport).verify_id_token(id_token="a.b.c", client_id=LOGIN_CHANNEL) == claims

    (request,) = transport.requests
    assert (request.method, request.url) == ("POST", "https://api.line.me/oauth2/v2.1/verify")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.body is not None
    assert urllib.parse.parse_qs(request.body.decode()) == {"id_token": ["a.b.c"], "client_id": [LOGIN_CHANNEL]}
    assert "Authorization" not in request.headers


def test_only_http_base_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="http"):
        LineApiClient("file:///etc/passwd")


# error mapping -------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 404])
def test_line_refusing_the_user_is_a_not_found_line_user(status: int) -> None:
    transport = FakeTransport(answer(status, {"message": "The value for the 'userId' parameter is invalid"}))

    with pytest.raises(NotFound) as raised:
        client(transport).issue_link_token(access_token=TOKEN, user_id=USER_ID)

    assert (raised.value.status, raised.value.code) == (404, "line_user_not_found")
    assert "The value for the 'userId' parameter is invalid" in raised.value.message
    assert raised.value.details == {"lineStatus": status}


@pytest.mark.parametrize(
    ("line_answer", "status", "code"),
    [
        (
            answer(401, {"message": "Authentication failed due to the following reason: invalid token."}),
            502,
            "line_auth_failed",
        ),
        (answer(403, {"message": "Not authorized"}), 502, "line_auth_failed"),
        (
            answer(429, {"message": "The API rate limit has been exceeded."}, **{"Retry-After": "5"}),
            503,
            "line_rate_limited",
        ),
        (answer(500, {"message": "An error occurred in the API server."}), 502, "line_unavailable"),
        (answer(503, b"<html>maintenance</html>"), 502, "line_unavailable"),
        (answer(409, {"message": "Conflict"}), 502, "line_api_error"),
        (answer(200, b"not json"), 502, "line_bad_response"),
        (answer(200, ["a", "list"]), 502, "line_bad_response"),
        (answer(200, {"linkToken": ""}), 502, "line_bad_response"),
        (answer(200, {}), 502, "line_bad_response"),
    ],
    ids=["401", "403", "429", "500", "503-html", "409", "non-json", "non-object", "empty-token", "no-token"],
)
def test_link_token_failures_that_are_not_the_callers_fault(line_answer: HttpResponse, status: int, code: str) -> None:
    with pytest.raises(LineApiError) as raised:
        client(FakeTransport(line_answer)).issue_link_token(access_token=TOKEN, user_id=USER_ID)
    assert (raised.value.status, raised.value.code) == (status, code)


def test_rate_limit_passes_retry_after_on() -> None:
    transport = FakeTransport(answer(429, {"message": "slow down"}, **{"retry-after": "7"}))
    with pytest.raises(LineRateLimited) as raised:
        client(transport).issue_link_token(access_token=TOKEN, user_id=USER_ID)
    assert raised.value.details == {"retryAfter": "7"}


@pytest.mark.parametrize(
    "failure",
    [TimeoutError("timed out"), ConnectionRefusedError(), socket.gaierror("no such host"), OSError("reset")],
    ids=["timeout", "refused", "dns", "reset"],
)
def test_no_answer_from_line_is_line_unavailable(failure: Exception) -> None:
    with pytest.raises(LineApiError) as raised:
        client(FakeTransport(failure)).issue_link_token(access_token=TOKEN, user_id=USER_ID)
    assert (raised.value.status, raised.value.code) == (502, "line_unavailable")


def test_an_id_token_line_rejects_is_invalid_with_lines_description() -> None:
    transport = FakeTransport(answer(400, {"error": "invalid_request", "error_description": "IdToken expired."}))

    with pytest.raises(BadRequest) as raised:
        client(transport).verify_id_token(id_token="a.b.c", client_id=LOGIN_CHANNEL)

    assert (raised.value.status, raised.value.code) == (400, "invalid_id_token")
    assert "IdToken expired." in raised.value.message


def test_verify_failures_on_lines_side_are_5xx() -> None:
    for line_answer, code in ((answer(500, {}), "line_unavailable"), (answer(401, {}), "line_auth_failed")):
        with pytest.raises(CdpError) as raised:
            client(FakeTransport(line_answer)).verify_id_token(id_token="a.b.c", client_id=LOGIN_CHANNEL)
        assert raised.value.status >= 500
        assert raised.value.code == code


def test_error_text_is_bounded() -> None:
    transport = FakeTransport(answer(404, {"message": "x" * 10_000}))
    with pytest.raises(NotFound) as raised:
        client(transport).issue_link_token(access_token=TOKEN, user_id=USER_ID)
    assert len(raised.value.message) < 500


# rich menus ----------------------------------------------------------------------------------------
MENU = "richmenu-" + "c" * 32


def rich_menus(transport: FakeTransport, sleeps: list[float] | None = None) -> LineRichMenuApi:
    return LineRichMenuApi(
        client(transport),
        sleep=(sleeps if sleeps is not None else []).append,
        jitter=lambda low, high: high,
    )


def test_bulk_link_and_unlink_are_the_documented_posts() -> None:
    transport = FakeTransport(answer(202), answer(202))
    api = rich_menus(transport)
    api.link(access_token=TOKEN, rich_menu_id=MENU, user_ids=[USER_ID])
    api.unlink(access_token=TOKEN, user_ids=[USER_ID])
    linked, unlinked = transport.requests
    assert (linked.method, linked.url) == ("POST", "https://api.line.me/v2/bot/richmenu/bulk/link")
    assert json.loads(linked.body) == {"richMenuId": MENU, "userIds": [USER_ID]}
    assert unlinked.url.endswith("/v2/bot/richmenu/bulk/unlink") and json.loads(unlinked.body) == {"userIds": [USER_ID]}


def test_a_bulk_request_carries_1_to_500_users() -> None:
    api = rich_menus(FakeTransport())
    with pytest.raises(ValueError, match="1 to 500"):
        api.link(access_token=TOKEN, rich_menu_id=MENU, user_ids=[USER_ID] * 501)
    with pytest.raises(ValueError, match="1 to 500"):
        api.unlink(access_token=TOKEN, user_ids=[])


def test_rate_limits_server_errors_and_timeouts_are_retried_with_backoff() -> None:
    sleeps: list[float] = []
    transport = FakeTransport(
        answer(429, {"message": "Too many requests"}, **{"Retry-After": "2"}),
        answer(500),
        TimeoutError("t"),
        answer(202),
    )
    rich_menus(transport, sleeps).link(access_token=TOKEN, rich_menu_id=MENU, user_ids=[USER_ID])
    assert len(transport.requests) == 4 and len(sleeps) == 3 and sleeps[0] >= 2


def test_a_refused_request_raises_with_lines_words_and_a_menu_is_looked_up() -> None:
    transport = FakeTransport(
        answer(400, {"message": "richmenu not found"}), answer(200, {"richMenuId": MENU}), answer(404)
    )
    api = rich_menus(transport)
    with pytest.raises(LineApiError) as refused:
        api.link(access_token=TOKEN, rich_menu_id=MENU, user_ids=[USER_ID])
    assert refused.value.code == "line_rejected" and "richmenu not found" in refused.value.message
    assert api.exists(access_token=TOKEN, rich_menu_id=MENU) is True
    assert api.exists(access_token=TOKEN, rich_menu_id=MENU) is False
    assert transport.requests[1].url == f"https://api.line.me/v2/bot/richmenu/{MENU}"


def test_lines_silence_after_every_attempt_is_unavailable() -> None:
    transport = FakeTransport(*[answer(503)] * 5)
    with pytest.raises(LineApiError) as failed:
        rich_menus(transport).unlink(access_token=TOKEN, user_ids=[USER_ID])
    assert failed.value.code == "line_unavailable" and len(transport.requests) == 5
