"""Email through Amazon SES v2 `SendEmail` (cdp.messaging.ports.EmailSender).

Every message goes through the configuration set (its event destination brings delivery, bounce,
complaint, open and click events back) and, for marketing, carries RFC 8058 one-click unsubscribe
headers. Throttling is retried by botocore's standard retry mode; what SES still refuses is a
failure of this message only, with SES's error code.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import error_code
from cdp.messaging.content import EmailContent
from cdp.messaging.ports import ProviderResult, ProviderThrottled, ProviderUnavailable

THROTTLED = frozenset({"TooManyRequestsException", "ThrottlingException", "LimitExceededException"})
TAG_VALUE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.@")


class SesEmailSender:
    def __init__(self, client: Any, *, from_address: str, configuration_set: str | None) -> None:
        self._client = client
        self._from = from_address
        self._configuration_set = configuration_set

    def send_email(
        self, *, to: str, content: EmailContent, unsubscribe_url: str | None, tags: dict[str, str]
    ) -> ProviderResult:
        body: dict[str, Any] = {}
        if content.text is not None:
            body["Text"] = {"Data": content.text, "Charset": "UTF-8"}
        if content.html is not None:
            body["Html"] = {"Data": content.html, "Charset": "UTF-8"}
        simple: dict[str, Any] = {"Subject": {"Data": content.subject, "Charset": "UTF-8"}, "Body": body}
        if unsubscribe_url:
            simple["Headers"] = [
                {"Name": "List-Unsubscribe", "Value": f"<{unsubscribe_url}>"},
                {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
            ]
        request: dict[str, Any] = {
            "FromEmailAddress": self._from,
            "Destination": {"ToAddresses": [to]},
            "Content": {"Simple": simple},
            "EmailTags": [{"Name": name, "Value": _tag(value)} for name, value in sorted(tags.items())],
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            response = self._client.send_email(**request)
        except ClientError as exc:
            code = error_code(exc)
            if code in THROTTLED:
                raise ProviderThrottled(f"SES throttled the send after retries: {code}") from exc
            message = str(exc.response.get("Error", {}).get("Message", code))
            return ProviderResult("failed", reason="email_rejected", message=f"{code}: {message}")
        except BotoCoreError as exc:
            # The request may have been accepted before the connection failed: the outcome is unknown.
            raise ProviderUnavailable(f"SES did not answer: {type(exc).__name__}") from exc
        return ProviderResult("sent", provider_id=str(response.get("MessageId")))


def _tag(value: str) -> str:
    """SES tag values allow only ASCII letters, digits, `_ - . @`."""
    return "".join(char if char in TAG_VALUE_CHARS else "_" for char in value)[:256] or "_"
