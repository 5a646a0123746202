"""Rule-based tags and zero-party traits from LINE conversations, per workspace.

- keyword rules: an incoming LINE text matching a keyword (`contains` / `equals`, case-folded,
  or `regex`) tags the person, e.g. "尺寸" -> `asked:size` (source `keyword`);
- postback rules: postback data parsed as a query string (`survey=size&answer=M`) whose
  parameters equal the rule's `match` set the trait `trait` to the value of `value_param`
  (source `postback`) and/or a tag, where `{value}` in the tag is that value.

- replies: a keyword or postback rule may also carry a `reply` (a template, its purpose, whether
  an expired reply token may become a push): the auto-reply the rule's match answers with
  (cdp.messaging.auto_reply); a keyword rule with a reply needs no tag.

- tracked links: a "Link Clicked" recorded by the link redirect (cdp.links) tags the person with
  `source:<src>` and the link's own tags (source `link`); see `link_click_tags`.

The processor keeps what the rules derive with the event (`CanonicalEvent.derived`, stored in the
timeline as `properties.derivedTags`, `properties.derivedTraits`, `properties.tagRulesVersion`)
before folding it, so a rebuild gives the same profile whatever the rules are by then.

Stored as configuration (core table) and changed through the admin API; validated here so a bad
rule set is a 400 naming the bad field, never a half-applied configuration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from cdp.errors import BadRequest
from cdp.events import names
from cdp.messaging.auto_reply import Reply, parse_reply
from cdp.profiles.tags import tag_problem

if TYPE_CHECKING:
    from cdp.events.canonical import CanonicalEvent

MESSAGE_EVENT = names.MESSAGE_RECEIVED
POSTBACK_EVENT = names.POSTBACK
MATCH_MODES = ("contains", "equals", "regex")
MAX_RULES = 200
MAX_PATTERN_LENGTH = 200
MAX_TEXT_MATCHED = 2000  # characters of a message the rules look at
MAX_POSTBACK_DATA = 300  # LINE's own limit on postback data
TRAIT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
PARAM_NAME = re.compile(r"[^\x00-\x1f=&]{1,64}")
# Clicks on tracked links: recorded by the redirect function as partner events of this source
# (a reserved name: no write key should use it), so only those clicks derive tags.
LINK_CLICK_EVENT = names.LINK_CLICKED
LINK_CLICK_SOURCE = "tracked-links"
LINK_SOURCE_TAG_GROUP = "source"


@dataclass(frozen=True, slots=True)
class KeywordRule:
    keyword: str
    tag: str | None
    match: str = "contains"
    reply: Reply | None = None

    def matches(self, text: str) -> bool:
        text = text[:MAX_TEXT_MATCHED]
        if self.match == "regex":
            return re.search(self.keyword, text) is not None
        if self.match == "equals":
            return text.strip().casefold() == self.keyword.casefold()
        return self.keyword.casefold() in text.casefold()

    def as_dict(self) -> dict[str, Any]:
        document = {"keyword": self.keyword, "match": self.match, "tag": self.tag}
        return {**document, "reply": self.reply.as_dict()} if self.reply else document


@dataclass(frozen=True, slots=True)
class PostbackRule:
    match: tuple[tuple[str, str], ...]
    trait: str | None = None
    value_param: str = "answer"
    tag: str | None = None
    reply: Reply | None = None

    def applies(self, params: Mapping[str, str]) -> bool:
        return all(params.get(name) == value for name, value in self.match)

    def derive(self, params: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
        if not self.applies(params):
            return [], {}
        value = params.get(self.value_param)
        traits = {self.trait: value} if self.trait and value is not None else {}
        tags: list[str] = []
        if self.tag and ("{value}" not in self.tag or value is not None):
            tag = self.tag.replace("{value}", value or "")
            if tag_problem(tag) is None:
                tags.append(tag)
        return tags, traits

    def as_dict(self) -> dict[str, Any]:
        document = {"match": dict(self.match), "trait": self.trait, "value_param": self.value_param, "tag": self.tag}
        return {**document, "reply": self.reply.as_dict()} if self.reply else document


@dataclass(frozen=True, slots=True)
class Derived:
    tags: list[dict[str, str]]  # [{tag, source}]
    traits: dict[str, str]

    def __bool__(self) -> bool:
        return bool(self.tags or self.traits)


@dataclass(frozen=True, slots=True)
class TagRules:
    keywords: tuple[KeywordRule, ...] = ()
    postbacks: tuple[PostbackRule, ...] = ()
    version: int = 0

    def derive(self, event: str | None, properties: Mapping[str, Any]) -> Derived:
        tags: dict[str, str] = {}
        traits: dict[str, str] = {}
        text, data = properties.get("text"), properties.get("data")
        if event == MESSAGE_EVENT and isinstance(text, str):
            for keyword_rule in self.keywords:
                if keyword_rule.tag and keyword_rule.matches(text):
                    tags.setdefault(keyword_rule.tag, "keyword")
        if event == POSTBACK_EVENT and isinstance(data, str):
            params = parse_postback(data)
            for postback_rule in self.postbacks:
                found_tags, found_traits = postback_rule.derive(params)
                for tag in found_tags:
                    tags.setdefault(tag, "postback")
                for name, value in found_traits.items():
                    traits.setdefault(name, value)
        return Derived([{"tag": tag, "source": source} for tag, source in tags.items()], traits)

    def reply_for_text(self, text: str) -> Reply | None:
        """The reply of the first keyword rule with one that matches (rules are ordered)."""
        return next((rule.reply for rule in self.keywords if rule.reply and rule.matches(text)), None)

    def reply_for_postback(self, data: str) -> Reply | None:
        params = parse_postback(data)
        return next((rule.reply for rule in self.postbacks if rule.reply and rule.applies(params)), None)

    def template_ids(self) -> set[str]:
        """The templates the rules' replies use (each must exist when the rules are saved)."""
        replies = [rule.reply for rule in self.keywords] + [rule.reply for rule in self.postbacks]
        return {reply.template_id for reply in replies if reply}

    def as_dict(self) -> dict[str, Any]:
        return {
            "keywords": [rule.as_dict() for rule in self.keywords],
            "postbacks": [rule.as_dict() for rule in self.postbacks],
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, version: int | None = None) -> TagRules:
        """Validate a rule document (admin input or stored); unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise BadRequest("tag rules must be a JSON object", code="invalid_tag_rules")
        unknown = set(data) - {"keywords", "postbacks", "version"}
        if unknown:
            raise BadRequest(f"unknown rule fields: {sorted(unknown)}", code="unknown_rule_field")
        keywords = data.get("keywords", [])
        postbacks = data.get("postbacks", [])
        if not isinstance(keywords, list) or not isinstance(postbacks, list):
            raise BadRequest("`keywords` and `postbacks` must be lists", code="invalid_tag_rules")
        if len(keywords) + len(postbacks) > MAX_RULES:
            raise BadRequest(f"at most {MAX_RULES} rules", code="too_many_rules")
        stored_version = data.get("version", 0)
        return cls(
            keywords=tuple(_keyword_rule(rule, f"keywords[{n}]") for n, rule in enumerate(keywords)),
            postbacks=tuple(_postback_rule(rule, f"postbacks[{n}]") for n, rule in enumerate(postbacks)),
            version=stored_version if version is None and isinstance(stored_version, int) else (version or 0),
        )


NO_TAG_RULES = TagRules()


def is_tracked_link_click(event: CanonicalEvent) -> bool:
    """A "Link Clicked" the link redirect recorded (not a partner's own event of that name)."""
    return (
        event.type == "track"
        and event.event == LINK_CLICK_EVENT
        and event.origin == "partner"
        and event.source == LINK_CLICK_SOURCE
    )


def link_click_tags(properties: Mapping[str, Any]) -> list[dict[str, str]]:
    """`source:<src>` and the link's tags, as derived tags [{tag, source: "link"}]; invalid names
    are left out (the link was validated when created, the click may be old)."""
    found: dict[str, str] = {}
    src = properties.get("src")
    if isinstance(src, str) and src:
        found.setdefault(f"{LINK_SOURCE_TAG_GROUP}:{src}", "link")
    tags = properties.get("tags")
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, str):
            found.setdefault(tag, "link")
    return [{"tag": tag, "source": source} for tag, source in found.items() if tag_problem(tag) is None]


def parse_postback(data: str) -> dict[str, str]:
    """Postback data as a query string: the first value of each parameter."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(data[:MAX_POSTBACK_DATA], keep_blank_values=True):
        params.setdefault(name, value)
    return params


def _fields(rule: Any, path: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(rule, Mapping):
        raise BadRequest(f"{path} must be an object", code="invalid_tag_rule")
    unknown = set(rule) - allowed
    if unknown:
        raise BadRequest(f"{path}: unknown fields {sorted(unknown)}", code="unknown_rule_field")
    return rule


def _tag(value: Any, path: str) -> str:
    problem = tag_problem(value)
    if problem:
        raise BadRequest(f"{path}.tag: {problem}", code="invalid_tag")
    assert isinstance(value, str)
    return value


def _keyword_rule(rule: Any, path: str) -> KeywordRule:
    fields = _fields(rule, path, {"keyword", "match", "tag", "reply"})
    keyword, match = fields.get("keyword"), fields.get("match", "contains")
    if match not in MATCH_MODES:
        raise BadRequest(f"{path}.match must be one of {', '.join(MATCH_MODES)}", code="invalid_match_mode")
    if not isinstance(keyword, str) or not keyword.strip() or len(keyword) > MAX_PATTERN_LENGTH:
        raise BadRequest(
            f"{path}.keyword must be a non-empty string of at most {MAX_PATTERN_LENGTH} characters",
            code="invalid_keyword",
        )
    if match == "regex":
        try:
            re.compile(keyword)
        except re.error as exc:
            raise BadRequest(f"{path}.keyword is not a valid regular expression: {exc}", code="invalid_regex") from exc
    reply = parse_reply(fields["reply"], f"{path}.reply") if fields.get("reply") is not None else None
    tag = fields.get("tag")
    if tag is None and reply is None:
        raise BadRequest(f"{path} must set a `tag`, a `reply` or both", code="invalid_tag")
    return KeywordRule(keyword=keyword, tag=_tag(tag, path) if tag is not None else None, match=match, reply=reply)


def _postback_rule(rule: Any, path: str) -> PostbackRule:
    fields = _fields(rule, path, {"match", "trait", "value_param", "tag", "reply"})
    match, trait, tag = fields.get("match"), fields.get("trait"), fields.get("tag")
    value_param = fields.get("value_param", "answer")
    if (
        not isinstance(match, Mapping)
        or not match
        or not all(isinstance(k, str) and PARAM_NAME.fullmatch(k) and isinstance(v, str) for k, v in match.items())
    ):
        raise BadRequest(
            f"{path}.match must be an object of postback parameter -> value", code="invalid_postback_match"
        )
    if not isinstance(value_param, str) or not PARAM_NAME.fullmatch(value_param):
        raise BadRequest(f"{path}.value_param must be a parameter name", code="invalid_postback_match")
    if trait is not None and (not isinstance(trait, str) or not TRAIT_NAME.fullmatch(trait)):
        raise BadRequest(f"{path}.trait must be a trait name such as `size`", code="invalid_trait_name")
    if tag is not None:
        _tag(tag.replace("{value}", "x") if isinstance(tag, str) else tag, path)
    reply = parse_reply(fields["reply"], f"{path}.reply") if fields.get("reply") is not None else None
    if trait is None and tag is None and reply is None:
        raise BadRequest(f"{path} must set a `trait`, a `tag`, a `reply` or several", code="invalid_tag_rule")
    return PostbackRule(match=tuple(sorted(match.items())), trait=trait, value_param=value_param, tag=tag, reply=reply)
