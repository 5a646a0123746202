"""What moto recorded of SES and SNS sends, as `/_local/email/sent` and `/_local/sms/sent` show it."""

from __future__ import annotations

import boto3

from infra.local import outbox


def test_sent_email_and_sms_are_listed_oldest_first_and_by_recipient(aws: None) -> None:
    sesv2 = boto3.client("sesv2", region_name="ap-northeast-1")
    sesv2.create_email_identity(EmailIdentity="shop@example.com")
    for to in ("amy@example.com", "bob@example.com"):
        sesv2.send_email(
            FromEmailAddress="shop@example.com",
            Destination={"ToAddresses": [to]},
            Content={"Simple": {"Subject": {"Data": f"Hi {to}"}, "Body": {"Text": {"Data": "新品到貨"}}}},
        )
    sns = boto3.client("sns", region_name="ap-northeast-1")
    sns.publish(PhoneNumber="+886912345678", Message="您的驗證碼 123456")

    assert [m["to"] for m in outbox.sent_email()] == [["amy@example.com"], ["bob@example.com"]]
    [amy] = outbox.sent_email("AMY@example.com")
    assert (amy["from"], amy["subject"], amy["body"]) == ("shop@example.com", "Hi amy@example.com", "新品到貨")
    assert [(m["to"], m["message"]) for m in outbox.sent_sms()] == [("+886912345678", "您的驗證碼 123456")]
    assert outbox.sent_sms("+886900000000") == []
