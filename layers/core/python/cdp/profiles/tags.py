"""Tags as events: "Tag Added" / "Tag Removed" track events set each tag's state, newest wins.

A tag is a short name, optionally `group:value` (e.g. `asked:size`, `src:store-taipei-101`);
the group is the part before the first ':'. Where a tag came from is its source.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from cdp.errors import BadRequest
from cdp.events.names import TAG_ADDED, TAG_REMOVED

TAG_EVENTS = {TAG_ADDED: True, TAG_REMOVED: False}
MAX_TAG_LENGTH = 64
TAG_SOURCES = ("rule", "link", "postback", "keyword", "import", "manual", "api")
MAX_TAGS_PER_CHANGE = 50
DEFAULT_TAG_SOURCE = "api"  # a partner's own "Tag Added" event that names no known source


def tag_problem(tag: Any) -> str | None:
    """Why `tag` is not a tag name, or None: non-empty, at most 64 characters, no control characters."""
    if not isinstance(tag, str) or not tag.strip():
        return "a tag must be a non-empty string"
    if len(tag) > MAX_TAG_LENGTH:
        return f"a tag is at most {MAX_TAG_LENGTH} characters"
    if tag != tag.strip() or any(unicodedata.category(char).startswith("C") for char in tag):
        return "a tag has no control characters or surrounding spaces"
    if tag.startswith(":") or tag.endswith(":"):
        return "a tag `group:value` needs both parts"
    return None


def valid_tag(tag: Any) -> bool:
    return tag_problem(tag) is None


def tag_source(value: Any) -> str:
    return value if isinstance(value, str) and value in TAG_SOURCES else DEFAULT_TAG_SOURCE


def tag_group(tag: str) -> str | None:
    group, colon, _ = tag.partition(":")
    return group if colon else None


def parse_tag_change(body: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """`{"add": [...], "remove": [...]}` for the admin API; 400 naming what is wrong."""
    unknown = set(body) - {"add", "remove"}
    if unknown:
        raise BadRequest(f"unknown fields: {sorted(unknown)}", code="unknown_tag_field")
    lists: list[list[str]] = []
    for name in ("add", "remove"):
        value = body.get(name, [])
        if not isinstance(value, list):
            raise BadRequest(f"`{name}` must be a list of tags", code="invalid_tag_list")
        for tag in value:
            problem = tag_problem(tag)
            if problem:
                raise BadRequest(f"`{name}`: {tag!r}: {problem}", code="invalid_tag")
        lists.append(list(dict.fromkeys(value)))
    add, remove = lists
    if not add and not remove:
        raise BadRequest("name at least one tag to `add` or `remove`", code="no_tag_change")
    if len(add) + len(remove) > MAX_TAGS_PER_CHANGE:
        raise BadRequest(f"at most {MAX_TAGS_PER_CHANGE} tags per request", code="too_many_tags")
    if set(add) & set(remove):
        raise BadRequest("a tag cannot be both added and removed", code="tag_added_and_removed")
    return add, remove


class TaggedProfile(Protocol):
    """What tag coverage reads of a profile (cdp.profiles.model.Profile)."""

    @property
    def merged_into(self) -> str | None: ...
    @property
    def line_status(self) -> str: ...
    @property
    def tags(self) -> Mapping[str, Any]: ...


def tag_coverage(profiles: Iterable[TaggedProfile]) -> dict[str, Any]:
    """Share of reachable LINE friends (line_status friend) with at least one tag, overall and
    per tag group (the part before ':'; tags without one count under no group)."""
    friends = 0
    tagged = 0
    per_group: Counter[str] = Counter()
    for profile in profiles:
        if profile.merged_into or profile.line_status != "friend":
            continue
        friends += 1
        tags = profile.tags
        if tags:
            tagged += 1
        per_group.update({group for tag in tags if (group := tag_group(tag)) is not None})
    return {
        "friends": friends,
        "tagged": tagged,
        "rate": round(tagged / friends, 4) if friends else None,
        "groups": {
            group: {"tagged": count, "rate": round(count / friends, 4)} for group, count in sorted(per_group.items())
        },
    }
