"""LINE message objects validated against LINE's own schemas (vendor/line-openapi/messaging-api.yml).

The component schemas are shipped as JSON beside this module (`line_message_schemas.json`,
extracted by `python -m infra.vendor_line_schemas`) and turned into one JSON Schema (draft
2020-12) for the `jsonschema` validator, built on first use and cached per process:

- OpenAPI `discriminator`s are resolved here, since JSON Schema validators ignore them: where a
  schema names a base (`Message`, `Action`, `FlexComponent`, `Template`, ...), the object's `type`
  must be one of the mapping's keys (`enum`) and the mapped schema applies, through a
  `discriminator` keyword this module adds to the validator (one branch, not an `if` per type).
- Every object is exactly as the spec defines it: its `allOf` parts (its base's properties and its
  own) are merged into one object with `additionalProperties: false`, so a property the spec
  does not name is refused and a typo never reaches LINE silently.
- LINE's documented limits the schemas lack are added as JSON Schema too (`_LIMITS`, each with
  the reference section it comes from), plus the Flex JSON sizes, checked after the schema.

Two validators: `template` (saved content, whose strings may still hold Liquid markup: a URL field
is either a URL or holds markup) and `rendered` (one recipient's messages, exactly as sent).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

Mode = Literal["template", "rendered"]
_REF = "#/components/schemas/"
_DROPPED = frozenset({"discriminator", "externalDocs", "description", "example", "default", "format"})

# Size limits of Flex containers, measured as compact UTF-8 JSON. LINE reference, "Flex Message"
# > "Bubble" (https://developers.line.biz/en/reference/messaging-api/#bubble): "The maximum size
# of JSON data that defines a bubble is 30 KB"; "Carousel" (#f-carousel): "The maximum size of
# JSON data that defines a carousel is 50 KB".
MAX_BUBBLE_BYTES = 30 * 1024
MAX_CAROUSEL_BYTES = 50 * 1024


@dataclass(frozen=True, slots=True)
class LineProblem:
    pointer: str  # JSON pointer into the messages array, e.g. "/0/contents/body/contents/2/text"
    reason: str


def _url(max_length: int, mode: Mode, pattern: str) -> dict[str, Any]:
    """A URL field: `pattern` once rendered; in a saved template it may hold Liquid instead."""
    if mode == "rendered":
        return {"type": "string", "maxLength": max_length, "pattern": pattern}
    return {"type": "string", "maxLength": max_length, "anyOf": [{"pattern": pattern}, {"pattern": r"\{[{%]"}]}


def _limits(mode: Mode) -> dict[str, dict[str, Any]]:
    """LINE's documented limits and required fields the spec's schemas do not state, by schema.

    Sections of https://developers.line.biz/en/reference/messaging-api/ (the spec's externalDocs).
    """
    # Image, video and audio files and thumbnails: "Max character limit: 2000", "Protocol: HTTPS
    # (TLS 1.2 or later)" (#image-message, #video-message, #audio-message, #buttons, #column-object,
    # #image-carousel, #imagemap-message, #items-object).
    media = _url(2000, mode, "^https://")
    # URI action: "Max character limit: 1000. The available schemes are http, https, line, and
    # tel" (#uri-action); imagemap URI action linkUri likewise (#imagemap-uri-action-object).
    link = _url(1000, mode, "^(https?://|line://|tel:)")
    label20 = {"items": {"properties": {"label": {"maxLength": 20}}}}  # #action-objects: label max 20
    return {
        # #text-message: "Max character limit: 5000"; "emojis ... Max: 20 LINE emojis".
        "TextMessage": {"properties": {"text": {"minLength": 1, "maxLength": 5000}, "emojis": {"maxItems": 20}}},
        "TextMessageV2": {"properties": {"text": {"minLength": 1, "maxLength": 5000}}},
        "ImageMessage": {"properties": {"originalContentUrl": media, "previewImageUrl": media}},
        # #video-message: trackingId "Max character limit: 100".
        "VideoMessage": {
            "properties": {"originalContentUrl": media, "previewImageUrl": media, "trackingId": {"maxLength": 100}}
        },
        # #audio-message: duration "Length of audio file (milliseconds)".
        "AudioMessage": {"properties": {"originalContentUrl": media, "duration": {"minimum": 1}}},
        # #location-message: title and address "Max character limit: 100".
        "LocationMessage": {"properties": {"title": {"maxLength": 100}, "address": {"maxLength": 100}}},
        # #imagemap-message: altText "Max character limit: 1500"; baseSize.width "Set to 1040";
        # actions "Max: 50".
        "ImagemapMessage": {
            "properties": {
                "baseUrl": media,
                "altText": {"minLength": 1, "maxLength": 1500},
                "baseSize": {"properties": {"width": {"const": 1040}, "height": {"minimum": 1}}},
                "actions": {"maxItems": 50},
            }
        },
        "URIImagemapAction": {"properties": {"linkUri": link}},
        # #imagemap-message-action-object: text "Max character limit: 400".
        "MessageImagemapAction": {"properties": {"text": {"minLength": 1, "maxLength": 400}}},
        "ImagemapExternalLink": {"properties": {"linkUri": link}},
        "ImagemapVideo": {"properties": {"originalContentUrl": media, "previewImageUrl": media}},
        # #template-messages: altText "Max character limit: 400".
        "TemplateMessage": {"properties": {"altText": {"minLength": 1, "maxLength": 400}}},
        # #buttons: title "Max character limit: 40"; text "Max character limit: 160 (no image or
        # title), 60 (message with an image or title)"; actions "Max objects: 4".
        "ButtonsTemplate": {
            "properties": {
                "thumbnailImageUrl": media,
                "title": {"maxLength": 40},
                "text": {"minLength": 1, "maxLength": 160},
                "actions": {"minItems": 1, "maxItems": 4, **label20},
            },
            "if": {"anyOf": [{"required": ["thumbnailImageUrl"]}, {"required": ["title"]}]},
            "then": {"properties": {"text": {"maxLength": 60}}},
        },
        # #confirm: text "Max character limit: 240"; actions "Set 2 actions".
        "ConfirmTemplate": {
            "properties": {
                "text": {"minLength": 1, "maxLength": 240},
                "actions": {"minItems": 2, "maxItems": 2, **label20},
            }
        },
        # #carousel: columns "Max columns: 10".
        "CarouselTemplate": {"properties": {"columns": {"minItems": 1, "maxItems": 10}}},
        # #column-object: title max 40; text "Max character limit: 120 (no image or title), 60
        # (message with an image or title)"; actions "Max objects: 3".
        "CarouselColumn": {
            "properties": {
                "thumbnailImageUrl": media,
                "title": {"maxLength": 40},
                "text": {"minLength": 1, "maxLength": 120},
                "actions": {"minItems": 1, "maxItems": 3, **label20},
            },
            "if": {"anyOf": [{"required": ["thumbnailImageUrl"]}, {"required": ["title"]}]},
            "then": {"properties": {"text": {"maxLength": 60}}},
        },
        # #image-carousel: columns "Max columns: 10"; #column-object-for-image-carousel: action
        # label "Max character limit: 12".
        "ImageCarouselTemplate": {"properties": {"columns": {"minItems": 1, "maxItems": 10}}},
        "ImageCarouselColumn": {
            "properties": {"imageUrl": media, "action": {"properties": {"label": {"maxLength": 12}}}}
        },
        # #flex-message: altText "Max character limit: 1500".
        "FlexMessage": {"properties": {"altText": {"minLength": 1, "maxLength": 1500}}},
        # #f-carousel: contents "Max bubbles: 12".
        "FlexCarousel": {"properties": {"contents": {"minItems": 1, "maxItems": 12}}},
        "FlexImage": {"properties": {"url": media}},
        "FlexIcon": {"properties": {"url": media}},
        "FlexVideo": {"properties": {"url": media, "previewUrl": media}},
        # #f-text: text "Be sure to set either one of the text property or contents property".
        "FlexText": {"anyOf": [{"required": ["text"]}, {"required": ["contents"]}]},
        "FlexSpan": {"required": ["text"]},
        # #quick-reply: items "Max: 13 objects" (the spec has the maximum); #items-object: type
        # "action", action required, imageUrl HTTPS max 2000, action label "Max character limit: 20".
        "QuickReply": {"required": ["items"], "properties": {"items": {"minItems": 1}}},
        "QuickReplyItem": {
            "required": ["type", "action"],
            "properties": {
                "type": {"const": "action"},
                "imageUrl": media,
                "action": {"properties": {"label": {"maxLength": 20}}},
            },
        },
        # #message-action: text required, "Max character limit: 300".
        "MessageAction": {"required": ["text"], "properties": {"text": {"minLength": 1, "maxLength": 300}}},
        # #postback-action: data required (max 300 in the spec); displayText and text max 300.
        "PostbackAction": {
            "required": ["data"],
            "properties": {"displayText": {"maxLength": 300}, "text": {"maxLength": 300}},
        },
        # #uri-action: uri required.
        "URIAction": {"required": ["uri"], "properties": {"uri": link}},
        "AltUri": {"properties": {"desktop": link}},
        # #datetime-picker-action: data and mode required.
        "DatetimePickerAction": {"required": ["data", "mode"]},
        # #richmenu-switch-action: richMenuAliasId and data required.
        "RichMenuSwitchAction": {"required": ["richMenuAliasId", "data"]},
        "Sender": {"properties": {"iconUrl": media}},
    }


@functools.cache
def _spec() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("line_message_schemas.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def message_types() -> tuple[str, ...]:
    """The `type`s a message object may have (the spec's `Message` discriminator)."""
    return tuple(_spec()["schemas"]["Message"]["discriminator"]["mapping"])


def json_schema(mode: Mode) -> dict[str, Any]:
    """The messages array (1 to 5 objects) as one JSON Schema, discriminators resolved."""
    spec = _spec()
    schemas: dict[str, Any] = spec["schemas"]
    limits = _limits(mode)
    bases: dict[str, str] = {}  # mapped schema -> its discriminator base
    keys: dict[str, str] = {}  # mapped schema -> its `type` value
    for name, schema in schemas.items():
        discriminator = schema.get("discriminator")
        if discriminator:
            for key, ref in discriminator["mapping"].items():
                target = str(ref).removeprefix(_REF)
                bases[target], keys[target] = name, key
    defs: dict[str, Any] = {}
    for name, schema in schemas.items():
        discriminator = schema.get("discriminator")
        if discriminator:
            prop = discriminator["propertyName"]
            mapping = {key: str(ref).removeprefix(_REF) for key, ref in discriminator["mapping"].items()}
            defs[name] = {
                "type": "object",
                "required": [prop],
                "properties": {prop: {"type": "string", "enum": list(mapping)}},
                # Resolved by `_discriminated`: the mapped schema of the object's own type only.
                "discriminator": {"propertyName": prop, "mapping": {k: f"#/$defs/{t}" for k, t in mapping.items()}},
            }
            continue
        properties, required = _flattened(schema, schemas)
        converted = {prop: _converted(sub) for prop, sub in properties.items()}
        if name in bases:  # its own `type` only, also where it is reached directly (a carousel's bubbles)
            converted[schemas[bases[name]]["discriminator"]["propertyName"]] = {"const": keys[name]}
        # Exactly the properties the spec defines (the base's and its own, merged below).
        definition: dict[str, Any] = {"type": "object", "properties": converted, "additionalProperties": False}
        if required:
            definition["required"] = required
        if name in limits:
            definition["allOf"] = [limits[name]]
        defs[name] = definition
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": defs,
        "type": "array",
        "minItems": spec["messages"]["minItems"],
        "maxItems": spec["messages"]["maxItems"],
        "items": {"$ref": "#/$defs/Message"},
    }


def _flattened(schema: dict[str, Any], schemas: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """An object's properties and required names with its `allOf` parts (its base's included)
    merged in, so that `additionalProperties: false` states "only what the spec defines" (and a
    validator need not track evaluated properties through `allOf`, which is slow)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for part in schema.get("allOf", []):
        if "$ref" in part:
            part = schemas[str(part["$ref"]).removeprefix(_REF)]
        more, needed = _flattened(part, schemas)
        properties.update(more)
        required += [name for name in needed if name not in required]
    properties.update(schema.get("properties", {}))
    required += [name for name in schema.get("required", []) if name not in required]
    return properties, required


def _converted(node: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: refs into `$defs`, annotations dropped."""
    if isinstance(node, list):
        return [_converted(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or key.startswith("x-"):
            continue
        if key == "$ref" and isinstance(value, str):
            out[key] = "#/$defs/" + value.removeprefix(_REF)
        elif key == "properties" and isinstance(value, dict):
            out[key] = {prop: _converted(sub) for prop, sub in value.items()}
        else:
            out[key] = _converted(value)
    if node.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    out.pop("nullable", None)
    return out


@functools.cache
def _validator(mode: Mode) -> Any:
    import jsonschema  # built on first use: the admin API's cold start does not pay for it

    validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"discriminator": _discriminated})
    return validator(_inlined(json_schema(mode)))


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every `$ref` (and discriminator target) replaced by the definition itself:
    the same schema, without a reference lookup at each object (recursive definitions become
    cycles of dicts, which a validator only follows as deep as the instance goes)."""
    defs: dict[str, Any] = schema["$defs"]
    seen: set[int] = set()

    def target(ref: Any) -> Any:
        return defs[str(ref).removeprefix("#/$defs/")]

    def resolved(node: Any) -> Any:
        return target(node["$ref"]) if isinstance(node, dict) and set(node) == {"$ref"} else node

    def walk(node: Any) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, dict):
            for key, value in list(node.items()):
                if key == "discriminator":
                    node[key] = {**value, "mapping": {k: target(ref) for k, ref in value["mapping"].items()}}
                else:
                    node[key] = resolved(value)
                    walk(node[key])
        elif isinstance(node, list):
            for index, value in enumerate(node):
                node[index] = resolved(value)
                walk(node[index])

    for definition in defs.values():
        walk(definition)
    root = {key: value for key, value in schema.items() if key != "$defs"}
    root["items"] = resolved(root["items"])
    return root


def _discriminated(validator: Any, discriminator: dict[str, Any], instance: Any, _schema: Any) -> Iterator[Any]:
    """OpenAPI's discriminator: validate the object against the schema its `type` maps to (an
    unknown or missing type is reported by the sibling `enum` / `required`)."""
    if not isinstance(instance, dict):
        return
    key = instance.get(discriminator["propertyName"])
    target = discriminator["mapping"].get(key) if isinstance(key, str) else None
    if target is not None:
        yield from validator.descend(instance, target)


def line_problem(messages: Any, *, mode: Mode) -> LineProblem | None:
    """The first problem of a messages array (the deepest the schema reports), or None."""
    validator = _validator(mode)
    if validator.is_valid(messages):  # the common case, without collecting errors
        return _size_problem(messages)
    error = max(validator.iter_errors(messages), key=lambda e: len(e.absolute_path))
    path: list[Any] = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        defined = error.schema.get("properties", {})
        unexpected = sorted(str(key) for key in error.instance if key not in defined)
        return LineProblem(_pointer([*path, unexpected[0]]), "this property is not in LINE's message object")
    return LineProblem(_pointer(path), _reason(error))


def _reason(error: Any) -> str:
    """What is wrong, without echoing the (possibly long) value."""
    kind, value = str(error.validator), error.validator_value
    if kind == "required":
        missing = [name for name in value if not isinstance(error.instance, dict) or name not in error.instance]
        return f"`{missing[0] if missing else value[0]}` is required"
    if kind == "enum" and list(error.absolute_path)[-1:] == ["type"]:
        return "not a type LINE defines here (one of " + ", ".join(map(str, value)) + ")"
    if kind == "enum":
        return "must be one of " + ", ".join(map(str, value))
    if kind == "const":
        return f"must be {json.dumps(value, ensure_ascii=False)}"
    if kind in ("pattern", "anyOf"):
        return "not a URL LINE accepts here (media: https; actions: http, https, line or tel)"
    messages = {
        "maxLength": "at most {} characters",
        "minLength": "at least {} character(s)",
        "maxItems": "at most {} item(s)",
        "minItems": "at least {} item(s)",
        "minimum": "at least {}",
        "maximum": "at most {}",
        "type": "must be of type {}",
    }
    if kind in messages:
        return messages[kind].format(" or ".join(map(str, value)) if isinstance(value, list) else value)
    return str(error.message)[:200]


def _size_problem(messages: Sequence[Any]) -> LineProblem | None:
    """What JSON Schema cannot say: Flex JSON sizes and a carousel's consistent columns."""
    for index, message in enumerate(messages):
        if isinstance(message, dict) and message.get("type") == "template":
            problem = _carousel_problem(message.get("template"), f"/{index}/template")
            if problem is not None:
                return problem
        if not isinstance(message, dict) or message.get("type") != "flex":
            continue
        contents = message.get("contents")
        if not isinstance(contents, dict):
            continue
        if contents.get("type") == "carousel":
            if _json_bytes(contents) > MAX_CAROUSEL_BYTES:
                return LineProblem(
                    f"/{index}/contents", f"a Flex carousel is at most {MAX_CAROUSEL_BYTES} bytes of JSON"
                )
            bubbles = contents.get("contents") or []
            for position, bubble in enumerate(bubbles):
                if _json_bytes(bubble) > MAX_BUBBLE_BYTES:
                    return LineProblem(
                        f"/{index}/contents/contents/{position}",
                        f"a Flex bubble is at most {MAX_BUBBLE_BYTES} bytes of JSON",
                    )
        elif _json_bytes(contents) > MAX_BUBBLE_BYTES:
            return LineProblem(f"/{index}/contents", f"a Flex bubble is at most {MAX_BUBBLE_BYTES} bytes of JSON")
    return None


def _carousel_problem(template: Any, pointer: str) -> LineProblem | None:
    """#carousel: "Keep the number of actions consistent for all columns. If you use an image or
    title for a column, make sure to do the same for all other columns." """
    if not isinstance(template, dict) or template.get("type") != "carousel":
        return None
    columns = [column for column in template.get("columns") or () if isinstance(column, dict)]
    for position, column in enumerate(columns[1:], start=1):
        if len(column.get("actions") or ()) != len(columns[0].get("actions") or ()):
            return LineProblem(f"{pointer}/columns/{position}/actions", "every column has as many actions as the first")
        for name in ("thumbnailImageUrl", "title"):
            if (name in column) != (name in columns[0]):
                return LineProblem(
                    f"{pointer}/columns/{position}",
                    f"every column has a `{name}` if the first has one, and none if not",
                )
    return None


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _pointer(path: Sequence[Any]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)
