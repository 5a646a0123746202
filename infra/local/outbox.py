"""What the stack's functions sent by email (SES) and SMS (SNS), as the embedded moto recorded it:
`GET /_local/email/sent` and `GET /_local/sms/sent`, like the LINE fake's `/_local/line/sent`."""

from __future__ import annotations

from typing import Any

from infra.local.config import REGION
from infra.local.provision import LOCAL_ACCOUNT


def sent_email(to: str | None = None) -> list[dict[str, Any]]:
    """SES messages (v1 and v2 share moto's SES backend), oldest first; `to`: one recipient's."""
    from moto.ses.models import ses_backends

    found: list[dict[str, Any]] = []
    for message in list(ses_backends[LOCAL_ACCOUNT][REGION].sent_messages):
        destinations = getattr(message, "destinations", None)
        if isinstance(destinations, dict):  # simple messages: {"ToAddresses": [...], ...}
            recipients = [
                a for kind in ("ToAddresses", "CcAddresses", "BccAddresses") for a in destinations.get(kind, [])
            ]
        else:
            recipients = list(destinations or [])
        if to is not None and to.lower() not in {r.lower() for r in recipients}:
            continue
        record: dict[str, Any] = {"message_id": message.id, "from": message.source, "to": recipients}
        for attribute, key in (("subject", "subject"), ("body", "body"), ("raw_data", "raw"), ("template", "template")):
            value = getattr(message, attribute, None)
            if value is not None:
                record[key] = value
        found.append(record)
    return found


def sent_sms(to: str | None = None) -> list[dict[str, Any]]:
    """SNS text messages to phone numbers, oldest first; `to`: one E.164 number's."""
    from moto.sns.models import sns_backends

    return [
        {"message_id": message_id, "to": phone, "message": text}
        for message_id, (phone, text) in list(sns_backends[LOCAL_ACCOUNT][REGION].sms_messages.items())
        if to is None or phone == to
    ]
