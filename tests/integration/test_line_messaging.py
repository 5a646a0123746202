"""LineMessagingApi against the local LINE fake over HTTP: retry keys, 409 as sent, backoff on 429
and 5xx, the monthly limit, LINE's own 4xx words, multicast and reply."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cdp.adapters.line_api import LineApiClient, LineMessagingApi, TokenBucket, per_sender_buckets
from cdp.messaging.ports import ProviderUnavailable
from cdp.messaging.send_point import retry_key

from infra.local.line_fake import LineApiFake, new_user_id

TOKEN = "sender-test-token"
BOT = "U" + "d" * 32
TEXT = [{"type": "text", "text": "哈囉 Amy"}]


@pytest.fixture
def fake() -> Iterator[LineApiFake]:
    with LineApiFake() as server:
        server.register_channel(TOKEN, BOT)
        yield server


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def api(fake: LineApiFake, sleeps: Sleeps) -> LineMessagingApi:
    return LineMessagingApi(LineApiClient(fake.base_url), sleep=sleeps, jitter=lambda low, high: high)


def test_a_push_carries_the_retry_key_and_is_recorded_once(fake: LineApiFake, api: LineMessagingApi) -> None:
    user, key = new_user_id(), retry_key("c1:amy")

    result = api.push(access_token=TOKEN, to=user, messages=TEXT, retry_key=key)

    assert result.outcome == "sent" and result.provider_id and not result.duplicate
    (sent,) = fake.sent("push", to=user)
    assert sent["retry_key"] == key and sent["messages"] == TEXT


def test_500_then_200_is_retried_with_the_same_key_and_delivered_once(
    fake: LineApiFake, api: LineMessagingApi, sleeps: Sleeps
) -> None:
    user, key = new_user_id(), retry_key("k-500")
    fake.fail_next(1, 500)

    result = api.push(access_token=TOKEN, to=user, messages=TEXT, retry_key=key)

    assert result.outcome == "sent"
    assert [(c["status"], c["retry_key"]) for c in fake.calls()] == [(500, key), (200, key)]
    assert len(fake.sent(to=user)) == 1 and len(sleeps) == 1


def test_429_backs_off_with_jitter_then_sends(fake: LineApiFake, api: LineMessagingApi, sleeps: Sleeps) -> None:
    user, key = new_user_id(), retry_key("k-429")
    fake.fail_next(2, 429)

    result = api.push(access_token=TOKEN, to=user, messages=TEXT, retry_key=key)

    assert result.outcome == "sent"
    assert [c["status"] for c in fake.calls()] == [429, 429, 200]
    assert {c["retry_key"] for c in fake.calls()} == {key}
    assert sleeps == [0.4, 0.8]  # the jitter's ceiling doubles per attempt
    assert len(fake.sent(to=user)) == 1


def test_an_accepted_request_whose_answer_was_lost_is_a_409_counted_as_sent(
    fake: LineApiFake, api: LineMessagingApi
) -> None:
    user, key = new_user_id(), retry_key("k-lost")
    fake.fail_next(1, 500, after_accept=True)

    result = api.push(access_token=TOKEN, to=user, messages=TEXT, retry_key=key)

    assert (result.outcome, result.duplicate) == ("sent", True)
    accepted = fake.sent(to=user)
    assert len(accepted) == 1 and result.provider_id == accepted[0]["request_id"]
    assert [c["status"] for c in fake.calls()] == [500, 409]


def test_lines_that_keep_failing_leave_the_outcome_unknown(fake: LineApiFake, api: LineMessagingApi) -> None:
    fake.fail_next(5, 503)
    with pytest.raises(ProviderUnavailable):
        api.push(access_token=TOKEN, to=new_user_id(), messages=TEXT, retry_key=retry_key("k-down"))
    assert len(fake.calls()) == 5


def test_no_answer_at_all_is_retried_and_then_unknown(sleeps: Sleeps) -> None:
    api = LineMessagingApi(LineApiClient("http://127.0.0.1:9", timeout_seconds=0.2), sleep=sleeps, attempts=3)
    with pytest.raises(ProviderUnavailable):
        api.push(access_token=TOKEN, to=new_user_id(), messages=TEXT, retry_key=retry_key("k-none"))
    assert len(sleeps) == 2


def test_the_monthly_limit_is_quota_exhausted_without_retries(fake: LineApiFake, api: LineMessagingApi) -> None:
    fake.set_quota(0)

    result = api.push(access_token=TOKEN, to=new_user_id(), messages=TEXT, retry_key=retry_key("k-quota"))

    assert result.outcome == "quota_exhausted" and "monthly limit" in (result.message or "")
    assert len(fake.calls()) == 1


def test_a_bad_request_fails_with_lines_words_and_a_bad_token_is_ours(fake: LineApiFake, api: LineMessagingApi) -> None:
    bad = api.push(access_token=TOKEN, to=new_user_id(), messages=[{"type": "text"}], retry_key=retry_key("k-bad"))
    refused = api.push(access_token="wrong", to=new_user_id(), messages=TEXT, retry_key=retry_key("k-auth"))

    assert (bad.outcome, bad.reason) == ("failed", "line_rejected")
    assert (bad.message or "").startswith("400: The request body has 1 error(s)")
    assert (refused.outcome, refused.reason) == ("failed", "line_auth_failed")
    assert len(fake.calls()) == 2  # no retries


def test_multicast_reaches_every_recipient_once_under_one_key(fake: LineApiFake, api: LineMessagingApi) -> None:
    users, key = [new_user_id() for _ in range(3)], retry_key("batch-1")
    fake.fail_next(1, 500, after_accept=True)

    result = api.multicast(access_token=TOKEN, to=users, messages=TEXT, retry_key=key)

    assert (result.outcome, result.duplicate) == ("sent", True)
    (sent,) = fake.sent("multicast")
    assert sorted(sent["recipients"]) == sorted(users)
    with pytest.raises(ValueError, match="1 to 500"):
        api.multicast(access_token=TOKEN, to=[new_user_id() for _ in range(501)], messages=TEXT, retry_key=key)


def test_a_reply_is_free_and_an_expired_token_says_so(fake: LineApiFake, api: LineMessagingApi) -> None:
    user = new_user_id()
    fresh, stale = fake.issue_reply_token(user, BOT), fake.issue_reply_token(user, BOT)

    replied = api.reply(access_token=TOKEN, reply_token=fresh, messages=TEXT)
    fake.advance_time(61)
    expired = api.reply(access_token=TOKEN, reply_token=stale, messages=TEXT)

    assert replied.outcome == "sent" and fake.consumption() == 0
    assert (expired.outcome, expired.reason) == ("invalid_reply_token", "reply_token_invalid")
    assert [c["retry_key"] for c in fake.calls()] == [None, None]


def test_a_reply_is_not_retried_after_a_5xx(fake: LineApiFake, api: LineMessagingApi) -> None:
    fake.fail_next(1, 500, after_accept=True)
    with pytest.raises(ProviderUnavailable):
        api.reply(access_token=TOKEN, reply_token=fake.issue_reply_token(new_user_id(), BOT), messages=TEXT)
    assert len(fake.calls()) == 1


def test_each_sender_takes_its_share_of_lines_limits() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    buckets = per_sender_buckets(10, monotonic=lambda: now[0], sleep=sleep)
    assert (buckets["push"].rate, buckets["multicast"].rate) == (200, 20)
    multicast = buckets["multicast"]
    for _ in range(60):  # three seconds' worth at 20 a second, after the first second's burst
        multicast.acquire()
    assert now[0] == pytest.approx(2.0)
    assert TokenBucket(0.5, monotonic=lambda: now[0], sleep=sleep).rate == 0.5
