"""S5 over HTTP on the local stack: tags and zero-party data.

The workspace's tag rules (set through the admin API with compare-and-set) tag a LINE friend who
asks about sizes (keyword "尺寸" -> `asked:size`) and turn a survey postback into a trait; a store's
tracked link / QR code tags the friend who clicks it with the store as acquisition source; the
data-health report (from the Parquet archive) shows tag coverage of reachable friends per tag
group and how many profiles lack each identifier type.

Tag rules are workspace-wide on a shared stack: this test adds its rules to whatever is there and
never removes anyone else's. Everything else it makes up is its own (uuid-based ids).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ADMIN_TOKEN, HTTP_TIMEOUT_SECONDS, LINE_CHANNEL, Stack, now_ms, unique
from tests.fixtures import line_events

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STORE = "store-taipei-101"
SIZE_KEYWORD_RULE = {"keyword": "尺寸", "match": "contains", "tag": "asked:size"}
SIZE_SURVEY_RULE = {"match": {"survey": "size"}, "trait": "size", "value_param": "answer", "tag": "size:{value}"}
SURVEY_ANSWER = "survey=size&answer=M"
RULES_WAIT_SECONDS = 180  # the event processor caches the rules for 60 s per warm container
ARCHIVE_WAIT_SECONDS = 180


def _admin(stack: Stack, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
    return stack.http.request(
        method, stack.url(path), json=body, params=params or None, headers=ADMIN, timeout=HTTP_TIMEOUT_SECONDS
    )


def _drain(stack: Stack) -> None:
    """`_drain(stack)` with more patience: on a busy machine the stack may need over 30 s."""
    for _attempt in range(3):
        response = stack.http.post(stack.url("/_local/drain"), params={"timeout": "90"}, timeout=120)
        if response.status_code == 200 and response.json()["drained"] is True:
            return
        assert response.status_code == 504, response.text
    pytest.fail(f"the local stack did not drain: {response.text}")


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def _add_size_rules(stack: Stack) -> dict[str, Any]:
    """Add the S5 rules to the workspace's rules (compare-and-set on the version read, retried
    when someone else wrote in between); return the rules as stored."""
    for _attempt in range(10):
        read = _admin(stack, "GET", "/admin/v1/tags/rules")
        assert read.status_code == 200, read.text
        current = read.json()
        keywords, postbacks = list(current["keywords"]), list(current["postbacks"])
        if SIZE_KEYWORD_RULE in keywords and SIZE_SURVEY_RULE in postbacks:
            return current
        if SIZE_KEYWORD_RULE not in keywords:
            keywords.append(SIZE_KEYWORD_RULE)
        if SIZE_SURVEY_RULE not in postbacks:
            postbacks.append(SIZE_SURVEY_RULE)
        body = {"keywords": keywords, "postbacks": postbacks, "version": current["version"]}
        written = _admin(stack, "PUT", "/admin/v1/tags/rules", body)
        if written.status_code == 409:
            assert written.json()["error"] == "rules_version_conflict", written.text
            continue
        assert written.status_code == 200, written.text
        stored: dict[str, Any] = written.json()
        assert stored["version"] == current["version"] + 1
        # nobody else's rules were dropped, ours were added
        assert stored["keywords"] == keywords and stored["postbacks"] == postbacks
        assert _admin(stack, "GET", "/admin/v1/tags/rules").json()["version"] >= stored["version"]
        # a write based on the version read before is refused, not applied over the newer rules
        stale = _admin(stack, "PUT", "/admin/v1/tags/rules", current)
        assert (stale.status_code, stale.json()["error"]) == (409, "rules_version_conflict")
        assert SIZE_KEYWORD_RULE in _admin(stack, "GET", "/admin/v1/tags/rules").json()["keywords"]
        return stored
    pytest.fail("the tag rules kept changing under this test (10 version conflicts in a row)")


def _wait_until_rules_apply(stack: Stack, run: str) -> str:
    """The event processor reads the rules through a cache: a probe friend asks and answers until
    the rules apply to new events. Returns the probe's LINE user id (a friend of this run)."""
    probe = line_events.user_id(f"{run}-probe")
    source = line_events.user_source(probe)
    assert stack.line([line_events.follow(source=source, timestamp=now_ms())]).status_code == 200
    deadline = time.monotonic() + RULES_WAIT_SECONDS
    while True:
        at = now_ms()
        events = [
            line_events.text_message("尺寸表在哪裡？", source=source, timestamp=at),
            line_events.postback(SURVEY_ANSWER, source=source, timestamp=at + 1),
        ]
        assert stack.line(events).status_code == 200
        _drain(stack)
        profile = stack.lookup("line", probe)
        if "asked:size" in profile["tags"] and profile["traits"].get("size") == "M":
            return probe
        assert time.monotonic() < deadline, f"the tag rules did not apply within {RULES_WAIT_SECONDS}s: {profile}"
        time.sleep(2)


def _preview(stack: Stack, rule: dict[str, Any], sample: int = 20) -> dict[str, Any]:
    response = _admin(stack, "POST", "/admin/v1/segments/preview", {"rule": rule, "sample": sample})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _wait_for_archive(stack: Stack, expectations: list[tuple[dict[str, Any], int]]) -> None:
    """The archive trails the table by the archiver's batching window: poll previews until each
    rule selects the expected number of people."""
    deadline = time.monotonic() + ARCHIVE_WAIT_SECONDS
    while True:
        _drain(stack)
        counts = [_preview(stack, rule, sample=1)["count"] for rule, _ in expectations]
        if counts == [expected for _, expected in expectations]:
            return
        assert time.monotonic() < deadline, f"the archive did not catch up: {counts} != {expectations}"
        time.sleep(0.5)


def test_keywords_postbacks_and_store_links_tag_friends_and_data_health_shows_coverage(stack: Stack) -> None:
    run = unique("s5")
    _add_size_rules(stack)
    probe = _wait_until_rules_apply(stack, run)

    # Three more friends: one asks about sizes and answers the size survey, one comes from the
    # store's QR code, one only follows.
    asker, visitor, quiet = (line_events.user_id(f"{run}-{who}") for who in ("asker", "visitor", "quiet"))
    start = now_ms() - 60_000
    asked_at, answered_at = start + 1_000, start + 2_000
    follows = [line_events.follow(source=line_events.user_source(u), timestamp=start) for u in (asker, visitor, quiet)]
    assert stack.line(follows).status_code == 200
    conversation = [
        line_events.text_message(
            "請問這件外套的尺寸怎麼選？", source=line_events.user_source(asker), timestamp=asked_at
        ),
        line_events.postback(SURVEY_ANSWER, source=line_events.user_source(asker), timestamp=answered_at),
    ]
    assert stack.line(conversation).status_code == 200
    _drain(stack)

    profile = stack.lookup("line", asker)
    assert profile["tags"] == {
        "asked:size": {"source": "keyword", "at": _iso(asked_at)},
        "size:M": {"source": "postback", "at": _iso(answered_at)},
    }
    assert profile["traits"]["size"] == "M"
    assert profile["trait_sources"]["size"] == {"source": f"line:{LINE_CHANNEL}", "updated_at": _iso(answered_at)}
    derived = [e["properties"] for e in profile["events"] if "derivedTags" in e.get("properties", {})]
    assert sorted(tag["tag"] for p in derived for tag in p["derivedTags"]) == ["asked:size", "size:M"]
    assert [p["derivedTraits"] for p in derived if p["derivedTraits"]] == [{"size": "M"}]
    assert stack.lookup("line", quiet)["tags"] == {}

    # The store's tracked link: a QR code for the poster, a personal link pushed to a known friend
    code = unique("s5-store")
    created = _admin(
        stack,
        "POST",
        "/admin/v1/links",
        {"code": code, "url": "https://shop.example.com/store?utm_medium=qr", "src": STORE, "tags": [f"visit:{run}"]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["src"] == STORE and created.json()["public_url"] == stack.url(f"/r/{code}")
    qr = _admin(stack, "GET", f"/admin/v1/links/{code}/qr.svg", src=STORE)
    assert qr.status_code == 200 and qr.headers["Content-Type"] == "image/svg+xml"
    assert qr.text.lstrip().startswith(("<?xml", "<svg")) and "<svg" in qr.text and "</svg>" in qr.text
    assert qr.headers["X-Link-Url"] == stack.url(f"/r/{code}?src={STORE}")
    personal = _admin(stack, "POST", f"/admin/v1/links/{code}/personal", {"line_user_id": visitor, "channel": "line"})
    assert personal.status_code == 200, personal.text
    assert personal.json()["identifier_type"] == "line"
    clicked = requests.get(personal.json()["url"], allow_redirects=False, timeout=HTTP_TIMEOUT_SECONDS)
    assert clicked.status_code == 302, clicked.text
    assert clicked.headers["Location"].startswith("https://shop.example.com/store?utm_medium=qr")
    _drain(stack)

    friend = stack.lookup("line", visitor)
    assert {tag: entry["source"] for tag, entry in friend["tags"].items()} == {
        f"source:{STORE}": "link",
        f"visit:{run}": "link",
    }
    assert friend["computed_traits"]["line_engagement"]["clicks"] == 1
    assert _admin(stack, "GET", f"/admin/v1/links/{code}").json()["clicks"] == {"total": 1, "known": 1, "anonymous": 0}

    # Names, so the admin can find this run's people by name (a partner's identify naming the LINE id)
    ids: dict[str, str] = {}
    for who, user in (("probe", probe), ("asker", asker), ("visitor", visitor), ("quiet", quiet)):
        found = stack.lookup("line", user)
        ids[who] = found["profile_id"]
        [line_id] = [i["value"] for i in found["identifiers"] if i["type"] == "line"]
        identify = {
            "anonymousId": unique("aid"),
            "traits": {"name": f"{run} {who}"},
            "context": {"externalIds": [{"type": "line", "id": line_id, "encoding": "none"}]},
        }
        assert stack.segment("identify", identify).status_code == 200
    _drain(stack)
    for who, user in (("asker", asker), ("quiet", quiet)):
        named = stack.lookup("line", user)
        assert named["profile_id"] == ids[who] and named["traits"]["name"] == f"{run} {who}"

    mine = {"attribute": {"field": "profile_id", "op": "in", "value": sorted(ids.values())}}
    friends_of_mine = {"and": [mine, {"reachable": {"channel": "line"}}]}
    _wait_for_archive(
        stack,
        [
            (friends_of_mine, 4),
            ({"and": [mine, {"attribute": {"field": "traits.name", "op": "starts_with", "value": run}}]}, 4),
            ({"and": [mine, {"tag": {"name": "asked:size"}}]}, 2),
            ({"and": [mine, {"tag": {"name": f"source:{STORE}"}}]}, 1),
        ],
    )

    # This run's friends as the archive has them: 3 of 4 tagged, the quiet one untagged
    mine_now = _preview(stack, friends_of_mine, sample=10)
    assert mine_now["count"] == 4
    tags_of = {p["profile_id"]: set(p["tags"]) for p in mine_now["sample"]}
    assert tags_of == {
        ids["probe"]: {"asked:size", "size:M"},
        ids["asker"]: {"asked:size", "size:M"},
        ids["visitor"]: {f"source:{STORE}", f"visit:{run}"},
        ids["quiet"]: set(),
    }
    untagged = {
        "and": [friends_of_mine, *({"not": {"tag": {"group": g}}} for g in ("asked", "size", "source", "visit"))]
    }
    lonely = _preview(stack, untagged)
    assert lonely["count"] == 1 and [p["profile_id"] for p in lonely["sample"]] == [ids["quiet"]]
    not_asked = _preview(stack, {"and": [friends_of_mine, {"not": {"tag": {"group": "asked"}}}]})
    assert {p["profile_id"] for p in not_asked["sample"]} == {ids["visitor"], ids["quiet"]}
    sized = _preview(stack, {"and": [mine, {"attribute": {"field": "traits.size", "op": "eq", "value": "M"}}]})
    assert {p["profile_id"] for p in sized["sample"]} == {ids["probe"], ids["asker"]}

    # Search by name and tag / trait
    asked = _admin(stack, "GET", "/admin/v1/profiles/search", name_prefix=run, tag="asked:size").json()
    assert sorted(p["name"] for p in asked["profiles"]) == [f"{run} asker", f"{run} probe"]
    assert all(p["line_status"] == "friend" for p in asked["profiles"])
    from_store = _admin(stack, "GET", "/admin/v1/profiles/search", name_prefix=run, tag=f"source:{STORE}").json()
    assert [p["profile_id"] for p in from_store["profiles"]] == [ids["visitor"]]
    by_trait = _admin(stack, "GET", "/admin/v1/profiles/search", name_prefix=run, **{"trait.size": "M"}).json()
    assert {p["profile_id"] for p in by_trait["profiles"]} == {ids["probe"], ids["asker"]}

    # The data-health report, on the whole shared workspace: relations that hold whatever else is there
    health = _admin(stack, "GET", "/admin/v1/reports/data-health")
    assert health.status_code == 200, health.text
    report = health.json()
    assert report["archive_as_of"]
    coverage = report["tag_coverage"]
    assert coverage["friends"] >= 4 and 3 <= coverage["tagged"] <= coverage["friends"] - 1
    assert coverage["rate"] == round(coverage["tagged"] / coverage["friends"], 4) and coverage["rate"] < 1
    groups = coverage["groups"]
    assert groups["asked"]["tagged"] >= 2 and groups["size"]["tagged"] >= 2
    assert groups["source"]["tagged"] >= 1 and groups["visit"]["tagged"] >= 1
    for name, group in groups.items():
        assert group["tagged"] <= coverage["tagged"], name
        assert group["rate"] == round(group["tagged"] / coverage["friends"], 4), name
    identifiers = report["identifiers"]
    assert report["profiles"] >= 4
    for kind, gap in identifiers.items():
        assert gap["present"] + gap["missing"] == report["profiles"], kind
        assert gap["missing_rate"] == round(gap["missing"] / report["profiles"], 4), kind
    assert identifiers["line"]["present"] >= 4 and identifiers["anonymous_id"]["present"] >= 4
    for kind in ("email", "phone", "member_id"):  # none of this run's friends gave one
        assert identifiers[kind]["missing"] >= 4, kind

    # ... and agrees with the archive's own answer for the same questions, once it holds still
    for _attempt in range(10):
        before = [
            _preview(stack, {"reachable": {"channel": "line"}}, sample=1)["count"],
            _preview(stack, {"and": [{"reachable": {"channel": "line"}}, {"tag": {"group": "asked"}}]}, 1)["count"],
            _preview(stack, {"and": [{"reachable": {"channel": "line"}}, {"tag": {"group": "source"}}]}, 1)["count"],
            _preview(stack, {"not": {"identifier": {"type": "email"}}}, sample=1)["count"],
        ]
        report = _admin(stack, "GET", "/admin/v1/reports/data-health").json()
        coverage = report["tag_coverage"]
        after = [
            coverage["friends"],
            coverage["groups"]["asked"]["tagged"],
            coverage["groups"]["source"]["tagged"],
            report["identifiers"]["email"]["missing"],
        ]
        if before == after:
            break
        _drain(stack)
        time.sleep(0.5)
    assert before == after
