"""The send point's provider and release ports: each fake (tests/fakes_messaging.py) and its adapter
answer alike. LINE's adapter runs against the local LINE fake; SES, SNS and EventBridge Scheduler
on moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from cdp.adapters.line_api import LineApiClient, LineMessagingApi
from cdp.adapters.send_schedules import SchedulerReleases
from cdp.adapters.ses_email import SesEmailSender
from cdp.adapters.sns_sms import SnsSmsSender
from cdp.messaging.content import EmailContent
from cdp.messaging.send_point import retry_key

from infra.local.config import REGION
from infra.local.line_fake import LineApiFake, new_user_id
from tests.fakes_messaging import FakeEmailSender, FakeLineMessenger, FakeReleases, FakeSmsSender
from tests.integration.contract.conftest import ADAPTER, IMPLEMENTATIONS, Aws, unique

TOKEN = "contract-line-token"
TEXT = [{"type": "text", "text": "哈囉"}]


@pytest.fixture(scope="module")
def line_server() -> Iterator[LineApiFake]:
    with LineApiFake() as server:
        server.register_channel(TOKEN, "U" + "e" * 32)
        yield server


@pytest.fixture(params=IMPLEMENTATIONS)
def line(request: pytest.FixtureRequest, line_server: LineApiFake) -> Any:
    if request.param == ADAPTER:
        return LineMessagingApi(LineApiClient(line_server.base_url), sleep=lambda _: None)
    return FakeLineMessenger()


def test_a_retry_key_is_delivered_once_and_then_answered_as_a_duplicate(line: Any) -> None:
    user, key = new_user_id(), retry_key(unique("k"))
    first = line.push(access_token=TOKEN, to=user, messages=TEXT, retry_key=key)
    again = line.push(access_token=TOKEN, to=user, messages=TEXT, retry_key=key)
    assert (first.outcome, first.duplicate) == ("sent", False)
    assert (again.outcome, again.duplicate) == ("sent", True)
    assert again.provider_id == first.provider_id


def test_a_multicast_is_one_request_under_one_key(line: Any) -> None:
    users, key = [new_user_id() for _ in range(3)], retry_key(unique("batch"))
    assert line.multicast(access_token=TOKEN, to=users, messages=TEXT, retry_key=key).outcome == "sent"
    assert line.multicast(access_token=TOKEN, to=users, messages=TEXT, retry_key=key).duplicate is True


def test_a_reply_is_sent_without_a_retry_key(line: Any, line_server: LineApiFake) -> None:
    token = line_server.issue_reply_token(new_user_id())
    assert line.reply(access_token=TOKEN, reply_token=token, messages=TEXT).outcome == "sent"


@pytest.fixture(params=IMPLEMENTATIONS)
def email(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    if request.param == ADAPTER:
        ses = boto3.client("sesv2", region_name=REGION)
        ses.create_email_identity(EmailIdentity="news@example.com")
        return SesEmailSender(ses, from_address="news@example.com", configuration_set=None)
    return FakeEmailSender()


def test_an_email_is_sent_with_a_provider_id(email: Any) -> None:
    content = EmailContent(subject="春季優惠", html="<p>Hi</p>", text="Hi")
    result = email.send_email(
        to="amy@example.com", content=content, unsubscribe_url="https://x/u/t", tags={"kind": "campaign"}
    )
    assert result.outcome == "sent" and result.provider_id


@pytest.fixture(params=IMPLEMENTATIONS)
def sms(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    if request.param == ADAPTER:
        return SnsSmsSender(boto3.client("sns", region_name=REGION))
    fake = FakeSmsSender()
    fake.opted_out.add("+886912345699")  # moto's opt-out list: numbers ending in 99
    return fake


def test_an_sms_is_sent_unless_the_number_opted_out(sms: Any) -> None:
    sent = sms.send_sms(to="+886912345678", text="驗證碼 1234", transactional=True)
    refused = sms.send_sms(to="+886912345699", text="優惠", transactional=False)
    assert sent.outcome == "sent" and sent.provider_id
    assert (refused.outcome, refused.reason) == ("failed", "sms_opted_out")


class Schedules:
    def __init__(self, adapter: bool) -> None:
        self.group = unique("messages")
        if adapter:
            self.client = boto3.client("scheduler", region_name=REGION)
            self.client.create_schedule_group(Name=self.group)
            self.releases: Any = SchedulerReleases(
                self.client,
                group=self.group,
                target_arn="arn:aws:lambda:ap-northeast-1:123456789012:function:sender",
                role_arn="arn:aws:iam::123456789012:role/releases",
            )
        else:
            self.client = None
            self.releases = FakeReleases()

    def stored(self, name: str) -> tuple[str, dict[str, Any]]:
        if self.client is None:
            at_ms, request = self.releases.schedules[name]
            return str(at_ms), request
        schedule = self.client.get_schedule(Name=name, GroupName=self.group)
        return schedule["ScheduleExpression"], json.loads(schedule["Target"]["Input"])["requests"][0]


@pytest.fixture(params=IMPLEMENTATIONS)
def schedules(request: pytest.FixtureRequest, moto_stack: Aws) -> Schedules:
    return Schedules(request.param == ADAPTER)


def test_a_release_is_one_schedule_per_name_holding_the_latest_request(schedules: Schedules) -> None:
    name = unique("msg-release")
    schedules.releases.schedule_release(name, 1_777_942_800_000, {"send_key": "k", "release": True})
    first = schedules.stored(name)
    schedules.releases.schedule_release(name, 1_777_942_860_000, {"send_key": "k", "release": True})
    later = schedules.stored(name)
    assert first[1] == later[1] == {"send_key": "k", "release": True}
    assert first[0] != later[0]
