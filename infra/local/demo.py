"""`make demo`: start the local stack and play scenario S1 (衣著A) steps 1-6.

Everything goes through the real HTTP routes: LINE webhooks signed with the channel secret,
the web shop and the POS through the Segment-compatible API (with the official Segment SDK),
and profiles read back through the admin API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

from infra.local.config import LOCAL_CHANNEL
from infra.local.stack import LocalStack

AMY_LINE_USER = "U4af4980629a0b1c2d3e4f5a6b7c8d9e0"
NEW_FRIEND = "U9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e"
FIRST_PURCHASE = {"and": [{"not": {"event": {"name": "Order Completed"}}}, {"reachable": {"channel": "line"}}]}
VIP_PREVIEW = {
    "and": [
        {"event": {"name": "Order Completed", "within": {"last": {"days": 30}},
                   "aggregate": "sum", "property": "revenue", "op": "gt", "value": 3000}},
        {"event": {"name": "Link Clicked", "where": [{"property": "context.channel", "op": "eq", "value": "line"}]}},
    ]
}  # fmt: skip
BOT_USER = "U" + "0" * 31 + "1"
TAIPEI = ZoneInfo("Asia/Taipei")
COUPON = "🎉 歡迎加入！首購 8 折優惠券：結帳輸入 FIRST20（7 天內有效）"
PREVIEW = "Amy 您好，VIP 新品搶先看：羊毛大衣新色今晚 8 點開賣 https://shop.example.com/new"
# A link in a sent message: every URL of a template leaves as the recipient's tracked link.
TRACKED_LINK = re.compile(r"(?P<short>https?://[^/\s]+/r/(?P<code>[A-Za-z0-9_-]+))\?u=[A-Za-z0-9_.=-]+")
WHO = {AMY_LINE_USER: "Amy (U1, VIP member M1)", NEW_FRIEND: "U2 (the new friend)"}
LINE_STATUS_WORDS = {
    "friend": "a LINE friend of the OA",
    "blocked": "blocked the OA on LINE",
    "never_followed": "no LINE account known for her yet",
}


def say(text: str = "") -> None:
    print(text, flush=True)


class Demo:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.base = stack.base_url
        self.http = requests.Session()
        self.admin = {"Authorization": f"Bearer {stack.config.admin_token}"}
        self.browser = f"anon-{uuid.uuid4().hex[:12]}"

    # senders ---------------------------------------------------------------------------------
    def line(self, *events: dict[str, Any]) -> requests.Response:
        body = json.dumps({"destination": BOT_USER, "events": list(events)}, ensure_ascii=False).encode()
        digest = hmac.new(self.stack.config.line_channel_secret.encode(), body, hashlib.sha256).digest()
        return self.http.post(
            f"{self.base}/line/webhook/{LOCAL_CHANNEL}",
            data=body,
            headers={"Content-Type": "application/json", "x-line-signature": base64.b64encode(digest).decode()},
        )

    def segment_client(self) -> Any:
        import segment.analytics as analytics

        return analytics.Client(self.stack.config.write_key, host=self.base, sync_mode=True, max_retries=1)

    def lookup(self, id_type: str, value: str) -> dict[str, Any]:
        response = self.http.get(
            f"{self.base}/admin/v1/profiles/lookup", params={"type": id_type, "value": value}, headers=self.admin
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def drain(self) -> None:
        self.http.post(f"{self.base}/_local/drain").raise_for_status()

    def line_received(self, to: str | None = None) -> list[dict[str, Any]] | None:
        """What the LINE API accepted (the built-in fake's records), oldest first; None, said out
        loud, when the stack talks to another LINE endpoint (CDP_LINE_API_BASE_URL)."""
        params = {"to": to} if to else {}
        response = self.http.get(f"{self.base}/_local/line/sent", params=params, timeout=10)
        if response.status_code == 404 and response.json().get("error") == "line_fake_not_running":
            say(
                f"   (LINE is {self.stack.line_api_base_url}, not the built-in fake: what it received cannot be shown here)"
            )
            return None
        response.raise_for_status()
        sent: list[dict[str, Any]] = response.json()["sent"]
        return sent

    # the story -------------------------------------------------------------------------------
    def run(self) -> None:
        self.daytime()
        client = self.segment_client()
        say("① 門市 POS (in store): member M1 buys a coat for NT$5,000; the POS knows her phone 0912-345-678.")
        store = {"channel": "pos"}
        client.identify("M1", {"name": "Amy Chen", "phone": "0912-345-678"}, context=store)
        client.track(
            "M1",
            "Order Completed",
            {"order_id": "POS-20261123-0042", "revenue": 5000, "currency": "TWD", "store_id": "store-taipei-101",
             "products": [{"sku": "COAT-01", "name": "羊毛大衣", "price": 5000, "quantity": 1}]},
            context=store,
        )  # fmt: skip
        say("② 官網 (web shop): an anonymous visitor browses, then logs in as M1 with amy@example.com.")
        browser = self.browser
        client.page(anonymous_id=browser, name="New Arrivals", properties={"url": "https://shop.example.com/new"})
        client.track(anonymous_id=browser, event="Product Viewed", properties={"sku": "DRESS-7", "price": 2380})
        client.identify("M1", {"email": "Amy@Example.com "}, anonymous_id=browser)
        client.flush()
        say("③ LINE 官方帳號: LINE user U1 adds the brand as a friend and asks a question.")
        now = self.stack.clock.now_ms()  # LINE stamps events with its clock: the stack's
        follow = _line_event("follow", now, follow={"isUnblocked": False})
        question = _line_event(
            "message", now + 1500, message={"type": "text", "id": "5123456789", "text": "請問有新品嗎？"}
        )
        first = self.line(follow, question)
        redelivered = self.line({**follow, "deliveryContext": {"isRedelivery": True}})
        forged = self.http.post(
            f"{self.base}/line/webhook/{LOCAL_CHANNEL}", data=b'{"destination":"x","events":[]}',
            headers={"x-line-signature": "forged"},
        )  # fmt: skip
        say(f"   LINE webhook answered {first.status_code}; LINE's redelivery of the follow answered "
            f"{redelivered.status_code} and was stored once ({redelivered.json()['duplicates']} duplicate); "
            f"a forged request was refused with {forged.status_code} ({forged.json()['error']}).")  # fmt: skip
        self.drain()
        self.before_link()
        say()
        say("④ 帳號連動 (account link): logged in on the web shop as M1, Amy taps 「綁定 LINE」.")
        link = self.http.post(
            f"{self.base}/admin/v1/line/link-token",
            json={"lineUserId": AMY_LINE_USER, "memberId": "M1"},
            headers=self.admin,
        )
        if not link.ok:  # another LINE endpoint (CDP_LINE_API_BASE_URL) may not know this user
            say(f"   The LINE API at {self.stack.line_api_base_url} refused the link token ({link.status_code}: "
                f"{link.json().get('error')}); Amy's LINE account stays unlinked.")  # fmt: skip
            self.drain()
            self.report()
            self.segments()
            return
        issued = link.json()
        say(f"   The shop asked the CDP for a link: LINE issued link token {issued['linkToken'][:10]}…, the CDP")
        say(f"   bound a single-use nonce to M1 (valid until {issued['expiresAt']}) and returned the LINE URL.")
        if self.stack.line_fake is not None:
            linked = self.stack.line_fake.account_link_event(issued["linkToken"], issued["nonce"])
        else:  # LINE would send this webhook after Amy confirms; the demo plays that part
            linked = _line_event(
                "accountLink", self.stack.clock.now_ms(), link={"result": "ok", "nonce": issued["nonce"]}
            )
        answer = self.line(linked)
        reused = self.line({**linked, "webhookEventId": f"01J{uuid.uuid4().hex[:23].upper()}"})
        say(f"   Amy confirmed in LINE; LINE's accountLink webhook answered {answer.status_code}. A replay of the")
        say(f"   same nonce in a new event (answered {reused.status_code}) is stored but refused as already used.")
        self.drain()
        self.report()
        self.segments()

    def daytime(self) -> None:
        """Marketing pushes wait out quiet hours (22:00-09:00 Taipei): at night the story is told
        on the stack's virtual clock at 10:00 Taipei, said out loud."""
        now = datetime.fromtimestamp(self.stack.clock.now_ms() / 1000, tz=TAIPEI)
        if 9 <= now.hour < 21:
            return
        morning = now.replace(hour=10, minute=0, second=0, microsecond=0)
        if morning <= now:
            morning += timedelta(days=1)
        self.stack.clock.set(morning)
        say(f"(It is {now:%H:%M} in Taipei, inside the 22:00–09:00 quiet hours marketing pushes respect: the stack's")
        say(f" clock is set to {morning:%Y-%m-%d %H:%M} Taipei for the story.)")
        say()

    # campaigns ---------------------------------------------------------------------------------
    def campaign(self, campaign_id: str, name: str, segment_id: str, text: str) -> dict[str, Any]:
        """A LINE template and a campaign to a segment: preflight, then send now."""
        self.admin_call(
            "POST", "/admin/v1/templates",
            {"id": f"{campaign_id}-msg", "name": name, "line": {"messages": [{"type": "text", "text": text}]}},
        )  # fmt: skip
        self.admin_call(
            "POST",
            "/admin/v1/campaigns",
            {"id": campaign_id, "name": name, "segment_id": segment_id, "template_id": f"{campaign_id}-msg",
             "channels": ["line"], "budget": 100},
        )  # fmt: skip
        check = self.admin_call("POST", f"/admin/v1/campaigns/{campaign_id}/preflight")
        line = check["line"]
        quota = (
            "no monthly limit set on LINE" if line.get("quota") is None else f"{line['remaining']:,} left this month"
        )
        say(f"   Preflight of 「{name}」: {check['recipients']} recipient(s), {line['messages']} LINE message(s) "
            f"({quota}, {line['included_remaining']:,} still included in the plan), "
            f"estimated cost NT${check['cost']['total']:g} (budget NT$100).")  # fmt: skip
        self.admin_call("POST", f"/admin/v1/campaigns/{campaign_id}/send")
        self.drain()
        result: dict[str, Any] = self.admin_call("GET", f"/admin/v1/campaigns/{campaign_id}")
        say(f"   Sent: the campaign is {result['status']}, {result['runs_detail'][0]['enqueued']} send request(s) "
            "went through the send point (consent, caps, quiet hours, exactly once).")  # fmt: skip
        return result

    # segments ----------------------------------------------------------------------------------
    def admin_call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.base}{path}", json=body, headers=self.admin, timeout=60)
        response.raise_for_status()
        return response.json()

    def members(self, segment_id: str) -> list[str]:
        page = self.admin_call("GET", f"/admin/v1/segments/{segment_id}/members")
        return [member["profile_id"] for member in page["members"]]

    def segments(self) -> None:
        amy = self.lookup("member_id", "M1")["profile_id"]
        say()
        say("⑤ 分眾 (segments): the marketer saves two audiences; both are kept up to date in real time.")
        self.admin_call(
            "POST", "/admin/v1/segments", {"id": "first-purchase", "name": "首購 8 折", "rule": FIRST_PURCHASE}
        )
        self.admin_call(
            "POST", "/admin/v1/segments", {"id": "vip-preview", "name": "VIP 新品搶先看", "rule": VIP_PREVIEW}
        )
        time.sleep(1.2)  # the evaluators pick up new definitions within a second here
        preview = self.admin_call("POST", "/admin/v1/segments/preview", {"rule": FIRST_PURCHASE})
        deadline = time.monotonic() + 20
        while preview["population"] != 1 and time.monotonic() < deadline:  # the archive trails merges briefly
            time.sleep(0.5)
            preview = self.admin_call("POST", "/admin/v1/segments/preview", {"rule": FIRST_PURCHASE})
        say(f"   Preview of 「首購 8 折」 (never purchased AND LINE reachable): {preview['count']} of "
            f"{preview['population']} people, in {preview['query_ms']:.0f} ms. Amy is not one: she bought in store.")  # fmt: skip
        now = self.stack.clock.now_ms()  # LINE stamps events with its clock: the stack's
        self.line(_line_event("follow", now, user=NEW_FRIEND, follow={"isUnblocked": False}))
        self.drain()
        newcomer = self.lookup("line", NEW_FRIEND)["profile_id"]
        in_first = self.members("first-purchase")
        say(f"   A new friend U2 follows the OA → enters 「首購 8 折」 at once "
            f"({'✓' if newcomer in in_first else '✗'}); Amy {'is' if amy in in_first else 'is not'} in it "
            f"(members now: {len(in_first)}).")  # fmt: skip
        self.campaign("first-purchase-coupon", "首購 8 折優惠券", "first-purchase", COUPON)
        say()
        say("⑥ 追蹤連結 (tracked link): a LINE push to Amy carries a personal tracked link to the new arrivals.")
        link = self.admin_call(
            "POST", "/admin/v1/links",
            {"url": "https://shop.example.com/new", "src": "line-push", "campaign": "new-arrivals-2026w48"},
        )  # fmt: skip
        personal = self.admin_call(
            "POST", f"/admin/v1/links/{link['code']}/personal", {"line_user_id": AMY_LINE_USER, "channel": "line"}
        )
        before = len(self.members("vip-preview"))
        click = self.http.get(
            personal["url"].replace(personal["url"].split("/r/")[0], self.base), allow_redirects=False
        )
        self.drain()
        after = self.members("vip-preview")
        history = self.admin_call("GET", "/admin/v1/segments/vip-preview/history")["changes"]
        entered_at = next((c["at"] for c in history if c["profile_id"] == amy and c["action"] == "entered"), None)
        say(f"   Amy taps it: {click.status_code} → {click.headers.get('Location', '').split('?')[0]}, click recorded "
            f"for her (spent NT$5,000 in 30 days).")  # fmt: skip
        say(f"   「VIP 新品搶先看」 members: {before} → {len(after)}; Amy entered at {entered_at} "
            f"({'✓' if amy in after else '✗'}), so she gets the preview, not the first-purchase coupon.")  # fmt: skip
        tags = self.lookup("member_id", "M1")["tags"]
        say("   Her tags now: " + ", ".join(f"{tag} ({entry['source']})" for tag, entry in tags.items()))
        self.campaign("vip-preview-w48", "VIP 新品搶先看", "vip-preview", PREVIEW)
        self.what_line_received()

    def what_line_received(self) -> None:
        say()
        say("What the LINE Messaging API received")
        sent = self.line_received()
        if sent is None:
            return
        if not sent:
            say("   no message was sent to LINE")
        for record in sent:
            texts = [self.readable(m.get("text") or m.get("altText") or m["type"]) for m in record["messages"]]
            people = ", ".join(WHO.get(to, to) for to in record["recipients"])
            say(f"   • {people} received on LINE: 「{' | '.join(texts)}」")
        to_amy = [
            self.plain(m.get("text", "")) for r in sent if AMY_LINE_USER in r["recipients"] for m in r["messages"]
        ]
        to_u2 = [self.plain(m.get("text", "")) for r in sent if NEW_FRIEND in r["recipients"] for m in r["messages"]]
        say(f"   The first-purchase coupon reached U2 {to_u2.count(COUPON)} time(s) and Amy {to_amy.count(COUPON)} "
            f"time(s): she already bought, so she gets the VIP preview ({to_amy.count(PREVIEW)}) instead.")  # fmt: skip

    def plain(self, text: str) -> str:
        """The message as the marketer wrote it: each tracked link read back as its destination."""
        return TRACKED_LINK.sub(lambda match: self.destination(match["code"]), text)

    def readable(self, text: str) -> str:
        """The message with each tracked link shown as what it is: the person's own link, and where it goes."""
        return TRACKED_LINK.sub(
            lambda match: f"[{match['short']}…: her own tracked link → {self.destination(match['code'])}]", text
        )

    def destination(self, code: str) -> str:
        return str(self.admin_call("GET", f"/admin/v1/links/{code}")["url"])

    def before_link(self) -> None:
        amy = self.lookup("member_id", "M1")
        friend = self.lookup("line", AMY_LINE_USER)
        say()
        say("Before the link")
        say(f"   Store + web: profile {amy['profile_id']} has "
            + ", ".join(_label(i["type"]) for i in amy["identifiers"]))  # fmt: skip
        say("   (her pre-login browsing was merged in when she logged in: "
            f"{len(self.merges(amy['profile_id']))} merge on Step Functions)")  # fmt: skip
        said = next(e["properties"].get("text") for e in friend["events"] if e.get("event") == "LINE Message Received")
        say(f"   LINE: profile {friend['profile_id']} is a separate, anonymous LINE friend who said 「{said}」")

    def merges(self, profile_id: str) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.base}/admin/v1/profiles/{profile_id}/merges", headers=self.admin)
        response.raise_for_status()
        merges: list[dict[str, Any]] = response.json()["merges"]
        return merges

    def report(self) -> None:
        amy = self.lookup("phone", "0912345678")
        say()
        say("What the CDP knows now")
        say("──────────────────────")
        say(f"One customer profile {amy['profile_id']} (found by phone 0912-345-678):")
        for identifier in amy["identifiers"]:
            say(f"   • {_label(identifier['type'])}: {identifier['value']}")
        traits = amy["traits"]
        say(f"   name: {traits.get('name')}   email on file: {traits.get('email')}")
        stats = amy["stats"]
        say(f"   channels: {_channels(stats['channels'])}  →  channel mix: {stats['channel_mix']}")
        purchases = [e for e in amy["events"] if e.get("event") == "Order Completed"]
        if purchases:
            order = purchases[0]["properties"]
            say(f"   purchase: NT${order['revenue']:,} at {order['store_id']} (order {order['order_id']})")
        say(f"   orders: {amy['orders']['count']}, spent: "
            + ", ".join(f"{currency} {total:,.0f}" for currency, total in amy["orders"]["revenue"].items()))  # fmt: skip
        say(f"   LINE: {LINE_STATUS_WORDS.get(amy['line']['status'], amy['line']['status'])}")
        say(f"   timeline: {stats['event_count']} events from the store, the web shop and LINE")
        same = {
            "email amy@example.com": self.lookup("email", "amy@example.com")["profile_id"],
            "LINE user U1": self.lookup("line", AMY_LINE_USER)["profile_id"],
            "the pre-login browser": self.lookup("anonymous_id", self.browser)["profile_id"],
        }
        say("   every island finds the same person: "
            + ", ".join(f"{name} → {'✓' if pid == amy['profile_id'] else pid}" for name, pid in same.items()))  # fmt: skip
        merges = self.merges(amy["profile_id"])
        say()
        say(f"Merges into this profile ({len(merges)}), each undoable with POST /admin/v1/profiles/{{id}}/unmerge:")
        for merge in merges:
            say(f"   • {merge['merge_id']}: {merge['loser']} → {merge['status']}, "
                f"{len(merge['identifiers'])} identifiers and {merge['events_moved']} events moved")  # fmt: skip
        published = self.http.get(f"{self.base}/_local/events", timeout=10).json()["events"]
        counts: dict[str, int] = {}
        for event in published:
            counts[event["detail-type"]] = counts.get(event["detail-type"], 0) + 1
        say()
        say("Published on the event bus for downstream journeys and segments: "
            + ", ".join(f"{name} ×{count}" for name, count in sorted(counts.items())))  # fmt: skip


def _line_event(kind: str, timestamp: int, *, user: str = AMY_LINE_USER, **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "mode": "active",
        "timestamp": timestamp,
        "source": {"type": "user", "userId": user},
        "webhookEventId": f"01J{uuid.uuid4().hex[:23].upper()}",
        "deliveryContext": {"isRedelivery": False},
        "replyToken": uuid.uuid4().hex,
        **extra,
    }


def _label(id_type: str) -> str:
    return {
        "member_id": "member ID",
        "phone": "phone",
        "email": "email",
        "anonymous_id": "web browser (anonymous ID)",
        "line": "LINE user",
    }.get(id_type, id_type)


def _channels(channels: dict[str, int]) -> str:
    names = {"pos": "store", "web": "web shop", "line": "LINE"}
    return ", ".join(f"{names.get(c, c)} ({n})" for c, n in sorted(channels.items()))


def main() -> None:
    os.environ.setdefault("CDP_LOCAL_LOG_LEVEL", "ERROR")
    os.environ.setdefault("CDP_PORT", "0")
    os.environ.setdefault("CDP_SEGMENT_DEFINITIONS_CACHE_SECONDS", "1")  # new segments apply within a second
    # The functions' CloudWatch metric lines (EMF on stdout) are for CloudWatch, not for the story.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    say("Starting the local stack (embedded AWS on 127.0.0.1, LINE API fake)…")
    with LocalStack() as stack:
        say(stack.describe())
        say()
        say("Scenario S1 — 衣著A: one customer, three islands of data")
        say()
        Demo(stack).run()


if __name__ == "__main__":
    main()
