"""The tracked-link redirect on in-memory fakes: what a click answers, records and counts, and how
the event processor turns it into tags and LINE engagement (cdp.links.redirect, tag_rules)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from cdp.errors import StoreUnavailable
from cdp.events.canonical import EventNormalizer
from cdp.links.model import Link
from cdp.links.redirect import (
    CachedLinks,
    ClickRequest,
    LinkRedirector,
    destination_with_anonymous_id,
)
from cdp.links.tokens import PersonRef, sign_token
from cdp.profiles.computed import computed_traits
from cdp.profiles.model import rebuild_profile
from cdp.profiles.processor import EventProcessor
from cdp.profiles.tag_rules import LINK_CLICK_SOURCE

from tests.fakes import FakeProfileStore, FakePublisher, FakeRawEventStore, FixedClock
from tests.unit.builders import NOW_ISO, partner_raw

KEY = b"s" * 64
PROVIDER = "2001234567"
LINE_USER = "U" + "b2" * 16
LINK = Link(
    code="spring-sale",
    url="https://shop.example.com/new?utm_source=line#top",
    src="store-taipei-101",
    created_at=NOW_ISO,
    campaign="spring",
    tags=("interest:dress",),
)


class FakeLinks:
    def __init__(self, *links: Link) -> None:
        self.links = {link.code: link for link in links}
        self.reads: list[str] = []
        self.failing = False

    def get(self, code: str) -> Link | None:
        self.reads.append(code)
        if self.failing:
            raise StoreUnavailable("reading a link failed")
        return self.links.get(code)


class FakeCounter:
    def __init__(self) -> None:
        self.clicks: list[tuple[str, bool]] = []
        self.failing = False

    def count_click(self, code: str, *, known: bool) -> None:
        if self.failing:
            raise StoreUnavailable("counting a click failed")
        self.clicks.append((code, known))


class FailingEvents:
    def store_once(self, events: object) -> list[bool]:
        raise StoreUnavailable("storing a raw event failed")


@pytest.fixture
def parts() -> tuple[FakeLinks, FakeRawEventStore, FakeCounter]:
    return FakeLinks(LINK), FakeRawEventStore(), FakeCounter()


def _redirector(parts: tuple[FakeLinks, FakeRawEventStore, FakeCounter], key: bytes = KEY) -> LinkRedirector:
    links, events, counter = parts
    ids = iter(f"anon-{n:08d}" for n in range(1000))

    def signing_key() -> bytes:
        if not key:
            raise StoreUnavailable("reading configuration from Secrets Manager failed")
        return key

    return LinkRedirector(
        links=links,
        events=events,
        counter=counter,
        signing_key=signing_key,
        clock=FixedClock(),
        new_id=lambda: next(ids),
    )


def _token(person: PersonRef, code: str = LINK.code) -> str:
    return sign_token(KEY, code, person)


# the redirect decision --------------------------------------------------------------------------
def test_an_anonymous_click_is_sent_on_with_a_new_anonymous_id_recorded_and_counted(parts: tuple) -> None:
    _links, events, counter = parts
    outcome = _redirector(parts).click(ClickRequest(code=LINK.code, user_agent="Mozilla/5.0 Line/13.1.0"))

    assert outcome.status == 302 and outcome.anonymous_id == "anon-00000000"
    location = urlsplit(outcome.location or "")
    assert (location.netloc, location.path, location.fragment) == ("shop.example.com", "/new", "top")
    assert parse_qs(location.query) == {"utm_source": ["line"], "cdp_aid": ["anon-00000000"]}
    (stored,) = events.events.values()
    assert stored.origin == "partner" and stored.source == LINK_CLICK_SOURCE
    assert stored.event_id == f"partner#{LINK_CLICK_SOURCE}#{stored.payload['messageId']}"
    payload = stored.payload
    assert payload["type"] == "track" and payload["event"] == "Link Clicked"
    assert payload["anonymousId"] == "anon-00000000" and "userId" not in payload
    assert payload["properties"] == {
        "link_code": "spring-sale",
        "src": "store-taipei-101",
        "campaign": "spring",
        "url": LINK.url,
        "tags": ["interest:dress"],
    }
    assert payload["context"]["channel"] == "web"
    assert payload["context"]["userAgent"] == "Mozilla/5.0 Line/13.1.0"
    assert "externalIds" not in payload["context"]
    assert (outcome.recorded, outcome.duplicate, outcome.problems) == (True, False, [])
    assert counter.clicks == [("spring-sale", False)]


def test_the_browser_keeps_its_anonymous_id_and_a_junk_cookie_gets_a_new_one(parts: tuple) -> None:
    redirector = _redirector(parts)
    again = redirector.click(ClickRequest(code=LINK.code, cookies={"cdp_aid": "7d3c1e2a-0b4f-4c1e-9a77-2f3b5c6d7e8f"}))
    assert again.anonymous_id == "7d3c1e2a-0b4f-4c1e-9a77-2f3b5c6d7e8f"
    assert again.event is not None and again.event.payload["anonymousId"] == again.anonymous_id
    junk = redirector.click(ClickRequest(code=LINK.code, cookies={"cdp_aid": "<script>"}))
    assert junk.anonymous_id == "anon-00000000"


def test_a_qr_code_source_overrides_the_links_source_when_it_is_a_valid_slug(parts: tuple) -> None:
    redirector = _redirector(parts)
    outcome = redirector.click(ClickRequest(code=LINK.code, query={"src": "store-kaohsiung"}))
    assert outcome.event is not None and outcome.event.payload["properties"]["src"] == "store-kaohsiung"
    junk = redirector.click(ClickRequest(code=LINK.code, query={"src": "Not A Slug!"}))
    assert junk.event is not None and junk.event.payload["properties"]["src"] == "store-taipei-101"


def test_a_personal_line_link_is_a_known_line_click_of_that_person(parts: tuple) -> None:
    _links, _events, counter = parts
    person = PersonRef("line", f"{PROVIDER}:{LINE_USER}", "line")
    outcome = _redirector(parts).click(ClickRequest(code=LINK.code, query={"u": _token(person)}))

    assert outcome.status == 302 and outcome.person == person and outcome.known
    assert outcome.event is not None
    payload = outcome.event.payload
    assert payload["context"]["channel"] == "line"
    assert payload["context"]["externalIds"] == [
        {"type": "line", "id": f"{PROVIDER}:{LINE_USER}", "collection": "users", "encoding": "none"}
    ]
    assert "anonymousId" not in payload and "userId" not in payload  # a forwarded link must not join browsers
    assert payload["properties"]["send_channel"] == "line"
    assert "cdp_aid=" in (outcome.location or "")  # the brand's site still gets an id to adopt
    assert counter.clicks == [("spring-sale", True)]


def test_a_link_minted_for_a_message_names_the_message_in_its_click() -> None:
    attribution = {"campaign_id": "spring", "message_id": "msg-1", "template_id": "size-guide", "template_version": "3"}
    minted = Link(
        code="m-abc", url="https://shop.example.com/", src="line", created_at=NOW_ISO, attribution=attribution
    )
    parts = (FakeLinks(minted), FakeRawEventStore(), FakeCounter())
    person = PersonRef("line", f"{PROVIDER}:{LINE_USER}", "line")
    outcome = _redirector(parts).click(ClickRequest(code="m-abc", query={"u": _token(person, "m-abc")}))
    assert outcome.event is not None
    properties = outcome.event.payload["properties"]
    assert {key: properties[key] for key in attribution} == attribution and properties["link_code"] == "m-abc"


def test_a_member_link_sent_by_email_is_known_but_not_a_line_click(parts: tuple) -> None:
    outcome = _redirector(parts).click(
        ClickRequest(code=LINK.code, query={"u": _token(PersonRef("member_id", "M-1", "email"))})
    )
    assert outcome.event is not None
    assert outcome.event.payload["userId"] == "M-1"
    assert outcome.event.payload["context"]["channel"] == "web"


@pytest.mark.parametrize(
    "token",
    [
        "v1.garbage.garbage",
        sign_token(b"not the key", LINK.code, PersonRef("member_id", "M-1", "line")),
        sign_token(KEY, "another-link", PersonRef("member_id", "M-1", "line")),
    ],
)
def test_a_forged_or_foreign_token_is_ignored_and_the_click_recorded_anonymously(parts: tuple, token: str) -> None:
    _links, _events, counter = parts
    outcome = _redirector(parts).click(ClickRequest(code=LINK.code, query={"u": token}))
    assert outcome.status == 302 and outcome.person is None
    assert outcome.problems == ["invalid_token"]
    assert outcome.event is not None and "userId" not in outcome.event.payload
    assert outcome.event.payload["context"]["channel"] == "web"
    assert counter.clicks == [("spring-sale", False)]


def test_an_unreadable_signing_key_makes_the_click_anonymous_not_an_error(parts: tuple) -> None:
    outcome = _redirector(parts, key=b"").click(
        ClickRequest(code=LINK.code, query={"u": _token(PersonRef("member_id", "M-1", "line"))})
    )
    assert (outcome.status, outcome.person, outcome.problems) == (302, None, ["signing_key_unavailable"])


def test_a_retried_request_is_one_click_and_separate_clicks_are_separate_events(parts: tuple) -> None:
    _links, events, counter = parts
    redirector = _redirector(parts)
    first = redirector.click(ClickRequest(code=LINK.code, request_key="req-1"))
    retry = redirector.click(ClickRequest(code=LINK.code, request_key="req-1"))
    assert first.event is not None and retry.event is not None
    assert first.event.event_id == retry.event.event_id
    assert (first.recorded, retry.recorded, retry.duplicate) == (True, False, True)
    assert retry.status == 302
    redirector.click(ClickRequest(code=LINK.code))
    redirector.click(ClickRequest(code=LINK.code))
    assert len(events.events) == 3
    assert counter.clicks == [("spring-sale", False)] * 3


def test_unknown_and_malformed_codes_are_404_without_recording(parts: tuple) -> None:
    links, events, counter = parts
    redirector = _redirector(parts)
    assert redirector.click(ClickRequest(code="nope-nope")).status == 404
    assert redirector.click(ClickRequest(code="../../etc")).status == 404
    assert links.reads == ["nope-nope"]  # a code that cannot exist is not even looked up
    assert events.events == {} and counter.clicks == []


def test_failed_writes_still_send_the_visitor_on(parts: tuple) -> None:
    links, _events, counter = parts
    not_recorded = LinkRedirector(
        links=links, events=FailingEvents(), counter=counter, signing_key=lambda: KEY, clock=FixedClock()
    ).click(ClickRequest(code=LINK.code))
    assert (not_recorded.status, not_recorded.recorded, not_recorded.problems) == (302, False, ["click_not_recorded"])
    assert counter.clicks == []
    counter.failing = True
    not_counted = _redirector(parts).click(ClickRequest(code=LINK.code))
    assert (not_counted.status, not_counted.recorded, not_counted.problems) == (302, True, ["click_not_counted"])


def test_a_link_that_cannot_be_read_is_a_store_error_for_the_handler(parts: tuple) -> None:
    links, _events, _counter = parts
    links.failing = True
    with pytest.raises(StoreUnavailable):
        _redirector(parts).click(ClickRequest(code=LINK.code))


def test_the_anonymous_id_replaces_one_already_in_the_destination() -> None:
    assert destination_with_anonymous_id("https://a.example/p?cdp_aid=old&x=1&y=a+b", "new-id") == (
        "https://a.example/p?x=1&y=a+b&cdp_aid=new-id"
    )
    assert destination_with_anonymous_id("https://a.example", "id 1") == "https://a.example?cdp_aid=id%201"


def test_links_are_cached_per_container_and_unknown_codes_only_briefly() -> None:
    now = [0.0]
    reader = FakeLinks(LINK)
    cache = CachedLinks(reader, ttl_seconds=30, monotonic=lambda: now[0])
    assert cache.get(LINK.code) == LINK and cache.get(LINK.code) == LINK
    assert cache.get("missing-1") is None and cache.get("missing-1") is None
    assert reader.reads == [LINK.code, "missing-1"]
    now[0] = 6.0
    cache.get(LINK.code)
    cache.get("missing-1")
    assert reader.reads == [LINK.code, "missing-1", "missing-1"]
    now[0] = 31.0
    cache.get(LINK.code)
    assert reader.reads[-1] == LINK.code and len(reader.reads) == 4


# through the event processor ----------------------------------------------------------------------
def _processor(store: FakeProfileStore, normalizer: EventNormalizer) -> EventProcessor:
    return EventProcessor(normalizer, store, FakePublisher(), FixedClock())


def test_an_anonymous_click_tags_the_visitor_with_its_source_and_the_links_tags(
    parts: tuple, event_normalizer: EventNormalizer
) -> None:
    _links, events, _counter = parts
    store = FakeProfileStore()
    _redirector(parts).click(ClickRequest(code=LINK.code, query={"src": "store-kaohsiung"}))
    (raw,) = events.events.values()
    result = _processor(store, event_normalizer).process(raw)

    profile = store.profiles[result.profile_id or ""]
    assert {tag: entry["source"] for tag, entry in profile.tags.items()} == {
        "source:store-kaohsiung": "link",
        "interest:dress": "link",
    }
    assert {"tag:source:store-kaohsiung", "tag:interest:dress"} <= set(result.changes)
    assert result.event.as_dict()["properties"]["derivedTags"] == [
        {"tag": "source:store-kaohsiung", "source": "link"},
        {"tag": "interest:dress", "source": "link"},
    ]
    assert computed_traits(profile, NOW_ISO)["line_engagement"]["clicks"] == 0  # a web click
    # the timeline keeps what was derived: a rebuild (after an unmerge) gives the same tags
    rebuilt = rebuild_profile(
        profile.profile_id,
        profile.created_at,
        [
            (entry.event(), entry.attached_identifiers(), entry.applied_at)
            for entry in store.timeline(profile.profile_id)
        ],
        NOW_ISO,
    )
    assert rebuilt.tags == profile.tags


def test_a_personal_line_click_counts_as_line_engagement_of_the_friend(
    parts: tuple, event_normalizer: EventNormalizer
) -> None:
    _links, events, _counter = parts
    store = FakeProfileStore()
    person = PersonRef("line", f"{PROVIDER}:{LINE_USER}", "line")
    _redirector(parts).click(ClickRequest(code=LINK.code, query={"u": _token(person)}))
    (raw,) = events.events.values()
    result = _processor(store, event_normalizer).process(raw)

    profile = store.profiles[result.profile_id or ""]
    assert {entry["value"] for entry in profile.identifiers.values()} == {f"{PROVIDER}:{LINE_USER}"}
    assert set(profile.tags) == {"source:store-taipei-101", "interest:dress"}
    engagement = computed_traits(profile, NOW_ISO)["line_engagement"]
    assert engagement["clicks"] == 1 and engagement["last_click_at"] == NOW_ISO
    assert "line_engagement" in result.changes


def test_a_partners_own_link_clicked_event_derives_no_tags(event_normalizer: EventNormalizer) -> None:
    store = FakeProfileStore()
    raw = partner_raw(
        {
            "type": "track",
            "event": "Link Clicked",
            "userId": "M-9",
            "messageId": "m-1",
            "properties": {"src": "spoofed", "tags": ["vip"], "derivedTags": [{"tag": "vip", "source": "link"}]},
        }
    )
    result = _processor(store, event_normalizer).process(raw)
    assert store.profiles[result.profile_id or ""].tags == {}


def test_derived_tags_a_click_claims_are_replaced_by_what_the_processor_derives(
    parts: tuple, event_normalizer: EventNormalizer
) -> None:
    _links, events, _counter = parts
    _redirector(parts).click(ClickRequest(code=LINK.code))
    (raw,) = events.events.values()
    raw.payload["properties"]["derivedTags"] = [{"tag": "vip", "source": "manual"}]
    store = FakeProfileStore()
    result = _processor(store, event_normalizer).process(raw)
    assert set(store.profiles[result.profile_id or ""].tags) == {"source:store-taipei-101", "interest:dress"}


@pytest.mark.parametrize(
    "agent",
    [
        "facebookexternalhit/1.1;line-poker/1.0",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "WhatsApp/2.23.20.0",
    ],
)
def test_link_preview_crawlers_are_redirected_but_no_click_is_recorded(parts: tuple, agent: str) -> None:
    _links, events, counter = parts
    person = PersonRef("line", f"{PROVIDER}:{LINE_USER}", "line")
    outcome = _redirector(parts).click(ClickRequest(code=LINK.code, query={"u": _token(person)}, user_agent=agent))
    assert (outcome.status, outcome.preview, outcome.recorded) == (302, True, False)
    assert outcome.location is not None and outcome.location.startswith("https://shop.example.com/new?")
    assert events.events == {} and counter.clicks == []


def test_browsers_in_line_are_not_mistaken_for_the_preview_crawler(parts: tuple) -> None:
    agent = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari Line/13.20.0"
    )
    outcome = _redirector(parts).click(ClickRequest(code=LINK.code, user_agent=agent))
    assert (outcome.preview, outcome.recorded) == (False, True)
