"""The message sender function on moto with the local LINE fake: claims, caps counters, outcome
raw events, exactly-once under LINE failures, a quiet-hours hold released by its schedule; and the
SES and SNS adapters on moto (moto records what they sent)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from botocore.exceptions import ClientError
from cdp.adapters.dynamodb.profile_store import profile_pk, profile_to_document
from cdp.adapters.send_schedules import SchedulerReleases
from cdp.adapters.ses_email import SesEmailSender
from cdp.adapters.sns_sms import SnsSmsSender
from cdp.messaging.content import EmailContent
from cdp.messaging.ports import ProviderThrottled
from cdp.messaging.send_point import release_schedule_name, retry_key
from cdp.profiles.model import Profile, Stamped
from cdp.settings import ENV_EMAIL_FROM_ADDRESS, ENV_LINE_API_BASE_URL, ENV_MESSAGE_SCHEDULE_GROUP
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from infra.cdp_infra.routes import MESSAGE_SENDER
from infra.local import provision
from infra.local.config import REGION
from infra.local.line_fake import LineApiFake
from tests.fakes_messaging import FakeRenderer
from tests.integration.conftest import LINE_CHANNEL, Stack

OLD = "2026-01-01T00:00:00.000Z"
AMY = "U" + "a" * 32


@pytest.fixture(autouse=True)
def sender_provisioned(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local runtime provisions the sender's environment like the other functions'."""
    if MESSAGE_SENDER not in provision.FUNCTION_FOLDERS:
        monkeypatch.setattr(provision, "FUNCTION_FOLDERS", (*provision.FUNCTION_FOLDERS, MESSAGE_SENDER))


@pytest.fixture
def renderer() -> FakeRenderer:
    templates = FakeRenderer()
    templates.add("coupon", line="Hi {name}, NT$100 off", email=("A coupon", "Hi {name}"), sms="Hi {name}")
    return templates


@pytest.fixture
def line_api(stack: Stack, monkeypatch: pytest.MonkeyPatch, renderer: FakeRenderer) -> Iterator[LineApiFake]:
    module = stack.runtime.module(MESSAGE_SENDER)
    monkeypatch.setattr(module, "production_renderer", lambda settings: renderer)
    module.build.cache_clear()
    with LineApiFake() as fake:
        fake.register_channel(stack.config.line_channel_access_token, stack.config.line_bot_user_id)
        monkeypatch.setenv(ENV_LINE_API_BASE_URL, fake.base_url)
        yield fake
    module.build.cache_clear()


def put_profile(
    stack: Stack,
    profile_id: str,
    *,
    line: str | None = AMY,
    status: str = "friend",
    email: str | None = None,
    consent: dict[str, bool] | None = None,
) -> None:
    p = Profile.new(profile_id, OLD)
    p.identifiers[f"member_id:M-{profile_id}"] = {"type": "member_id", "value": f"M-{profile_id}", "added_at": OLD}
    if email:
        p.identifiers[f"email:{email}"] = {"type": "email", "value": email, "added_at": OLD}
    for key, granted in (consent or {}).items():
        p.consent[key] = Stamped(granted, OLD, "partner:crm", "c1")
    if line:
        value = f"{LINE_CHANNEL}:{line}"
        p.identifiers[f"line:{value}"] = {"type": "line", "value": value, "added_at": OLD}
        p.line_accounts[value] = Stamped(status, OLD, f"line:{LINE_CHANNEL}", "e1")
    p.traits["name"] = Stamped("Amy", OLD, "partner:crm", "t1")
    stack.client("dynamodb").put_item(
        TableName=stack.core_table,
        Item={
            "pk": {"S": profile_pk(p.profile_id)},
            "sk": {"S": "PROFILE"},
            "doc": {"S": json.dumps(profile_to_document(p))},
            "version": {"N": "1"},
        },
    )


def request(send_key: str = "c1:amy", **changes: Any) -> dict[str, Any]:
    return {
        "send_key": send_key,
        "profile_id": "p_amy",
        "template_id": "coupon",
        "kind": "campaign",
        "campaign_id": "c1",
        "purpose": "marketing",
        "channels": ["line"],
        "quiet_hours": {"start": "00:00", "end": "00:00"},  # none: the test runs at any hour
        **changes,
    }


def send(stack: Stack, *requests: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = stack.invoke(MESSAGE_SENDER, {"requests": list(requests)})
    return answer


def item(stack: Stack, pk: str, sk: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (
        stack.client("dynamodb")
        .get_item(TableName=stack.core_table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
        .get("Item")
    )
    return found


def outcome_events(stack: Stack, prefix: str = "Message ") -> list[dict[str, Any]]:
    payloads = [json.loads(i["payload"]["S"]) if "payload" in i else i for i in stack.raw_items().values()]
    return [p for p in payloads if isinstance(p, dict) and str(p.get("event", "")).startswith(prefix)]


def test_a_send_claims_its_key_counts_its_caps_pushes_once_and_records_the_outcome(
    stack: Stack, line_api: LineApiFake
) -> None:
    put_profile(stack, "p_amy")

    answer = send(stack, request())

    assert answer["results"] == [
        {"send_key": "c1:amy", "state": "sent", "channel": "line", "cost_units": 1, "duplicate": False}
    ]
    (pushed,) = line_api.sent("push", to=AMY)
    assert pushed["retry_key"] == retry_key("c1:amy") and pushed["messages"][0]["text"] == "Hi Amy, NT$100 off"
    record = item(stack, "SEND#c1:amy", "SEND")
    assert record is not None and record["state"]["S"] == "sent"
    today = datetime.now(tz=ZoneInfo("Asia/Taipei")).date().isoformat()
    counter = item(stack, "MSGCAP#p_amy", f"line#day#{today}")
    assert counter is not None and counter["keys"]["SS"] == ["c1:amy"]
    (event,) = outcome_events(stack)
    assert event["event"] == "Message Sent" and event["properties"]["campaign_id"] == "c1"

    again = send(stack, request())

    assert again["results"][0]["duplicate"] is True
    assert len(line_api.sent(to=AMY)) == 1 and len(outcome_events(stack)) == 1


def test_line_accepting_then_failing_delivers_once_and_bad_requests_are_refused_alone(
    stack: Stack, line_api: LineApiFake
) -> None:
    put_profile(stack, "p_amy")
    line_api.fail_next(1, 500, after_accept=True)

    answer = send(stack, request(), {"send_key": "bad", "channels": []})

    assert answer["results"][0]["state"] == "sent"
    assert [c["status"] for c in line_api.calls()] == [500, 409]
    assert len(line_api.sent(to=AMY)) == 1
    (invalid,) = answer["invalid"]
    assert invalid["error"] == "invalid_request" and invalid["send_key"] == "bad" and "channels" in invalid["message"]


def test_an_unknown_outcome_fails_the_invocation_and_its_retry_sends_once(stack: Stack, line_api: LineApiFake) -> None:
    put_profile(stack, "p_amy")
    line_api.fail_next(5, 503)

    with pytest.raises(Exception, match="provider_unavailable"):
        send(stack, request())
    record = item(stack, "SEND#c1:amy", "SEND")
    assert record is not None and record["state"]["S"] == "claimed"

    assert send(stack, request())["results"][0]["state"] == "sent"
    assert len(line_api.sent(to=AMY)) == 1
    assert {c["retry_key"] for c in line_api.calls()} == {retry_key("c1:amy")}


def test_an_sqs_batch_reports_only_the_records_to_retry(stack: Stack, line_api: LineApiFake) -> None:
    put_profile(stack, "p_amy")
    put_profile(stack, "p_ben", line="U" + "b" * 32)
    line_api.fail_next(5, 503)  # LINE is down for the first record's five attempts
    records = [
        {"messageId": "m1", "body": json.dumps({"requests": [request()]})},
        {"messageId": "m2", "body": json.dumps({"requests": [request("c1:ben", profile_id="p_ben")]})},
        {"messageId": "m3", "body": "not json"},
    ]

    answer = stack.invoke(MESSAGE_SENDER, {"Records": records})

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert len(line_api.sent(to="U" + "b" * 32)) == 1 and line_api.sent(to=AMY) == []
    again = stack.invoke(MESSAGE_SENDER, {"Records": records[:1]})  # SQS redelivers m1
    assert again == {"batchItemFailures": []} and len(line_api.sent(to=AMY)) == 1


def test_a_blocked_friend_is_suppressed_and_the_monthly_limit_fails_with_its_reason(
    stack: Stack, line_api: LineApiFake
) -> None:
    put_profile(stack, "p_amy", status="blocked")
    put_profile(stack, "p_ben", line="U" + "b" * 32)
    line_api.set_quota(0)

    answer = send(stack, request(), request("c1:ben", profile_id="p_ben"))

    assert [(r["state"], r.get("reason")) for r in answer["results"]] == [
        ("suppressed", "unreachable"),
        ("failed", "quota_exhausted"),
    ]
    assert {e["event"] for e in outcome_events(stack)} == {"Message Suppressed", "Message Failed"}
    today = datetime.now(tz=ZoneInfo("Asia/Taipei")).date().isoformat()
    counter = item(stack, "MSGCAP#p_ben", f"line#day#{today}")
    assert counter is None or "keys" not in counter  # the failed send gave its cap back


def test_a_held_send_gets_a_release_schedule_that_sends_it(stack: Stack, line_api: LineApiFake) -> None:
    put_profile(stack, "p_amy")
    now = datetime.now(tz=ZoneInfo("Asia/Taipei"))
    window = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=2)).strftime("%H:%M"),
    }

    held = send(stack, request(quiet_hours=window))["results"][0]

    assert held["state"] == "held" and line_api.sent() == []
    group = stack.env(MESSAGE_SENDER, ENV_MESSAGE_SCHEDULE_GROUP)
    schedule = stack.client("scheduler").get_schedule(Name=release_schedule_name("c1:amy"), GroupName=group)
    assert schedule["ScheduleExpression"].startswith("at(") and schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    released = json.loads(schedule["Target"]["Input"])
    assert released["requests"][0]["release"] is True
    assert schedule["Target"]["Arn"].endswith(MESSAGE_SENDER)  # the sender's own ARN, from its context
    assert schedule["Target"]["RoleArn"] == stack.env(MESSAGE_SENDER, "CDP_MESSAGE_SCHEDULER_ROLE_ARN")

    # The scheduler fires when the window has opened: here the window is lifted instead of waiting.
    released["requests"][0]["quiet_hours"] = {"start": "00:00", "end": "00:00"}
    sent = send(stack, *released["requests"])["results"][0]

    assert sent["state"] == "sent" and len(line_api.sent(to=AMY)) == 1


def test_a_hard_bounce_from_ses_suppresses_the_address_for_the_next_send(
    stack: Stack, line_api: LineApiFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_EMAIL_FROM_ADDRESS, "news@example.com")  # the email channel is configured
    put_profile(stack, "p_amy", line=None, email="amy@example.com", consent={"email:marketing": True})
    bounce = {
        "id": "eb-bounce-1",
        "source": "aws.ses",
        "detail-type": "Email Bounced",
        "detail": {
            "eventType": "Bounce",
            "bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": "amy@example.com"}]},
            "mail": {"messageId": "ses-1", "destination": ["amy@example.com"], "tags": {"message_id": ["msg_1"]}},
        },
    }

    assert stack.invoke(MESSAGE_SENDER, bounce) == {"kind": "Bounce", "recorded": 1, "suppressed": 1}
    assert stack.invoke(MESSAGE_SENDER, bounce)["recorded"] == 0  # EventBridge's retry: stored once

    assert item(stack, "SUPPRESSION#email#amy@example.com", "SUPPRESSION") is not None
    assert [e["event"] for e in outcome_events(stack, prefix="Email ")] == ["Email Bounced"]
    result = send(stack, request("c2:amy", campaign_id="c2", channels=["email"]))["results"][0]
    assert (result["state"], result["reason"], result["detail"]) == ("suppressed", "unreachable", "email: suppressed")


# --- the email and SMS adapters on moto ----------------------------------------------------------------


def test_ses_sends_with_the_configuration_set_and_one_click_unsubscribe(aws: None) -> None:
    ses = boto3.client("sesv2", region_name=REGION)
    ses.create_email_identity(EmailIdentity="news@example.com")
    ses.create_configuration_set(ConfigurationSetName="LineCdp-messages")
    captured: list[dict[str, Any]] = []
    ses.meta.events.register("provide-client-params.sesv2.SendEmail", lambda params, **_: captured.append(params))
    sender = SesEmailSender(ses, from_address="news@example.com", configuration_set="LineCdp-messages")

    result = sender.send_email(
        to="amy@example.com",
        content=EmailContent(subject="春季優惠", html="<p>Hi</p>", text="Hi"),
        unsubscribe_url="https://go.example.com/u/tok",
        tags={"campaign_id": "spring sale", "kind": "campaign"},
    )

    assert result.outcome == "sent" and result.provider_id
    (message,) = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert message.destinations["ToAddresses"] == ["amy@example.com"] and message.subject == "春季優惠"
    (params,) = captured
    assert params["ConfigurationSetName"] == "LineCdp-messages"
    assert params["Content"]["Simple"]["Headers"] == [
        {"Name": "List-Unsubscribe", "Value": "<https://go.example.com/u/tok>"},
        {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
    ]
    assert {"Name": "campaign_id", "Value": "spring_sale"} in params["EmailTags"]


def test_ses_refusing_a_message_fails_it_with_ses_words(aws: None) -> None:
    sender = SesEmailSender(
        boto3.client("sesv2", region_name=REGION), from_address="unverified@example.com", configuration_set=None
    )
    result = sender.send_email(
        to="amy@example.com", content=EmailContent("s", None, "t"), unsubscribe_url=None, tags={}
    )
    assert (result.outcome, result.reason) == ("failed", "email_rejected")
    assert "MessageRejected" in (result.message or "")


@pytest.mark.parametrize(("transactional", "sms_type"), [(True, "Transactional"), (False, "Promotional")])
def test_sns_sends_an_sms_typed_by_purpose_with_the_sender_id(aws: None, transactional: bool, sms_type: str) -> None:
    sns = boto3.client("sns", region_name=REGION)
    captured: list[dict[str, Any]] = []
    sns.meta.events.register("provide-client-params.sns.Publish", lambda params, **_: captured.append(params))

    result = SnsSmsSender(sns, sender_id="LineCdp").send_sms(
        to="+886912345678", text="您的驗證碼 1234", transactional=transactional
    )

    assert result.outcome == "sent"
    messages = sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages
    assert list(messages.values()) == [("+886912345678", "您的驗證碼 1234")]
    attributes = captured[0]["MessageAttributes"]
    assert attributes["AWS.SNS.SMS.SMSType"]["StringValue"] == sms_type
    assert attributes["AWS.SNS.SMS.SenderID"]["StringValue"] == "LineCdp"


def test_a_release_schedule_is_created_once_and_updated_when_held_again(aws: None) -> None:
    client = boto3.client("scheduler", region_name=REGION)
    client.create_schedule_group(Name="LineCdp-messages")
    releases = SchedulerReleases(
        client,
        group="LineCdp-messages",
        target_arn="arn:aws:lambda:ap-northeast-1:123456789012:function:s",
        role_arn="arn:aws:iam::123456789012:role/r",
    )
    at = int(datetime(2026, 5, 5, 1, tzinfo=UTC).timestamp() * 1000)

    releases.schedule_release("msg-release-abc", at, {"send_key": "k"})
    releases.schedule_release("msg-release-abc", at + 60_000, {"send_key": "k"})

    schedule = client.get_schedule(Name="msg-release-abc", GroupName="LineCdp-messages")
    assert schedule["ScheduleExpression"] == "at(2026-05-05T01:01:00)"
    assert json.loads(schedule["Target"]["Input"]) == {"requests": [{"send_key": "k"}]}


def test_sns_does_not_publish_to_a_number_on_its_opt_out_list(aws: None) -> None:
    sns = boto3.client("sns", region_name=REGION)
    result = SnsSmsSender(sns).send_sms(to="+886912345699", text="優惠", transactional=False)  # moto: *99 opted out
    assert (result.outcome, result.reason) == ("failed", "sms_opted_out")
    assert sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages == {}


class ThrottlingClient:
    """A client whose every call is throttled, as SES and SNS answer past their send rate."""

    def __getattr__(self, name: str) -> Any:
        def throttled(**_: Any) -> Any:
            raise ClientError(
                {"Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded."}}, name
            )

        return throttled


def test_a_throttle_is_reported_as_nothing_sent() -> None:
    with pytest.raises(ProviderThrottled):
        SesEmailSender(ThrottlingClient(), from_address="a@example.com", configuration_set=None).send_email(
            to="amy@example.com", content=EmailContent("s", None, "t"), unsubscribe_url=None, tags={}
        )
