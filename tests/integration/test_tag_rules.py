"""Tag rules through the admin_api handler and the event processor on moto: keyword and postback
rules tag LINE friends and set zero-party traits, recorded on the timeline."""

from __future__ import annotations

import json
from typing import Any

from cdp.adapters.dynamodb.tag_rules import DynamoTagRules

from tests.fixtures import line_events
from tests.fixtures.line_events import BASE_TIMESTAMP_MS, CHANNEL_SECRET, signed_delivery
from tests.integration.conftest import ADMIN_TOKEN, LINE_CHANNEL, RawStream, Stack, api_event, response_json

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
RULES = {
    "keywords": [
        {"keyword": "尺寸", "tag": "asked:size"},
        {"keyword": r"退(貨|換)", "match": "regex", "tag": "asked:return"},
    ],
    "postbacks": [{"match": {"survey": "size"}, "trait": "size", "tag": "size:{value}"}],
}


def call(stack: Stack, method: str, path: str, body: Any = None, **query: str) -> tuple[int, Any]:
    event = api_event(
        method, path, headers=BEARER, body=json.dumps(body) if body is not None else None, query=query or None
    )
    response = stack.invoke("admin_api", event)
    return response["statusCode"], response_json(response)


def test_tag_rules_start_empty_and_change_with_compare_and_set(stack: Stack) -> None:
    status, rules = call(stack, "GET", "/admin/v1/tags/rules")
    assert (status, rules) == (200, {"keywords": [], "postbacks": [], "version": 0})

    status, stored = call(stack, "PUT", "/admin/v1/tags/rules", {**RULES, "version": 0})
    assert status == 200, stored
    assert stored["version"] == 1 and stored["keywords"][0] == {
        "keyword": "尺寸",
        "match": "contains",
        "tag": "asked:size",
    }
    assert DynamoTagRules(stack.client("dynamodb"), stack.core_table).get().version == 1

    status, error = call(stack, "PUT", "/admin/v1/tags/rules", {**RULES, "version": 0})
    assert (status, error["error"]) == (409, "rules_version_conflict")
    for body, code in [
        ({"keywords": [{"keyword": "(", "match": "regex", "tag": "x"}]}, "invalid_regex"),
        ({"keywords": [{"keyword": "x", "match": "fuzzy", "tag": "x"}]}, "invalid_match_mode"),
        ({"keywords": [{"keyword": "x" * 201, "tag": "x"}]}, "invalid_keyword"),
        ({"keywords": [{"keyword": "x", "tag": ""}]}, "invalid_tag"),
        ({"postbacks": [{"match": {}, "trait": "size"}]}, "invalid_postback_match"),
        ({"postbacks": [{"match": {"survey": "size"}, "trait": "no spaces"}]}, "invalid_trait_name"),
        ({"colour": "blue"}, "unknown_rule_field"),
        ({"version": "1"}, "invalid_version"),
    ]:
        status, error = call(stack, "PUT", "/admin/v1/tags/rules", {**body, "version": body.get("version", 1)})
        assert (status, error["error"]) == (400, code), body


def test_a_question_and_a_survey_answer_on_line_tag_the_friend_and_set_a_trait(
    stack: Stack, raw_stream: RawStream
) -> None:
    # Given the workspace's rules
    assert call(stack, "PUT", "/admin/v1/tags/rules", {**RULES, "version": 0})[0] == 200
    user = line_events.user_id("tag-rules")
    source = line_events.user_source(user)

    # When a friend asks about sizes and answers the size survey
    events = [
        line_events.follow(source=source, timestamp=BASE_TIMESTAMP_MS),
        line_events.text_message("請問這件的尺寸怎麼選？", source=source, timestamp=BASE_TIMESTAMP_MS + 1000),
        line_events.postback("survey=size&answer=M", source=source, timestamp=BASE_TIMESTAMP_MS + 2000),
    ]
    body, signature = signed_delivery(CHANNEL_SECRET, events)
    webhook = api_event(
        "POST",
        f"/line/webhook/{LINE_CHANNEL}",
        resource="/line/webhook/{channel}",
        body=body,
        headers={"x-line-signature": signature},
        path_parameters={"channel": LINE_CHANNEL},
    )
    assert stack.invoke("line_webhook", webhook)["statusCode"] == 200
    assert stack.invoke("event_processor", {"Records": raw_stream.new_records()}) == {"batchItemFailures": []}

    # Then the friend is tagged and has the trait, and the timeline keeps what the rules derived
    status, profile = call(stack, "GET", "/admin/v1/profiles/lookup", type="line", value=user)
    assert status == 200, profile
    assert {tag: entry["source"] for tag, entry in profile["tags"].items()} == {
        "asked:size": "keyword",
        "size:M": "postback",
    }
    assert profile["traits"]["size"] == "M"
    derived = [e["properties"] for e in profile["events"] if "derivedTags" in e.get("properties", {})]
    assert len(derived) == 2 and all(p["tagRulesVersion"] == 1 for p in derived)
