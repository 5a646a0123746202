"""Scenario S3, the welcome journey with a link-click branch, over HTTP on the local stack: a new
friend gets a welcome message with a tracked link; a click within 2 days tags
`interested:shoes` and sends the shoes promotion; no click: an email when an email is known and
consented, else a second LINE nudge. The report shows CTR per branch."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import Stack, unique
from tests.e2e.journey_helpers import (
    admin,
    definition,
    ended,
    published_journey,
    report,
    runs,
    tap,
    template,
    texts,
    wait_for,
    waiting,
)
from tests.e2e.test_campaigns import follower, member_on_line, taipei_at

# Journeys run on a local stack of their own (the other worker's): they are the longest e2e group.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-journeys")]

WELCOME = "歡迎加入！新款鞋款看這裡 https://shop.example.com/c/shoes"
PROMOTION = "鞋款 85 折，只到週日 https://shop.example.com/c/shoes/sale"
NUDGE = "還沒逛逛嗎？本週新品 https://shop.example.com/new"
TRACKED = re.compile(r"http://127\.0\.0\.1:\d+/r/[A-Za-z0-9_-]+\?u=[A-Za-z0-9_.=-]+")


def _link(text: str) -> str:
    found = TRACKED.search(text)
    assert found, f"no tracked link in {text!r}"
    return found.group(0)


def test_s3_welcome_branches_on_the_click_and_reports_ctr_per_branch(clock: Stack) -> None:
    stack = clock
    taipei_at(stack, 10)
    ids = {
        "welcome": template(stack, "welcome", WELCOME),
        "shoes-promotion": template(stack, "shoes-promo", PROMOTION),
        "nudge": template(stack, "nudge", NUDGE, email=True),
    }
    with published_journey(stack, definition("s3-welcome", ids)) as journey_id:
        # Three new friends: Ava will click, Ben will not, Cleo will not but gave her email.
        ava_line, ava = follower(stack, "s3-ava")
        ben_line, ben = follower(stack, "s3-ben")
        email = f"{unique('cleo')}@example.com"
        cleo_line, cleo = member_on_line(stack, "Cleo Hsu", email=email)
        consent = admin(stack, "POST", f"/admin/v1/profiles/{cleo}/consent", {"channel": "email", "granted": True})
        assert consent.status_code in (200, 202), consent.text
        for profile_id in (ava, ben, cleo):
            waiting(stack, journey_id, profile_id, "wait_click")
        for line_user in (ava_line, ben_line, cleo_line):
            assert len(texts(stack, line_user)) == 1 and "歡迎加入" in texts(stack, line_user)[0]

        # Ava taps the welcome link 5 hours later: tagged, and the promotion at once.
        stack.move_clock(advance="PT5H")
        tap(stack, _link(texts(stack, ava_line)[0]))
        ava_run = ended(stack, journey_id, ava)
        assert [step["node"] for step in ava_run["path"]] == [
            "welcome",
            "wait_click",
            "tag_interest",
            "promotion",
            "done",
        ]
        assert "interested:shoes" in stack.lookup("line", ava_line)["tags"]
        assert len(texts(stack, ava_line)) == 2 and "85 折" in texts(stack, ava_line)[1]
        tap(stack, _link(texts(stack, ava_line)[1]))

        # Two days pass: Ben gets the LINE nudge, Cleo the email (and no second LINE message).
        stack.move_clock(advance="P2DT1M")
        ben_run, cleo_run = ended(stack, journey_id, ben), ended(stack, journey_id, cleo)
        assert ben_run["branches"] == {"reach": "else"} and ben_run["sent"]["line_nudge"] == "sent"
        assert cleo_run["branches"] == {"reach": "email"} and cleo_run["sent"]["email_nudge"] == "sent"
        assert len(texts(stack, ben_line)) == 2 and "本週新品" in texts(stack, ben_line)[1]
        assert len(texts(stack, cleo_line)) == 1
        mails = stack.http.get(stack.url("/_local/email/sent"), params={"to": email}, timeout=30).json()["sent"]
        assert len(mails) == 1 and "本週新品" in str(mails[0])
        tap(stack, _link(texts(stack, ben_line)[1]))
        stack.drain()

        # CTR per branch: the welcome 1 of 3; after a click the promotion 1 of 1; the LINE nudge
        # 1 of 1; the email nudge 0 of 1.
        def clicks_counted() -> bool:
            figures = report(stack, journey_id)
            return bool(figures["nodes"]["line_nudge"]["clicked"] == 1)

        wait_for(stack, clicks_counted, "the nudge's click in the report")
        figures = report(stack, journey_id)
        welcome = figures["nodes"]["welcome"]
        assert (welcome["sent"], welcome["clicked"], welcome["ctr"]) == (3, 1, pytest.approx(1 / 3, abs=1e-4))
        branches = figures["branches"]
        assert branches["wait_click"]["received"]["runs"] == 1
        received = branches["wait_click"]["received"]
        assert (received["sent"], received["ctr"]) == (1, 1.0), runs(stack, journey_id, ava)
        assert branches["wait_click"]["timed_out"]["runs"] == 2
        assert branches["wait_click"]["timed_out"]["ctr"] == 0.5
        assert (branches["reach"]["else"]["runs"], branches["reach"]["else"]["ctr"]) == (1, 1.0)
        assert (branches["reach"]["email"]["runs"], branches["reach"]["email"]["ctr"]) == (1, 0.0)
        assert figures["runs"]["exited"] == {"completed": 3}
