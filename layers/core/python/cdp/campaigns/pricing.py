"""The workspace's pricing config and the cost of a send under it.

Default (seed 004, LINE's Taiwan plan): NT$800 a month includes 4,000 messages, each message
beyond them NT$0.2. LINE counts one message per recipient per push or multicast request,
whatever the number of bubbles. Email and SMS have unit prices of their own (per email, per SMS
segment). Stored as a versioned core-table document `MSGPRICING#default` / `CONFIG`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from cdp.errors import BadRequest


@dataclass(frozen=True, slots=True)
class Pricing:
    currency: str = "TWD"
    line_monthly_fee: float = 800.0
    line_included_messages: int = 4000
    line_extra_message: float = 0.2
    email_unit: float = 0.0  # SES's price is in US$ and tiny; a workspace may put its own here
    sms_segment: float = 1.5

    @classmethod
    def parse(cls, data: Any) -> Pricing:
        """A pricing document from the admin API; every field optional (defaults above)."""
        if not isinstance(data, dict):
            raise BadRequest("the pricing config is an object", code="invalid_pricing")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise BadRequest(f"unknown pricing fields: {sorted(unknown)}", code="invalid_pricing")
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name == "currency":
                if not isinstance(value, str) or not (len(value) == 3 and value.isalpha()):
                    raise BadRequest(
                        "`currency` is a 3-letter ISO code", code="invalid_pricing", details={"field": name}
                    )
                values[name] = value.upper()
            elif name == "line_included_messages":
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise BadRequest(
                        f"`{name}` is a whole number >= 0", code="invalid_pricing", details={"field": name}
                    )
                values[name] = value
            else:
                if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                    raise BadRequest(f"`{name}` is a number >= 0", code="invalid_pricing", details={"field": name})
                values[name] = float(value)
        return cls(**values)

    @classmethod
    def from_document(cls, document: dict[str, Any] | None) -> Pricing:
        try:
            return cls.parse(document or {})
        except BadRequest:
            return cls()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line_extra(self, *, consumption: int, messages: int) -> int:
        """Messages of this send beyond the plan's included ones, given this month's consumption."""
        before = max(0, consumption - self.line_included_messages)
        after = max(0, consumption + messages - self.line_included_messages)
        return after - before

    def estimate(self, *, line_messages: int, consumption: int, emails: int, sms_segments: int) -> dict[str, Any]:
        extra = self.line_extra(consumption=consumption, messages=line_messages)
        line = money(extra * self.line_extra_message)
        email = money(emails * self.email_unit)
        sms = money(sms_segments * self.sms_segment)
        return {
            "currency": self.currency,
            "line_extra_messages": extra,
            "line": line,
            "email": email,
            "sms": sms,
            "total": money(line + email + sms),
        }


def money(value: float) -> float:
    """Two decimals, half up (NT$0.2 x 1,000 is 200.0, not 199.99999)."""
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
