"""PII masking: which principal gets masked answers, and what the masking pass changes (phones and
emails wherever an answer carries them) and leaves alone (ids, consent keys, times, numbers)."""

from __future__ import annotations

import sys

import pytest
from cdp.access.masking import can_reveal, decide, mask, mask_email, mask_phone
from cdp.access.principal import BOOTSTRAP, Principal


def _principal(role: str, kind: str = "user") -> Principal:
    return Principal(subject=f"{kind}-{role}", role=role, kind=kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("principal", "reveal", "masked", "revealed"),
    [
        (_principal("viewer"), False, True, False),
        (_principal("viewer", "service"), False, True, False),
        (_principal("marketer"), False, True, False),
        (_principal("admin"), False, True, False),
        (_principal("marketer"), True, False, True),
        (_principal("admin"), True, False, True),
        (_principal("marketer", "service"), False, False, False),
        (BOOTSTRAP, False, False, False),
        (BOOTSTRAP, True, False, True),
        (None, False, True, False),
    ],
)
def test_who_gets_masked_answers(principal: Principal | None, reveal: bool, masked: bool, revealed: bool) -> None:
    decision = decide(principal, reveal=reveal)
    assert (decision.mask, decision.revealed) == (masked, revealed)


def test_only_marketers_and_admins_can_reveal() -> None:
    assert [can_reveal(_principal(role)) for role in ("viewer", "marketer", "admin")] == [False, True, True]
    assert not can_reveal(None)


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("+886912345678", "+*********678"),
        ("0912-345-678", "****-***-678"),
        ("(02) 2345 6789", "(**) **** *789"),
        ("12", "**"),
    ],
)
def test_a_phone_keeps_its_last_three_digits_and_its_separators(raw: str, masked: str) -> None:
    assert mask_phone(raw) == masked


def test_an_email_keeps_its_first_character_and_domain_also_inside_text() -> None:
    assert mask_email("Amy.Lin@Example.com") == "A***@Example.com"
    assert (
        mask_email("write to amy@example.com or bob@shop.example.tw")
        == "write to a***@example.com or b***@shop.example.tw"
    )


def test_the_masking_pass_over_a_360_view_a_timeline_and_a_merge_ledger() -> None:
    answer = {
        "profile_id": "p-5d0c",
        "identifiers": [
            {"type": "phone", "value": "+886912345678", "added_at": "2024-05-01T09:00:00Z"},
            {"type": "email", "value": "amy.lin@example.com", "added_at": "2024-05-01T09:00:00Z"},
            {"type": "line", "value": "default:U4af4980629", "added_at": "2024-05-01T09:00:00Z"},
            {"type": "member_id", "value": "M-1001", "added_at": "2024-05-01T09:00:00Z"},
        ],
        "traits": {"phone": "0912-345-678", "Email": "amy.lin@example.com", "name": "林小美", "ltv": 5000},
        "consent": {"email:marketing": {"granted": True}, "sms:marketing": {"granted": False}},
        "rejected_identifiers": [{"type": "phone", "value": "12345", "reason": "invalid_phone"}],
        "events": [
            {
                "event": "Order Completed",
                "context": {"traits": {"email": "amy.lin@example.com"}, "ip": "203.0.113.9"},
                "properties": {
                    "contact": "+886912345678",
                    "note": "ship to amy.lin@example.com, call +886912345678",
                    "revenue": 5000,
                },
                "timestamp": "2024-05-01T09:05:00Z",
            }
        ],
        "identifier_keys": ["phone:+886912345678", "email:amy.lin@example.com", "member_id:M-1001"],
        "phone:+886912345678": "a key",
        "count": 3,
        "share": 0.5,
        "active": True,
        "missing": None,
    }
    assert mask(answer) == {
        "profile_id": "p-5d0c",
        "identifiers": [
            {"type": "phone", "value": "+*********678", "added_at": "2024-05-01T09:00:00Z"},
            {"type": "email", "value": "a***@example.com", "added_at": "2024-05-01T09:00:00Z"},
            {"type": "line", "value": "default:U4af4980629", "added_at": "2024-05-01T09:00:00Z"},
            {"type": "member_id", "value": "M-1001", "added_at": "2024-05-01T09:00:00Z"},
        ],
        "traits": {"phone": "****-***-678", "Email": "a***@example.com", "name": "林小美", "ltv": 5000},
        "consent": {"email:marketing": {"granted": True}, "sms:marketing": {"granted": False}},
        "rejected_identifiers": [{"type": "phone", "value": "****5", "reason": "invalid_phone"}],
        "events": [
            {
                "event": "Order Completed",
                "context": {"traits": {"email": "a***@example.com"}, "ip": "203.0.113.9"},
                "properties": {
                    "contact": "+*********678",
                    "note": "ship to a***@example.com, call +*********678",
                    "revenue": 5000,
                },
                "timestamp": "2024-05-01T09:05:00Z",
            }
        ],
        "identifier_keys": ["phone:+*********678", "email:a***@example.com", "member_id:M-1001"],
        "phone:+*********678": "a key",
        "count": 3,
        "share": 0.5,
        "active": True,
        "missing": None,
    }


def test_a_phone_key_holding_something_else_is_hidden_whole() -> None:
    assert mask({"phone": "call me maybe"}) == {"phone": "***"}
    assert mask({"email": "not an address"}) == {"email": "***"}


def test_log_lines_lose_phones_emails_and_credentials_but_keep_ids_and_times() -> None:
    from cdp.access.masking import scrub_log_text

    line = (
        '{"message":"refused +886912345678 / 0912-345-678 / 0912345678 / Amy.Lin@Example.com",'
        '"auth":"Bearer local-dev-admin-token","basic":"Basic bG9jYWw6","arn":"arn:aws:lambda:ap-northeast-1:'
        '000000000000:function:x","timestamp":"2026-12-07 11:36:47,927+0000","ms":1733509123456,"id":"p-0912345678a"}'
    )
    assert scrub_log_text(line) == (
        '{"message":"refused +*********678 / ****-***-678 / *******678 / A***@Example.com",'
        '"auth":"Bearer ***","basic":"Basic ***","arn":"arn:aws:lambda:ap-northeast-1:'
        '000000000000:function:x","timestamp":"2026-12-07 11:36:47,927+0000","ms":1733509123456,"id":"p-0912345678a"}'
    )


def test_the_functions_logger_scrubs_every_field_and_the_exception(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from cdp.observability import ScrubbingFormatter

    formatter = ScrubbingFormatter()
    import logging

    try:
        raise ValueError("no profile holds phone:+886912345678")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "for %s", ("amy@example.com",), sys.exc_info())
    record.__dict__["traits"] = {"email": "amy@example.com"}
    line = json.loads(formatter.format(record))
    assert line["message"] == "for a***@example.com"
    assert "886912345678" not in line["exception"] and "amy@example.com" not in json.dumps(line)
