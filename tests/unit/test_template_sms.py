"""SMS segments at the GSM-7 and UCS-2 boundaries (what a Chinese SMS really costs)."""

from __future__ import annotations

import pytest
from cdp.messaging.templates.sms import sms_size


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "gsm7", 0, 0),
        ("a" * 160, "gsm7", 160, 1),
        ("a" * 161, "gsm7", 161, 2),
        ("a" * 306, "gsm7", 306, 2),
        ("a" * 307, "gsm7", 307, 3),
        ("@£$¥èé" + "Ξ" * 154, "gsm7", 160, 1),  # GSM's own letters, Greek capitals included
        ("€" * 80, "gsm7", 160, 1),  # extension characters count two septets
        ("€" * 81, "gsm7", 162, 2),
        ("a" * 152 + "{" + "a" * 152, "gsm7", 306, 3),  # an escape pair is never split across segments
        ("a" * 159 + "[", "gsm7", 161, 2),
        ("中" * 70, "ucs2", 70, 1),
        ("中" * 71, "ucs2", 71, 2),
        ("中" * 134, "ucs2", 134, 2),
        ("中" * 135, "ucs2", 135, 3),
        ("a" * 159 + "中", "ucs2", 160, 3),  # one Chinese character makes the whole text UCS-2
        ("😀" * 35, "ucs2", 70, 1),  # outside the BMP: two UTF-16 units
        ("😀" * 36, "ucs2", 72, 2),
        ("a" * 66 + "😀" + "a" * 66, "ucs2", 134, 3),  # a surrogate pair is never split
        ("ç", "ucs2", 1, 1),  # not in GSM 03.38 (only Ç is)
    ],
)
def test_segments(text: str, encoding: str, units: int, segments: int) -> None:
    size = sms_size(text)
    assert (size.encoding, size.units, size.segments) == (encoding, units, segments)
