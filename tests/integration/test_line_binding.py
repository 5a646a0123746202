"""LINE account link and LINE Login binding on moto and the LINE API fake over real HTTP.

The nonce adapter's single conditional UpdateItem is exercised on DynamoDB semantics (moto); the
two admin routes run through the real handler, the real urllib client and the LINE fake.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cdp.adapters.dynamodb.link_nonces import DynamoLinkNonceStore, nonce_key
from cdp.clock import SystemClock, iso_from_ms
from cdp.errors import StoreUnavailable
from cdp.identity.account_link import CONSUMED_RETENTION_SECONDS, AccountLinks, LinkNonce, LinkOutcome
from cdp.settings import ENV_LINE_API_BASE_URL

from infra.local.line_fake import LineApiFake, new_user_id
from infra.local.stack import free_port
from tests.fakes import FixedClock
from tests.integration.conftest import ADMIN_TOKEN, LINE_CHANNEL, RawStream, Stack, api_event, response_json

NOW_MS = 1_714_561_200_000
NOW_S = NOW_MS // 1000
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
EVENT = "line#default#01HX0000000000000000000001"
OTHER_EVENT = "line#default#01HX0000000000000000000002"


# the DynamoDB nonce store -----------------------------------------------------------------------------
@pytest.fixture
def nonce_store(stack: Stack) -> DynamoLinkNonceStore:
    return DynamoLinkNonceStore(stack.client("dynamodb"), stack.core_table)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW_MS)


@pytest.fixture
def links(nonce_store: DynamoLinkNonceStore, clock: FixedClock) -> AccountLinks:
    return AccountLinks(nonce_store, clock, ttl_seconds=600)


def issue(links: AccountLinks, user: str, member: str = "M-1001") -> LinkNonce:
    return links.issue(channel=LINE_CHANNEL, provider=LINE_CHANNEL, line_user_id=user, member_id=member)


def item(stack: Stack, nonce: str) -> dict[str, Any]:
    found: dict[str, Any] = stack.client("dynamodb").get_item(
        TableName=stack.core_table, Key=nonce_key(nonce), ConsistentRead=True
    )["Item"]
    return found


def test_a_nonce_is_one_item_with_the_table_ttl(stack: Stack, links: AccountLinks) -> None:
    user = new_user_id()
    nonce = issue(links, user)

    stored = item(stack, nonce.nonce)

    assert (stored["pk"]["S"], stored["sk"]["S"]) == (f"LINKNONCE#{nonce.nonce}", "NONCE")
    assert stored["expires_at"] == {"N": str(NOW_S + 600)}  # the core table's TTL attribute
    assert {k: v["S"] for k, v in stored.items() if k in ("member_id", "line_user_id", "channel", "created_at")} == {
        "member_id": "M-1001",
        "line_user_id": user,
        "channel": LINE_CHANNEL,
        "created_at": iso_from_ms(NOW_MS),
    }
    assert "consumed_by" not in stored


def test_create_never_overwrites(nonce_store: DynamoLinkNonceStore, links: AccountLinks) -> None:
    nonce = issue(links, new_user_id())
    other = LinkNonce(nonce.nonce, nonce.expires_at, "M-evil", new_user_id(), LINE_CHANNEL)

    assert nonce_store.create(other) is False
    assert nonce_store.get(nonce.nonce) == nonce


def test_consume_sets_consumed_by_and_keeps_the_item_for_replays(
    stack: Stack, links: AccountLinks, nonce_store: DynamoLinkNonceStore
) -> None:
    user = new_user_id()
    nonce = issue(links, user)

    assert links.consume(nonce=nonce.nonce, line_user_id=user, event_id=EVENT) == LinkOutcome("M-1001", None)

    stored = item(stack, nonce.nonce)
    assert stored["consumed_by"] == {"S": EVENT}
    assert stored["consumed_at"] == {"S": iso_from_ms(NOW_MS)}
    assert stored["expires_at"] == {"N": str(NOW_S + CONSUMED_RETENTION_SECONDS)}


def test_a_replay_of_the_same_event_is_ok_and_changes_nothing_but_the_retention(
    stack: Stack, links: AccountLinks, clock: FixedClock
) -> None:
    user = new_user_id()
    nonce = issue(links, user)
    links.consume(nonce=nonce.nonce, line_user_id=user, event_id=EVENT)
    clock.advance(3_600_000)  # the stream retried the batch an hour later

    assert links.consume(nonce=nonce.nonce, line_user_id=user, event_id=EVENT) == LinkOutcome("M-1001", None)
    stored = item(stack, nonce.nonce)
    assert (stored["consumed_by"]["S"], stored["consumed_at"]["S"]) == (EVENT, iso_from_ms(NOW_MS))


def test_every_refusal_reason_on_dynamodb(stack: Stack, links: AccountLinks, clock: FixedClock) -> None:
    user, stranger = new_user_id(), new_user_id()
    used, mismatched, expiring = issue(links, user), issue(links, user), issue(links, user)
    links.consume(nonce=used.nonce, line_user_id=user, event_id=EVENT)

    assert links.consume(nonce=used.nonce, line_user_id=user, event_id=OTHER_EVENT).reason == "already_used"
    assert links.consume(nonce=mismatched.nonce, line_user_id=stranger, event_id=EVENT).reason == "line_user_mismatch"
    assert links.consume(nonce="never-issued-" + "x" * 30, line_user_id=user, event_id=EVENT).reason == "unknown_nonce"
    clock.advance(600_000)
    assert links.consume(nonce=expiring.nonce, line_user_id=user, event_id=EVENT).reason == "expired"

    # refusals leave the nonces as they were
    assert item(stack, used.nonce)["consumed_by"] == {"S": EVENT}
    assert "consumed_by" not in item(stack, mismatched.nonce)
    assert "consumed_by" not in item(stack, expiring.nonce)
    assert item(stack, expiring.nonce)["expires_at"] == {"N": str(NOW_S + 600)}


def test_only_one_of_racing_events_wins(links: AccountLinks) -> None:
    user = new_user_id()
    nonce = issue(links, user)
    events = [f"line#default#race-{n}" for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(
            pool.map(lambda event: links.consume(nonce=nonce.nonce, line_user_id=user, event_id=event), events)
        )

    assert sorted(o.reason or "ok" for o in outcomes) == ["already_used"] * 7 + ["ok"]


def test_a_store_failure_is_retryable(stack: Stack) -> None:
    store = DynamoLinkNonceStore(stack.client("dynamodb"), "no-such-table")
    with pytest.raises(StoreUnavailable):
        store.consume("n" * 43, line_user_id=new_user_id(), event_id=EVENT, now_seconds=NOW_S, retain_until_seconds=1)


# the admin routes --------------------------------------------------------------------------------------
@pytest.fixture
def line_api(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[LineApiFake]:
    """The LINE fake, knowing the local channel's access token, as the admin function's LINE base URL."""
    with LineApiFake() as fake:
        fake.register_channel(stack.config.line_channel_access_token, stack.config.line_bot_user_id)
        monkeypatch.setenv(ENV_LINE_API_BASE_URL, fake.base_url)
        yield fake


def post(stack: Stack, path: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    response = stack.invoke(
        "admin_api", api_event("POST", path, body=data, headers=BEARER if headers is None else headers)
    )
    return response["statusCode"], response_json(response)


def link_token(stack: Stack, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    return post(stack, "/admin/v1/line/link-token", body, headers)


def login(stack: Stack, body: Any) -> tuple[int, Any]:
    return post(stack, "/admin/v1/line/login", body)


def test_link_token_route_issues_lines_token_and_a_bound_nonce(stack: Stack, line_api: LineApiFake) -> None:
    user = new_user_id()

    status, body = link_token(stack, {"lineUserId": user, "memberId": "M-1001"})

    assert status == 201, body
    assert set(body) == {"linkToken", "nonce", "url", "expiresAt"}
    # LINE issued the link token for that user
    (issued,) = line_api.link_tokens()
    assert (issued["link_token"], issued["user_id"]) == (body["linkToken"], user)
    # and the URL is the account-link dialog with that token and the nonce
    url = urllib.parse.urlsplit(body["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://access.line.me/dialog/bot/accountLink"
    assert urllib.parse.parse_qs(url.query) == {"linkToken": [body["linkToken"]], "nonce": [body["nonce"]]}
    # and the nonce is stored for the member and the LINE user
    stored = item(stack, body["nonce"])
    assert (stored["member_id"]["S"], stored["line_user_id"]["S"]) == ("M-1001", user)
    assert iso_from_ms(int(stored["expires_at"]["N"]) * 1000) == body["expiresAt"]


def test_the_account_link_webhook_lines_fake_sends_consumes_the_nonce_once(
    stack: Stack, line_api: LineApiFake, nonce_store: DynamoLinkNonceStore
) -> None:
    # Given a link issued through the route, and the user completing it on LINE
    user = new_user_id()
    _, body = link_token(stack, {"lineUserId": user, "memberId": "M-2002"})
    event = line_api.account_link_event(body["linkToken"], body["nonce"])
    assert event["link"] == {"result": "ok", "nonce": body["nonce"]}
    assert event["source"]["userId"] == user

    # When the processor hands the event to the account-link interface
    links = AccountLinks(nonce_store, SystemClock())
    outcome = links.consume_event(event, event_id=f"line#default#{event['webhookEventId']}")

    # Then it names the member; a second use of the link (LINE refuses the token) binds nobody
    assert outcome == LinkOutcome("M-2002", None)
    replay = line_api.account_link_event(body["linkToken"], body["nonce"])
    assert replay["link"]["result"] == "failed"
    assert links.consume_event(replay, event_id=f"line#default#{replay['webhookEventId']}").reason == "link_failed"
    assert item(stack, body["nonce"])["consumed_by"] == {"S": f"line#default#{event['webhookEventId']}"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"memberId": "M1"}, 400, "missing_line_user_id"),
        ({"lineUserId": "Uabc", "memberId": "M1"}, 400, "invalid_line_user_id"),
        ({"lineUserId": "U" + "a" * 32}, 400, "missing_member_id"),
        ({"lineUserId": "U" + "a" * 32, "memberId": "M1", "channel": "other-oa"}, 400, "unknown_channel"),
        ("[1, 2]", 400, "invalid_json"),
        ("{not json", 400, "invalid_json"),
    ],
)
def test_link_token_input_errors(stack: Stack, line_api: LineApiFake, body: Any, status: int, code: str) -> None:
    answered, error = link_token(stack, body)
    assert (answered, error["error"]) == (status, code)
    assert error["message"]
    assert line_api.link_tokens() == []


def test_link_token_route_needs_the_admin_token(stack: Stack, line_api: LineApiFake) -> None:
    status, body = link_token(stack, {"lineUserId": new_user_id(), "memberId": "M1"}, headers={})
    assert (status, body["error"]) == (401, "invalid_admin_token")
    assert line_api.link_tokens() == []


def test_line_refusing_our_channel_token_is_a_502(stack: Stack, line_api: LineApiFake) -> None:
    line_api.reset(full=True)  # LINE no longer knows the channel's access token

    status, body = link_token(stack, {"lineUserId": new_user_id(), "memberId": "M1"})

    assert (status, body["error"]) == (502, "line_auth_failed")
    assert "invalid token" in body["message"]


def test_line_not_answering_is_a_502_and_no_nonce_is_left(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_LINE_API_BASE_URL, f"http://127.0.0.1:{free_port()}")  # nothing listens there

    status, body = link_token(stack, {"lineUserId": new_user_id(), "memberId": "M1"})

    assert (status, body["error"]) == (502, "line_unavailable")
    assert not [i for i in stack.scan(stack.core_table) if i["pk"]["S"].startswith("LINKNONCE#")]


def test_login_route_stores_one_identify_and_the_processor_binds_line_to_the_member(
    stack: Stack, line_api: LineApiFake, raw_stream: RawStream
) -> None:
    user = new_user_id()
    token = line_api.issue_id_token(user, stack.config.line_login_channel_id, name="Amy")

    status, body = login(stack, {"idToken": token, "memberId": "M-3003"})

    assert status == 200, body
    assert (body["lineUserId"], body["memberId"]) == (user, "M-3003")
    raw = stack.raw_items()[body["eventId"]]
    assert (raw["origin"]["S"], raw["source"]["S"]) == ("partner", "line-login")
    payload = json.loads(raw["payload"]["S"])
    assert payload["type"] == "identify"
    assert payload["userId"] == "M-3003"
    assert payload["context"]["externalIds"] == [
        {"type": "line", "id": f"{LINE_CHANNEL}:{user}", "collection": "users", "encoding": "none"}
    ]

    # The event processor turns it into one profile with both identifiers
    assert stack.invoke("event_processor", {"Records": raw_stream.new_records()}) == {"batchItemFailures": []}
    owners = {
        (i["id_type"]["S"], i["id_value"]["S"]): i["profile_id"]["S"]
        for i in stack.scan(stack.core_table)
        if i["sk"]["S"] == "ID" and "id_value" in i
    }
    assert owners[("member_id", "M-3003")] == owners[("line", f"{LINE_CHANNEL}:{user}")]


def test_the_same_login_posted_twice_is_one_event(stack: Stack, line_api: LineApiFake) -> None:
    token = line_api.issue_id_token(new_user_id(), stack.config.line_login_channel_id)

    first, again = (
        login(stack, {"idToken": token, "memberId": "M1"}),
        login(stack, {"idToken": token, "memberId": "M1"}),
    )

    assert first[0] == again[0] == 200
    assert first[1]["eventId"] == again[1]["eventId"]
    assert [pk for pk in stack.raw_items() if pk.startswith("partner#line-login#")] == [first[1]["eventId"]]


def test_an_expired_id_token_is_refused_with_lines_reason(stack: Stack, line_api: LineApiFake) -> None:
    token = line_api.issue_id_token(new_user_id(), stack.config.line_login_channel_id, expires_in=60)
    line_api.advance_time(61)

    status, body = login(stack, {"idToken": token, "memberId": "M1"})

    assert (status, body["error"]) == (400, "invalid_id_token")
    assert "IdToken expired." in body["message"]
    assert stack.raw_items() == {}


def test_an_id_token_of_another_login_channel_is_refused(stack: Stack, line_api: LineApiFake) -> None:
    token = line_api.issue_id_token(new_user_id(), "1659999999")

    status, body = login(stack, {"idToken": token, "memberId": "M1"})

    assert (status, body["error"]) == (400, "invalid_id_token")
    assert "Audience" in body["message"]
    assert stack.raw_items() == {}


def test_a_forged_id_token_is_refused(stack: Stack, line_api: LineApiFake) -> None:
    status, body = login(stack, {"idToken": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJVMSJ9.c2ln", "memberId": "M1"})
    assert (status, body["error"]) == (400, "invalid_id_token")
    assert stack.raw_items() == {}
