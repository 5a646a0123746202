"""SMS through Amazon SNS `Publish` to a phone number (cdp.messaging.ports.SmsSender).

The SMS type follows the purpose (Transactional / Promotional); the sender id is set where the
deployment names one (countries that do not support sender ids ignore it, Taiwan among them).
SNS keeps its own opt-out list (numbers that replied STOP): the number is checked first, and an
opted-out one fails `sms_opted_out` without a publish; the send point then puts it on the
product's suppression list, which keeps it out of later sends.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import error_code
from cdp.messaging.ports import ProviderResult, ProviderThrottled, ProviderUnavailable

OPTED_OUT = "sms_opted_out"
THROTTLED = frozenset({"ThrottlingException", "Throttling", "ThrottledException"})


class SnsSmsSender:
    def __init__(self, client: Any, *, sender_id: str = "", max_price_usd: str = "") -> None:
        self._client = client
        self._sender_id = sender_id
        self._max_price = max_price_usd

    def send_sms(self, *, to: str, text: str, transactional: bool) -> ProviderResult:
        attributes: dict[str, Any] = {
            "AWS.SNS.SMS.SMSType": {
                "DataType": "String",
                "StringValue": "Transactional" if transactional else "Promotional",
            }
        }
        if self._sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self._sender_id}
        if self._max_price:
            attributes["AWS.SNS.SMS.MaxPrice"] = {"DataType": "Number", "StringValue": self._max_price}
        try:
            if self._client.check_if_phone_number_is_opted_out(phoneNumber=to).get("isOptedOut"):
                return ProviderResult("failed", reason=OPTED_OUT, message="the number replied STOP to our messages")
            response = self._client.publish(PhoneNumber=to, Message=text, MessageAttributes=attributes)
        except ClientError as exc:
            code = error_code(exc)
            if code in THROTTLED:
                raise ProviderThrottled(f"SNS throttled the send after retries: {code}") from exc
            message = str(exc.response.get("Error", {}).get("Message", code))
            return ProviderResult("failed", reason="sms_rejected", message=f"{code}: {message}")
        except BotoCoreError as exc:
            # The request may have been accepted before the connection failed: the outcome is unknown.
            raise ProviderUnavailable(f"SNS did not answer: {type(exc).__name__}") from exc
        return ProviderResult("sent", provider_id=str(response.get("MessageId")))
