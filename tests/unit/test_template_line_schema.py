"""LINE message objects against LINE's messaging-api.yml: discriminators resolved at every level,
objects exactly as the spec defines them, LINE's documented limits, and the shipped JSON in step
with the vendored spec."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cdp.messaging.templates.line import MAX_BUBBLE_BYTES, json_schema, line_problem, message_types

from infra import layer_build
from infra.vendor_line_schemas import TARGET, extract, render

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "vendor" / "line-openapi" / "messaging-api.yml"


def problem(messages: Any, mode: str = "rendered") -> tuple[str, str] | None:
    found = line_problem(messages, mode=mode)  # type: ignore[arg-type]
    return None if found is None else (found.pointer, found.reason)


def pointer(messages: Any, mode: str = "rendered") -> str | None:
    found = problem(messages, mode)
    return None if found is None else found[0]


def bubble(*contents: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": list(contents)}, **extra}


def flex(contents: dict[str, Any]) -> dict[str, Any]:
    return {"type": "flex", "altText": "New arrivals", "contents": contents}


def buttons(*actions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "template",
        "altText": "Menu",
        "template": {"type": "buttons", "text": "Pick", "actions": list(actions), **extra},
    }


GO = {"type": "uri", "label": "Shop", "uri": "https://shop.example.com/spring"}

# One realistic, valid object of each kind LINE defines.
VALID: dict[str, dict[str, Any]] = {
    "text": {
        "type": "text",
        "text": "Hi $, spring sale",
        "emojis": [{"index": 3, "productId": "5ac1bfd5040ab15980c9b435", "emojiId": "001"}],
        "quickReply": {
            "items": [
                {"type": "action", "action": {"type": "message", "label": "Sizes", "text": "尺寸"}},
                {"type": "action", "action": {"type": "postback", "label": "Later", "data": "later=1"}},
                {
                    "type": "action",
                    "imageUrl": "https://cdn.example.com/cam.png",
                    "action": {"type": "camera", "label": "Photo"},
                },
                {"type": "action", "action": {"type": "location", "label": "Where"}},
                {"type": "action", "action": {"type": "datetimepicker", "label": "Book", "data": "b", "mode": "date"}},
            ]
        },
        "sender": {"name": "Store", "iconUrl": "https://cdn.example.com/icon.png"},
    },
    "textV2": {
        "type": "textV2",
        "text": "Hi {user}",
        "substitution": {"user": {"type": "mention", "mentionee": {"type": "all"}}},
    },
    "sticker": {"type": "sticker", "packageId": "446", "stickerId": "1988"},
    "image": {
        "type": "image",
        "originalContentUrl": "https://cdn.example.com/a.jpg",
        "previewImageUrl": "https://cdn.example.com/a-s.jpg",
    },
    "video": {
        "type": "video",
        "originalContentUrl": "https://cdn.example.com/a.mp4",
        "previewImageUrl": "https://cdn.example.com/a.jpg",
        "trackingId": "spring",
    },
    "audio": {"type": "audio", "originalContentUrl": "https://cdn.example.com/a.m4a", "duration": 60000},
    "location": {
        "type": "location",
        "title": "Taipei 101",
        "address": "台北市信義區信義路五段7號",
        "latitude": 25.03,
        "longitude": 121.56,
    },
    "imagemap": {
        "type": "imagemap",
        "baseUrl": "https://cdn.example.com/map",
        "altText": "Spring",
        "baseSize": {"width": 1040, "height": 1040},
        "actions": [
            {
                "type": "uri",
                "linkUri": "https://shop.example.com/",
                "area": {"x": 0, "y": 0, "width": 520, "height": 1040},
            },
            {"type": "message", "text": "hello", "area": {"x": 520, "y": 0, "width": 520, "height": 1040}},
            {"type": "clipboard", "clipboardText": "SPRING10", "area": {"x": 0, "y": 0, "width": 10, "height": 10}},
        ],
    },
    "template": buttons(
        GO,
        {"type": "postback", "label": "Later", "data": "later"},
        title="Spring",
        thumbnailImageUrl="https://cdn.example.com/t.jpg",
    ),
    "flex": flex(
        {
            "type": "carousel",
            "contents": [
                bubble(
                    {"type": "text", "text": "Spring", "weight": "bold", "size": "xl"},
                    {"type": "image", "url": "https://cdn.example.com/h.jpg", "aspectRatio": "20:13"},
                    {"type": "button", "style": "primary", "action": GO},
                    {"type": "separator"},
                    {
                        "type": "box",
                        "layout": "baseline",
                        "contents": [{"type": "icon", "url": "https://cdn.example.com/s.png"}, {"type": "filler"}],
                        "background": {
                            "type": "linearGradient",
                            "angle": "90deg",
                            "startColor": "#ffffff",
                            "endColor": "#000000",
                        },
                    },
                    {"type": "text", "contents": [{"type": "span", "text": "NT$", "size": "sm"}]},
                ),
                bubble({"type": "text", "text": "Summer"}, size="kilo"),
            ],
        }
    ),
    "confirm": {
        "type": "template",
        "altText": "Sure?",
        "template": {
            "type": "confirm",
            "text": "Sure?",
            "actions": [
                {"type": "message", "label": "Yes", "text": "yes"},
                {"type": "message", "label": "No", "text": "no"},
            ],
        },
    },
    "carousel": {
        "type": "template",
        "altText": "Picks",
        "template": {
            "type": "carousel",
            "columns": [{"text": "One", "actions": [GO]}, {"text": "Two", "actions": [GO]}],
        },
    },
    "image_carousel": {
        "type": "template",
        "altText": "Picks",
        "template": {
            "type": "image_carousel",
            "columns": [
                {
                    "imageUrl": "https://cdn.example.com/1.jpg",
                    "action": {"type": "uri", "label": "Go", "uri": "https://x.example"},
                }
            ],
        },
    },
}


def test_the_shipped_schemas_are_the_vendored_spec_s() -> None:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    assert json.loads(TARGET.read_text(encoding="utf-8")) == extract(spec)
    assert TARGET.read_text(encoding="utf-8") == render()  # `python -m infra.vendor_line_schemas` is a no-op
    assert set(message_types()) == set(spec["components"]["schemas"]["Message"]["discriminator"]["mapping"])


def test_the_layer_ships_the_schemas_beside_the_validator() -> None:
    # The core layer is the cdp package copied whole (only caches excluded), and the editable
    # and wheel installs declare the JSON as package data.
    assert TARGET.is_relative_to(layer_build.CDP_SOURCE) and not layer_build._excluded(TARGET)
    assert '"cdp.messaging.templates" = ["*.json"]' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", sorted(VALID))
def test_a_realistic_object_of_each_kind_is_accepted(kind: str) -> None:
    assert problem([VALID[kind]]) is None
    assert problem([VALID[kind]], "template") is None


def test_one_to_five_messages() -> None:
    text = {"type": "text", "text": "hi"}
    assert problem([]) == ("", "at least 1 item(s)")
    assert problem([text] * 5) is None
    assert problem([text] * 6) == ("", "at most 5 item(s)")
    assert pointer({"type": "text", "text": "hi"}) == ""


@pytest.mark.parametrize(
    ("messages", "where"),
    [
        ([{"type": "text"}], "/0"),  # a known type without its required field
        ([{"type": "txt", "text": "hi"}], "/0/type"),  # an unknown type
        ([{"text": "hi"}], "/0"),  # no type at all
        ([{"type": "coupon"}], "/0"),
        ([{"type": "text", "text": "hi"}, {"type": "sticker", "packageId": "1"}], "/1"),
    ],
)
def test_message_types_are_dispatched_and_unknown_ones_refused(messages: list[Any], where: str) -> None:
    assert pointer(messages) == where


def test_the_discriminator_applies_inside_flex_templates_quick_replies_and_imagemaps() -> None:
    # Flex components: a text without text (nor contents), an unknown component, deep inside a box.
    nested = flex(bubble({"type": "box", "layout": "vertical", "contents": [{"type": "text"}]}))
    assert pointer([nested]) == "/0/contents/body/contents/0/contents/0"
    unknown_component = flex(bubble({"type": "textbox", "text": "x"}))
    assert problem([unknown_component])[0] == "/0/contents/body/contents/0/type"  # type: ignore[index]
    # Flex containers: a carousel's items are bubbles only.
    assert pointer([flex({"type": "carousel", "contents": [{"type": "carousel", "contents": []}]})]) == (
        "/0/contents/contents/0/type"
    )
    assert pointer([flex({"type": "bubbles"})]) == "/0/contents/type"
    # Template types and their actions.
    assert (
        pointer([{"type": "template", "altText": "a", "template": {"type": "list", "text": "x"}}]) == "/0/template/type"
    )
    assert pointer([buttons({"type": "uri", "label": "Go"})]) == "/0/template/actions/0"  # uri action without uri
    assert (
        pointer([buttons({"type": "url", "label": "Go", "uri": "https://x.example"})]) == "/0/template/actions/0/type"
    )
    # Quick reply actions.
    quick = copy.deepcopy(VALID["text"])
    quick["quickReply"]["items"][0]["action"] = {"type": "message", "label": "Sizes"}
    assert pointer([quick]) == "/0/quickReply/items/0/action"
    quick["quickReply"]["items"][0]["action"] = {"type": "share", "label": "x"}
    assert pointer([quick]) == "/0/quickReply/items/0/action/type"
    # Imagemap actions and a box background.
    imagemap = copy.deepcopy(VALID["imagemap"])
    imagemap["actions"][1] = {"type": "message", "area": {"x": 0, "y": 0, "width": 1, "height": 1}}
    assert pointer([imagemap]) == "/0/actions/1"
    imagemap["actions"][1] = {"type": "postback", "data": "x", "area": {"x": 0, "y": 0, "width": 1, "height": 1}}
    assert pointer([imagemap]) == "/0/actions/1/type"
    background = flex(bubble({"type": "box", "layout": "vertical", "contents": [], "background": {"type": "radial"}}))
    assert pointer([background]) == "/0/contents/body/contents/0/background/type"


def test_properties_the_spec_does_not_define_are_refused_with_their_pointer() -> None:
    assert problem([{"type": "text", "text": "hi", "txt": "typo"}]) == (
        "/0/txt",
        "this property is not in LINE's message object",
    )
    typo_in_action = buttons({"type": "uri", "label": "Go", "uri": "https://x.example", "url": "https://x.example"})
    assert pointer([typo_in_action]) == "/0/template/actions/0/url"
    typo_in_component = flex(bubble({"type": "text", "text": "x", "colour": "#ffffff"}))
    assert pointer([typo_in_component]) == "/0/contents/body/contents/0/colour"


def test_every_added_limit_names_properties_the_spec_defines() -> None:
    # The limits are extra JSON Schema on LINE's own objects: none may name a property LINE's
    # object lacks (it would be a limit on nothing, hiding a typo in the limit itself).
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))["components"]["schemas"]
    definitions = json_schema("rendered")["$defs"]
    limited = 0
    for name, definition in definitions.items():
        for part in definition.get("allOf", []):
            if "properties" in part:
                limited += 1
                assert set(part["properties"]) <= _properties(spec, spec[name]), name
    assert limited >= 30


def _properties(spec: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= _properties(spec, spec[part["$ref"].rsplit("/", 1)[1]]) if "$ref" in part else _properties(spec, part)
    return names


@pytest.mark.parametrize(
    ("message", "where", "reason"),
    [
        ({"type": "text", "text": "x" * 5001}, "/0/text", "at most 5000 characters"),
        ({"type": "text", "text": ""}, "/0/text", "at least 1 character(s)"),
        (
            flex(bubble({"type": "text", "text": "x"})) | {"altText": "a" * 1501},
            "/0/altText",
            "at most 1500 characters",
        ),
        (buttons(GO) | {"altText": "a" * 401}, "/0/altText", "at most 400 characters"),
        ({**VALID["imagemap"], "altText": "a" * 1501}, "/0/altText", "at most 1500 characters"),
        ({**VALID["imagemap"], "baseSize": {"width": 1000, "height": 1000}}, "/0/baseSize/width", "must be 1040"),
        (buttons(GO, GO, GO, GO, GO), "/0/template/actions", "at most 4 item(s)"),
        (buttons({**GO, "label": "x" * 21}), "/0/template/actions/0/label", "at most 20 characters"),
        (
            {"type": "location", "title": "t" * 101, "address": "a", "latitude": 0, "longitude": 0},
            "/0/title",
            "at most 100 characters",
        ),
    ],
)
def test_documented_limits(message: dict[str, Any], where: str, reason: str) -> None:
    assert problem([message]) == (where, reason)


def test_buttons_text_is_shorter_with_an_image_or_a_title() -> None:
    assert problem([buttons(GO) | {"template": {"type": "buttons", "text": "x" * 160, "actions": [GO]}}]) is None
    titled = {
        "type": "template",
        "altText": "a",
        "template": {"type": "buttons", "title": "T", "text": "x" * 61, "actions": [GO]},
    }
    assert problem([titled]) == ("/0/template/text", "at most 60 characters")


def test_carousel_columns_are_consistent() -> None:
    carousel = copy.deepcopy(VALID["carousel"])
    assert problem([carousel]) is None
    carousel["template"]["columns"][1]["actions"] = [GO, GO]
    assert problem([carousel]) == ("/0/template/columns/1/actions", "every column has as many actions as the first")
    carousel["template"]["columns"][1] = {"text": "Two", "title": "T", "actions": [GO]}
    assert pointer([carousel]) == "/0/template/columns/1"


def test_quick_reply_items_are_actions() -> None:
    item = {"type": "button", "action": {"type": "message", "label": "a", "text": "a"}}
    assert pointer([{"type": "text", "text": "hi", "quickReply": {"items": [item]}}]) == "/0/quickReply/items/0/type"


def test_quick_replies_hold_thirteen_items() -> None:
    item = {"type": "action", "action": {"type": "message", "label": "a", "text": "a"}}
    message = {"type": "text", "text": "hi", "quickReply": {"items": [item] * 13}}
    assert problem([message]) is None
    message["quickReply"]["items"] = [item] * 14
    assert problem([message]) == ("/0/quickReply/items", "at most 13 item(s)")


def test_flex_sizes_and_bubble_counts() -> None:
    big_text = {"type": "text", "text": "x" * 4000}
    heavy = bubble(*[big_text] * 8)  # about 32 KB of JSON
    assert problem([flex(heavy)]) == ("/0/contents", f"a Flex bubble is at most {MAX_BUBBLE_BYTES} bytes of JSON")
    five_kb = bubble({"type": "text", "text": "x" * 5000})
    assert problem([flex({"type": "carousel", "contents": [five_kb] * 9})]) is None  # 45 KB
    assert problem([flex({"type": "carousel", "contents": [five_kb] * 11})]) == (
        "/0/contents",
        "a Flex carousel is at most 51200 bytes of JSON",
    )
    assert problem([flex({"type": "carousel", "contents": [bubble({"type": "text", "text": "x"})] * 13})]) == (
        "/0/contents/contents",
        "at most 12 item(s)",
    )


def test_media_urls_are_https_and_action_urls_have_line_s_schemes() -> None:
    http_image = {**VALID["image"], "originalContentUrl": "http://cdn.example.com/a.jpg"}
    assert pointer([http_image]) == "/0/originalContentUrl"
    assert pointer([buttons({**GO, "uri": "javascript:alert(1)"})]) == "/0/template/actions/0/uri"
    assert problem([buttons({**GO, "uri": "tel:+886212345678"})]) is None
    assert problem([buttons({**GO, "uri": "https://x.example/" + "a" * 1000})]) == (
        "/0/template/actions/0/uri",
        "at most 1000 characters",
    )


def test_a_saved_template_may_hold_liquid_in_a_url_that_a_rendered_message_may_not() -> None:
    personal = {**VALID["image"], "originalContentUrl": "https://cdn.example.com/{{ traits.tier }}.jpg"}
    assert problem([personal], "template") is None
    liquid_only = {**VALID["image"], "originalContentUrl": "{{ traits.avatar }}"}
    assert problem([liquid_only], "template") is None
    assert pointer([liquid_only], "rendered") == "/0/originalContentUrl"
