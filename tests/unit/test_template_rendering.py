"""Templates end to end in memory: content validated with JSON pointers, rendered per person and
channel through Liquid, every followable URL turned into the person's tracked link for the
message, and the Renderer port over the store (newest, pinned, archived, missing)."""

from __future__ import annotations

from typing import Any

import pytest
from cdp.links.model import Link
from cdp.links.tokens import PersonRef, verify_token
from cdp.messaging.content import RenderContext, Renderer, RenderError
from cdp.messaging.templates.links import (
    TrackedLinkMinter,
    code_of,
    people_from_profiles,
    rewrite_html,
    rewrite_line,
    rewrite_text,
)
from cdp.messaging.templates.model import (
    STATUS_ARCHIVED,
    InvalidTemplate,
    Template,
    TemplateVersion,
    parse_content,
)
from cdp.messaging.templates.renderer import TemplateRenderer, render_version
from cdp.profiles.model import Profile

from tests.fakes import FakeLinkStore, FakeProfileStore, FakeTemplateStore
from tests.unit.builders import NOW_ISO, NOW_MS

KEY = b"link-signing-key"
BASE = "https://cdp.example.com"
AMY = PersonRef(id_type="line", value="prov:U" + "a" * 32, channel="line")


class FixedClock:
    def now_ms(self) -> int:
        return NOW_MS


def person(**changes: Any) -> RenderContext:
    values: dict[str, Any] = {
        "profile_id": "p-amy",
        "traits": {"first_name": "Amy"},
        "computed": {"rfm_segment": "champions"},
        "tags": ["vip"],
        "event": None,
        "link_attribution": {"campaign_id": "spring", "message_id": "msg-1"},
    }
    return RenderContext(**{**values, **changes})


def minter(links: FakeLinkStore, people: dict[str, PersonRef] | None = None) -> TrackedLinkMinter:
    known = {"p-amy": AMY} if people is None else people
    return TrackedLinkMinter(
        links,
        base_url=BASE,
        clock=FixedClock(),
        signing_key=lambda: KEY,
        person_of=lambda profile_id, channel: known.get(profile_id),
    )


CONTENT: dict[str, Any] = {
    "line": {
        "messages": [
            {"type": "text", "text": "Hi {{ traits.first_name }}, see https://shop.example.com/spring."},
            {
                "type": "template",
                "altText": "Spring picks",
                "template": {
                    "type": "buttons",
                    "thumbnailImageUrl": "https://cdn.example.com/t.jpg",
                    "text": "For {{ traits.first_name | default: 'you' }}",
                    "actions": [
                        {"type": "uri", "label": "Shop", "uri": "https://shop.example.com/spring"},
                        {"type": "uri", "label": "Call", "uri": "tel:+886212345678"},
                    ],
                },
            },
        ]
    },
    "email": {
        "subject": "Spring for {{ traits.first_name }}",
        "html": '<p>Hi {{ traits.first_name }}</p><a href="https://shop.example.com/spring?a=1&amp;b=2">Shop</a>'
        '<img src="https://cdn.example.com/x.png">',
        "text": "Shop at https://shop.example.com/spring",
    },
    "sms": {"text": "{{ traits.first_name }}，春季特賣 https://shop.example.com/s"},
}


def version(content: dict[str, Any] | None = None, number: int = 1) -> TemplateVersion:
    return TemplateVersion("spring", number, parse_content(content or CONTENT), NOW_ISO)


# --- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "where"),
    [
        ({}, ""),
        ({"line": {"messages": [{"type": "text"}]}}, "/line/messages/0"),
        (
            {
                "line": {
                    "messages": [
                        {
                            "type": "flex",
                            "altText": "x",
                            "contents": {
                                "type": "bubble",
                                "body": {"type": "box", "layout": "vertical", "contents": [{"type": "icon"}]},
                            },
                        }
                    ]
                }
            },
            "/line/messages/0/contents/body/contents/0",
        ),
        ({"line": {"messages": [{"type": "text", "text": "Hi {{ name }}"}]}}, "/line/messages/0/text"),
        ({"line": {"msgs": []}}, "/line/msgs"),
        ({"line": []}, "/line"),
        ({"email": {"html": "<p>x</p>"}}, "/email/subject"),
        ({"email": {"subject": "Hi"}}, "/email"),
        ({"email": {"subject": "Hi", "text": "{{ traits.x | nope }}"}}, "/email/text"),
        ({"email": {"subject": "Hi\nBcc: x", "text": "x"}}, "/email/subject"),
        ({"sms": {"text": ""}}, "/sms/text"),
        ({"sms": {"text": "中" * 671}}, "/sms/text"),  # past 10 segments
        ({"sms": {"text": "{% if %}"}}, "/sms/text"),
    ],
)
def test_invalid_content_names_its_pointer(content: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidTemplate) as refused:
        parse_content(content)
    assert refused.value.code == "invalid_template" and refused.value.details["pointer"] == where
    assert refused.value.message.startswith(where or "/")


def test_liquid_may_not_move_line_emojis() -> None:
    emojis = [{"index": 0, "productId": "5ac1bfd5040ab15980c9b435", "emojiId": "001"}]
    with pytest.raises(InvalidTemplate) as refused:
        parse_content({"line": {"messages": [{"type": "text", "text": "$ {{ traits.first_name }}", "emojis": emojis}]}})
    assert refused.value.details["pointer"] == "/line/messages/0/text"


# --- link rewriting ----------------------------------------------------------------------------
def test_urls_in_text_are_found_without_the_sentence_s_punctuation() -> None:
    seen: list[str] = []

    def mint(url: str) -> str:
        seen.append(url)
        return "https://t.example/r/x"

    text, edits = rewrite_text(
        "Go https://a.example/x?y=1. Or (https://b.example/p_(1)), 看 https://c.example/路徑", mint
    )
    assert seen == ["https://a.example/x?y=1", "https://b.example/p_(1)", "https://c.example/"]
    assert text == "Go https://t.example/r/x. Or (https://t.example/r/x), 看 https://t.example/r/x路徑"
    assert len(edits) == 3
    assert rewrite_text("no links, http:// alone", mint) == ("no links, http:// alone", [])


def test_html_hrefs_are_rewritten_and_images_left_alone() -> None:
    html = '<a href="https://s.example/?a=1&amp;b=2">x</a><a href=\'mailto:a@b.example\'>m</a><img src="https://c.example/i.png">'
    out = rewrite_html(html, lambda url: f"https://t.example/r/c?d={url}")
    assert out == (
        '<a href="https://t.example/r/c?d=https://s.example/?a=1&amp;b=2">x</a>'
        "<a href='mailto:a@b.example'>m</a><img src=\"https://c.example/i.png\">"
    )


def test_line_uri_actions_everywhere_are_rewritten_and_media_urls_are_not() -> None:
    uri = {"type": "uri", "label": "Go", "uri": "https://s.example/"}
    messages: list[dict[str, Any]] = [
        {
            "type": "text",
            "text": "$ see https://s.example/a $",
            "emojis": [{"index": 0, "productId": "p", "emojiId": "1"}, {"index": 26, "productId": "p", "emojiId": "2"}],
            "quickReply": {"items": [{"type": "action", "imageUrl": "https://cdn.example/i.png", "action": dict(uri)}]},
        },
        {
            "type": "imagemap",
            "baseUrl": "https://cdn.example/m",
            "altText": "m",
            "baseSize": {"width": 1040, "height": 1040},
            "actions": [
                {"type": "uri", "linkUri": "https://s.example/m", "area": {"x": 0, "y": 0, "width": 1, "height": 1}}
            ],
            "video": {
                "originalContentUrl": "https://cdn.example/v.mp4",
                "previewImageUrl": "https://cdn.example/v.jpg",
                "area": {"x": 0, "y": 0, "width": 1, "height": 1},
                "externalLink": {"linkUri": "https://s.example/v", "label": "More"},
            },
        },
        {
            "type": "flex",
            "altText": "f",
            "contents": {
                "type": "bubble",
                "hero": {"type": "image", "url": "https://cdn.example/h.jpg", "action": dict(uri)},
                "body": {
                    "type": "box",
                    "layout": "vertical",
                    "contents": [{"type": "button", "action": {**uri, "altUri": {"desktop": "https://s.example/d"}}}],
                },
            },
        },
    ]
    rewrite_line(messages, lambda url: "T[" + url + "]")
    text = messages[0]
    assert text["text"] == "$ see T[https://s.example/a] $"
    assert [e["index"] for e in text["emojis"]] == [0, 29]  # the emoji after the link moved with it
    assert text["quickReply"]["items"][0]["action"]["uri"] == "T[https://s.example/]"
    assert text["quickReply"]["items"][0]["imageUrl"] == "https://cdn.example/i.png"
    imagemap = messages[1]
    assert imagemap["actions"][0]["linkUri"] == "T[https://s.example/m]"
    assert imagemap["video"]["externalLink"]["linkUri"] == "T[https://s.example/v]"
    assert (
        imagemap["baseUrl"] == "https://cdn.example/m"
        and imagemap["video"]["originalContentUrl"] == "https://cdn.example/v.mp4"
    )
    hero = messages[2]["contents"]["hero"]
    assert hero["url"] == "https://cdn.example/h.jpg" and hero["action"]["uri"] == "T[https://s.example/]"
    button = messages[2]["contents"]["body"]["contents"][0]["action"]
    assert button["uri"] == "T[https://s.example/]" and button["altUri"]["desktop"] == "T[https://s.example/d]"


# --- the minter ---------------------------------------------------------------------------------
def test_one_link_per_message_and_destination_and_a_token_per_person() -> None:
    links = FakeLinkStore()
    mint = minter(links, {"p-amy": AMY, "p-ben": PersonRef("member_id", "M-2", "line")})
    attribution = {
        "campaign_id": "spring",
        "message_id": "msg-1",
        "channel": "line",
        "template_id": "t",
        "template_version": "3",
    }
    amy = mint("https://shop.example.com/新品", person(link_attribution=attribution))
    ben = mint("https://shop.example.com/新品", person(profile_id="p-ben", link_attribution=attribution))
    other = mint("https://shop.example.com/新品", person(link_attribution={**attribution, "message_id": "msg-2"}))
    code = code_of(amy)
    assert code is not None and code == code_of(ben) and code != code_of(other)
    assert amy.startswith(f"{BASE}/r/{code}?u=") and amy != ben
    link = links.get(code)
    assert link is not None and link.url == "https://shop.example.com/%E6%96%B0%E5%93%81" and link.src == "line"
    assert link.campaign == "spring"
    assert dict(link.attribution) == {
        "campaign_id": "spring",
        "message_id": "msg-1",
        "template_id": "t",
        "template_version": "3",
    }
    assert verify_token(KEY, code, amy.split("?u=", 1)[1]) == AMY
    assert len(links.links) == 2  # a second render of the same message reuses its link


def test_a_person_without_an_opaque_identifier_gets_the_message_s_link_without_a_token() -> None:
    links = FakeLinkStore()
    url = minter(links, {})("https://shop.example.com/", person())
    assert "?u=" not in url and code_of(url) in links.links


def test_people_are_found_through_their_profiles() -> None:
    store = FakeProfileStore()
    profile = Profile(profile_id="p-1", created_at=NOW_ISO, updated_at=NOW_ISO)
    profile.identifiers = {
        "email:a@x.example": {"type": "email", "value": "a@x.example", "added_at": NOW_ISO},
        "member_id:M-1": {"type": "member_id", "value": "M-1", "added_at": NOW_ISO},
    }
    store.profiles["p-1"] = profile
    only_email = Profile(profile_id="p-2", created_at=NOW_ISO, updated_at=NOW_ISO)
    only_email.identifiers = {"email:b@x.example": {"type": "email", "value": "b@x.example", "added_at": NOW_ISO}}
    store.profiles["p-2"] = only_email
    person_of = people_from_profiles(store)
    assert person_of("p-1", "email") == PersonRef("member_id", "M-1", "email")
    assert person_of("p-2", "email") is None  # an email address never goes into a URL
    assert person_of("p-missing", "line") is None


def test_a_destination_that_cannot_be_a_link_fails_the_recipient() -> None:
    with pytest.raises(RenderError) as failed:
        minter(FakeLinkStore())("https://user:pw@shop.example.com/", person())
    assert failed.value.reason == "invalid_link"


def test_an_existing_link_with_the_code_is_reused() -> None:
    links = FakeLinkStore()
    first = minter(links)("https://shop.example.com/", person())
    again = minter(links)("https://shop.example.com/", person())  # another container, same message
    assert code_of(first) == code_of(again) and len(links.links) == 1
    assert isinstance(links.links[code_of(first) or ""], Link)


# --- rendering ------------------------------------------------------------------------------------
def test_line_content_renders_with_tracked_links_and_their_codes() -> None:
    links = FakeLinkStore()
    result = render_version(version(), "line", person(), minter(links))
    assert result.channel == "line" and result.template_version == 1
    messages = result.line_messages or []
    assert messages[0]["text"].startswith("Hi Amy, see https://cdp.example.com/r/m-") and messages[0]["text"].endswith(
        "."
    )
    assert messages[1]["template"]["text"] == "For Amy"
    assert messages[1]["template"]["actions"][0]["uri"].startswith(f"{BASE}/r/")
    assert messages[1]["template"]["actions"][1]["uri"] == "tel:+886212345678"
    assert messages[1]["template"]["thumbnailImageUrl"] == "https://cdn.example.com/t.jpg"
    assert len(result.link_codes) == 1 and result.link_codes[0] in links.links  # one destination, one link
    link = links.links[result.link_codes[0]]
    assert link.attribution["template_id"] == "spring" and link.attribution["message_id"] == "msg-1"
    assert CONTENT["line"]["messages"][0]["text"].startswith("Hi {{")  # the stored version is untouched


def test_email_and_sms_render_with_links_and_segments() -> None:
    links = FakeLinkStore()
    email = render_version(version(), "email", person(), minter(links)).email
    assert email is not None and email.subject == "Spring for Amy"
    assert email.html is not None and email.html.startswith('<p>Hi Amy</p><a href="https://cdp.example.com/r/m-')
    assert '<img src="https://cdn.example.com/x.png">' in email.html
    assert email.text is not None and email.text.startswith("Shop at https://cdp.example.com/r/m-")
    sms = render_version(version(), "sms", person(), minter(links))
    assert sms.sms_text is not None and sms.sms_text.startswith("Amy，春季特賣 https://cdp.example.com/r/m-")
    assert sms.sms_segments == (len(sms.sms_text) + 66) // 67  # UCS-2, multipart
    assert len(links.links) == 3  # email, email text and SMS: the same URL per channel is its own link
    preview = render_version(version(), "sms", person(), None)
    assert preview.sms_text == "Amy，春季特賣 https://shop.example.com/s" and preview.link_codes == []


def test_a_render_that_breaks_line_s_limits_fails_only_that_recipient() -> None:
    content = {"line": {"messages": [{"type": "text", "text": "{{ traits.bio }}"}]}}
    with pytest.raises(RenderError) as failed:
        render_version(version(content), "line", person(traits={"bio": "x" * 5001}), None)
    assert (
        failed.value.reason == "invalid_content"
        and str(failed.value) == "/line/messages/0/text: at most 5000 characters"
    )
    with pytest.raises(RenderError) as failed:
        render_version(version(content), "line", person(traits={"bio": ""}), None)
    assert failed.value.reason == "invalid_content"
    ok = render_version(version(content), "line", person(traits={"bio": "Cyclist"}), None)
    assert ok.line_messages == [{"type": "text", "text": "Cyclist"}]


def test_a_tracked_url_past_line_s_uri_limit_is_refused_after_rewriting() -> None:
    long = "https://shop.example.com/" + "a" * 960  # 985 characters: valid as written
    content = {
        "line": {
            "messages": [
                {
                    "type": "template",
                    "altText": "a",
                    "template": {
                        "type": "buttons",
                        "text": "t",
                        "actions": [{"type": "uri", "label": "Go", "uri": long}],
                    },
                }
            ]
        }
    }
    assert render_version(version(content), "line", person(), None).line_messages is not None

    def padded(url: str, _context: RenderContext) -> str:
        return f"{BASE}/r/m-x?u={'t' * 1000}"

    with pytest.raises(RenderError) as failed:
        render_version(version(content), "line", person(), padded)
    assert failed.value.reason == "invalid_content" and "/template/actions/0/uri" in str(failed.value)


# --- the Renderer port over the store ----------------------------------------------------------------
def _stored(store: FakeTemplateStore) -> None:
    first = version({"sms": {"text": "v1 {{ traits.first_name }}"}})
    template = Template("spring", "Spring", 1, ("sms",), NOW_ISO, NOW_ISO)
    assert store.create(template, first)
    second = TemplateVersion("spring", 2, parse_content({"sms": {"text": "v2 {{ traits.first_name }}"}}), NOW_ISO)
    assert store.replace(
        Template("spring", "Spring", 2, ("sms",), NOW_ISO, NOW_ISO),
        expected_version=1,
        expected_status="active",
        new_version=second,
    )


def test_the_renderer_renders_the_newest_or_the_pinned_version() -> None:
    store = FakeTemplateStore()
    _stored(store)
    renderer: Renderer = TemplateRenderer(store, None)
    assert renderer.render(template_id="spring", version=None, channel="sms", context=person()).sms_text == "v2 Amy"
    pinned = renderer.render(template_id="spring", version=1, channel="sms", context=person())
    assert (pinned.sms_text, pinned.template_version) == ("v1 Amy", 1)
    for template_id, number, channel in (("nope", None, "sms"), ("spring", 9, "sms"), ("spring", 2, "line")):
        with pytest.raises(LookupError):
            renderer.render(template_id=template_id, version=number, channel=channel, context=person())  # type: ignore[arg-type]


def test_an_archived_template_renders_pinned_versions_only() -> None:
    store = FakeTemplateStore()
    _stored(store)
    archived = Template("spring", "Spring", 2, ("sms",), NOW_ISO, NOW_ISO, status=STATUS_ARCHIVED, archived_at=NOW_ISO)
    assert store.replace(archived, expected_version=2, expected_status="active", new_version=None)
    renderer = TemplateRenderer(store, None)
    with pytest.raises(LookupError):
        renderer.render(template_id="spring", version=None, channel="sms", context=person())
    assert renderer.render(template_id="spring", version=2, channel="sms", context=person()).sms_text == "v2 Amy"


def test_versions_are_immutable_in_the_store() -> None:
    store = FakeTemplateStore()
    _stored(store)
    again = TemplateVersion("spring", 2, parse_content({"sms": {"text": "changed"}}), NOW_ISO)
    stale = Template("spring", "Spring", 2, ("sms",), NOW_ISO, NOW_ISO)
    assert not store.replace(stale, expected_version=1, expected_status="active", new_version=again)
    stored = store.version("spring", 2)
    assert stored is not None and stored.content.sms == "v2 {{ traits.first_name }}"
