"""Auto-replies (S5): which LINE events get which reply, the send request they become, the
configuration's validation, and the processor handing a reply over once per event (replays
included) without putting the reply token anywhere it is kept."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdp.errors import BadRequest
from cdp.events.canonical import EventNormalizer
from cdp.identity.identifiers import IdentifierNormalizer
from cdp.messaging.auto_reply import AutoReplier, AutoReplies, Reply, choose_reply, reply_request
from cdp.messaging.request import SendRequest
from cdp.profiles.processor import EventProcessor
from cdp.profiles.tag_rules import TagRules

from tests.fakes import FakeProfileStore, FakePublisher, FakeSendRequests, FixedClock
from tests.fixtures import line_events as line
from tests.unit.builders import LINE_CHANNEL, NOW_MS, line_raw

RULES = TagRules.from_dict(
    {
        "keywords": [
            {"keyword": "尺寸", "tag": "asked:size", "reply": {"template_id": "size-guide"}},
            {"keyword": "SALE", "tag": "asked:sale"},  # tags only: the fallback still answers
            {"keyword": "營業時間", "reply": {"template_id": "hours", "fallback_to_push": False}},
        ],
        "postbacks": [
            {"match": {"survey": "size"}, "trait": "size", "reply": {"template_id": "thanks", "purpose": "marketing"}},
        ],
    }
)
REPLIES = AutoReplies.from_dict(
    {"channels": {LINE_CHANNEL: {"greeting": {"template_id": "welcome"}, "fallback": {"template_id": "menu"}}}}
)
NORMALIZER = EventNormalizer(IdentifierNormalizer("TW"))


def chosen(payload: dict[str, Any], *, channel: str = LINE_CHANNEL) -> str | None:
    reply = choose_reply(NORMALIZER.normalize(line_raw(payload, channel=channel)), RULES, REPLIES)
    return reply.template_id if reply else None


@pytest.mark.parametrize(
    ("payload", "template"),
    [
        (line.text_message("請問這件的尺寸怎麼選？"), "size-guide"),
        (line.text_message("營業時間?"), "hours"),
        (line.text_message("any SALE?"), "menu"),  # a rule without a reply: the fallback
        (line.text_message("你好"), "menu"),
        (line.image_message(), "menu"),  # any message nothing matched
        (line.follow(), "welcome"),
        (line.follow(is_unblocked=True), "welcome"),
        (line.postback("survey=size&answer=M"), "thanks"),
        (line.postback("survey=style&answer=x"), None),  # postbacks have no fallback
        (line.unfollow(), None),
        (line.text_message("尺寸", source=line.group_source()), None),  # groups are not answered
        (line.text_message("尺寸", mode="standby"), None),  # another channel answers in standby
        (line.text_message("尺寸", replyable=False), None),  # no reply token
    ],
)
def test_which_reply_an_event_gets(payload: dict[str, Any], template: str | None) -> None:
    assert chosen(payload) == template


def test_greeting_and_fallback_are_per_channel() -> None:
    assert chosen(line.follow(), channel="store-oa") is None
    assert chosen(line.text_message("你好"), channel="store-oa") is None
    assert chosen(line.text_message("尺寸"), channel="store-oa") == "size-guide"  # rules are the workspace's


def test_the_reply_token_is_kept_typed_and_never_stored() -> None:
    payload = line.text_message("尺寸")
    event = NORMALIZER.normalize(line_raw(payload))
    assert event.reply_token == payload["replyToken"]
    stored = json.dumps(event.as_dict(), ensure_ascii=False)
    assert payload["replyToken"] not in stored and "replyToken" not in stored


def test_the_request_is_a_valid_send_request_keyed_by_the_line_event() -> None:
    payload = line.text_message("營業時間")
    event = NORMALIZER.normalize(line_raw(payload))
    reply = RULES.reply_for_text("營業時間")
    assert reply is not None
    request = SendRequest.model_validate(reply_request(event, "prof_1", reply))
    assert request.send_key == f"auto-reply:line#{LINE_CHANNEL}#{payload['webhookEventId']}"
    assert (request.kind, request.purpose, request.channels) == ("auto_reply", "transactional", ["line"])
    assert request.reply_token == payload["replyToken"] and request.reply_fallback_to_push is False
    assert request.line_channel == LINE_CHANNEL and request.data["text"] == "營業時間"


def processor(requests: FakeSendRequests, store: FakeProfileStore | None = None) -> EventProcessor:
    return EventProcessor(
        NORMALIZER,
        store or FakeProfileStore(),
        FakePublisher(),
        FixedClock(NOW_MS),
        tag_rules=lambda: RULES,
        auto_replies=AutoReplier(lambda: REPLIES, requests),
    )


def test_the_processor_hands_the_reply_over_after_the_commit_and_again_on_a_replay() -> None:
    requests, store = FakeSendRequests(), FakeProfileStore()
    raw = line_raw(line.text_message("尺寸"))
    first = processor(requests, store).process(raw)
    assert first.outcome == "applied"
    assert [tag["tag"] for tag in (first.event.derived.tags if first.event.derived else [])] == ["asked:size"]
    replay = processor(requests, store).process(raw)
    assert replay.outcome == "already_applied"
    # Twice handed over, one send key: the send point's ledger sends it once.
    assert [r["send_key"] for r in requests.submitted] == [f"auto-reply:{raw.event_id}"] * 2
    assert requests.submitted[0]["profile_id"] == first.profile_id == replay.profile_id


def test_a_failed_hand_over_fails_the_record_so_it_is_retried() -> None:
    requests, store = FakeSendRequests(fail=1), FakeProfileStore()
    raw = line_raw(line.follow())
    with pytest.raises(RuntimeError):
        processor(requests, store).process(raw)
    assert processor(requests, store).process(raw).outcome == "already_applied"
    assert [r["template_id"] for r in requests.submitted] == ["welcome"]


def test_events_without_a_reply_hand_nothing_over() -> None:
    requests = FakeSendRequests()
    processor(requests).process(line_raw(line.unfollow()))
    processor(requests).process(line_raw(line.join()))
    assert requests.submitted == []


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ({"channels": {"bad name": {}}}, "invalid_channel"),
        ({"channels": {"oa": {"welcome": {"template_id": "x"}}}}, "invalid_auto_replies"),
        ({"channels": {"oa": {"greeting": {}}}}, "invalid_reply"),
        ({"channels": {"oa": {"greeting": {"template_id": "a b"}}}}, "invalid_reply"),
        ({"channels": {"oa": {"greeting": {"template_id": "x", "purpose": "promo"}}}}, "invalid_reply"),
        ({"channels": {"oa": {"fallback": {"template_id": "x", "fallback_to_push": "yes"}}}}, "invalid_reply"),
        ({"channels": []}, "invalid_auto_replies"),
        ({"greeting": {}}, "invalid_auto_replies"),
    ],
)
def test_bad_auto_replies_are_refused_naming_the_field(document: dict[str, Any], code: str) -> None:
    with pytest.raises(BadRequest) as caught:
        AutoReplies.from_dict(document)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("rules", "code"),
    [
        ({"keywords": [{"keyword": "尺寸"}]}, "invalid_tag"),  # neither a tag nor a reply
        ({"keywords": [{"keyword": " ", "reply": {"template_id": "x"}}]}, "invalid_keyword"),
        ({"keywords": [{"keyword": "尺寸", "reply": {"template": "x"}}]}, "invalid_reply"),
        ({"postbacks": [{"match": {"a": "b"}, "reply": "x"}]}, "invalid_reply"),
    ],
)
def test_bad_rule_replies_are_refused(rules: dict[str, Any], code: str) -> None:
    with pytest.raises(BadRequest) as caught:
        TagRules.from_dict(rules)
    assert caught.value.code == code


def test_configuration_round_trips_and_names_its_templates() -> None:
    assert AutoReplies.from_dict(REPLIES.as_dict()) == REPLIES
    assert TagRules.from_dict(RULES.as_dict()) == RULES
    assert REPLIES.template_ids() == {"welcome", "menu"}
    assert RULES.template_ids() == {"size-guide", "hours", "thanks"}
    assert RULES.reply_for_postback("survey=size&answer=L") == Reply("thanks", "marketing")
