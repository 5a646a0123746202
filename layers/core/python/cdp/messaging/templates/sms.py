"""SMS segments: what one text costs (GSM 03.38 / 3GPP TS 23.038 and TS 23.040 concatenation).

A text that only uses the GSM 7-bit default alphabet is sent as GSM-7: 160 septets in one
message, 153 per segment when split (the concatenation header takes 7). The extension table's
characters (`{}[]~\\|^€` and form feed) take two septets (an escape and the character). Any other
character makes the whole text UCS-2: 70 UTF-16 code units in one message, 67 per segment; a
character outside the Basic Multilingual Plane (most emoji) is two units. A segment never splits
an escape sequence or a surrogate pair, as phones and carriers split them, so counts are exact.
Chinese text is UCS-2: 70 characters fit in one SMS, 71 need two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
MAX_SMS_SEGMENTS = 10  # a text longer than this is refused at save time (carriers cap concatenation)

Encoding = Literal["gsm7", "ucs2"]


@dataclass(frozen=True, slots=True)
class SmsSize:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def sms_size(text: str) -> SmsSize:
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        widths = [2 if char in GSM7_EXTENSION else 1 for char in text]
        return SmsSize("gsm7", sum(widths), _segments(widths, GSM7_SINGLE, GSM7_PART))
    widths = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return SmsSize("ucs2", sum(widths), _segments(widths, UCS2_SINGLE, UCS2_PART))


def sms_segments(text: str) -> int:
    return sms_size(text).segments


def _segments(widths: list[int], single: int, part: int) -> int:
    total = sum(widths)
    if total == 0:
        return 0
    if total <= single:
        return 1
    segments, used = 1, 0
    for width in widths:  # an indivisible character that does not fit opens the next segment
        if used + width > part:
            segments, used = segments + 1, 0
        used += width
    return segments
