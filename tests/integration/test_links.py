"""Tracked links on moto: the link store and its counters, the admin routes (create, read, QR,
personal links) and the public redirect handler writing the click as a raw event that the event
processor turns into tags and LINE engagement."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cdp import settings as env_names
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.link_store import DynamoLinkStore
from cdp.adapters.dynamodb.raw_events import raw_event_from_item
from cdp.clock import iso_from_ms
from cdp.links.model import Link
from cdp.links.tokens import PersonRef, verify_token

from tests.fixtures import line_events
from tests.fixtures.line_events import BASE_TIMESTAMP_MS, CHANNEL_SECRET, signed_delivery
from tests.fixtures.links import NON_ASCII_DESTINATIONS
from tests.integration.conftest import ADMIN_TOKEN, LINE_CHANNEL, RawStream, Stack, api_event, response_json

SIGNING_KEY = "it-link-signing-key-0123456789abcdef0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json", "X-Forwarded-Proto": "https"}
PUBLIC_BASE = "https://api.example.com"


@pytest.fixture
def links_stack(stack: Stack) -> Iterator[Stack]:
    """The stack with a real signing key, and the redirect's warm-container caches cleared."""
    secret_id = stack.env("link_redirect", env_names.ENV_LINK_SIGNING_SECRET)
    stack.client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=SIGNING_KEY)
    build = stack.runtime.module("link_redirect").build
    build.cache_clear()
    yield stack
    build.cache_clear()


def admin(stack: Stack, method: str, path: str, body: Any = None, **query: str) -> dict[str, Any]:
    event = api_event(
        method, path, headers=ADMIN, body=json.dumps(body) if body is not None else None, query=query or None
    )
    return stack.invoke("admin_api", event)  # type: ignore[no-any-return]


def click(
    stack: Stack, code: str, *, query: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> Any:
    event = api_event(
        "GET",
        f"/r/{code}",
        resource="/r/{code}",
        path_parameters={"code": code},
        query=query,
        headers={"X-Forwarded-Proto": "https", **(headers or {})},
    )
    return stack.invoke("link_redirect", event)


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    """Single-valued headers of a proxy response (powertools answers with multiValueHeaders)."""
    found = {key: str(value) for key, value in (response.get("headers") or {}).items()}
    found.update({key: str(values[-1]) for key, values in (response.get("multiValueHeaders") or {}).items()})
    return found


def create(stack: Stack, **body: Any) -> dict[str, Any]:
    response = admin(
        stack, "POST", "/admin/v1/links", {"url": "https://shop.example.com/new", "src": "qr-poster", **body}
    )
    assert response["statusCode"] == 201, response
    return response_json(response)  # type: ignore[no-any-return]


def clicks_of(stack: Stack, code: str) -> dict[str, int]:
    response = admin(stack, "GET", f"/admin/v1/links/{code}")
    assert response["statusCode"] == 200, response
    return response_json(response)["clicks"]  # type: ignore[no-any-return]


def raw_clicks(stack: Stack) -> list[dict[str, Any]]:
    return [
        raw_event_from_item(item).payload
        for key, item in stack.raw_items().items()
        if key.startswith("partner#tracked-links#")
    ]


# the store -----------------------------------------------------------------------------------------
def test_links_are_stored_once_per_code_and_counted_atomically(stack: Stack) -> None:
    store = DynamoLinkStore(client("dynamodb"), stack.core_table)
    link = Link(
        code="store-101", url="https://a.example/x", src="store-taipei-101", created_at=iso_from_ms(0), tags=("vip",)
    )
    assert store.create(link) is True
    assert store.create(link) is False
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: store.count_click("store-101", known=n % 3 == 0), range(30)))
    stored = store.get("store-101", consistent=True)
    assert stored is not None
    assert (stored.url, stored.src, stored.tags, stored.campaign) == (
        "https://a.example/x",
        "store-taipei-101",
        ("vip",),
        None,
    )
    assert stored.clicks.as_dict() == {"total": 30, "known": 10, "anonymous": 20}
    item = stack.client("dynamodb").get_item(
        TableName=stack.core_table, Key={"pk": {"S": "LINK#store-101"}, "sk": {"S": "LINK"}}
    )["Item"]
    assert item["clicks_total"] == {"N": "30"}
    assert store.get("nope-nope") is None


# the admin API --------------------------------------------------------------------------------------
def test_create_read_and_refuse_links_through_the_admin_api(links_stack: Stack) -> None:
    created = create(links_stack, code="spring-sale", campaign="spring", tags=["interest:dress"])
    assert created == {
        "code": "spring-sale",
        "url": "https://shop.example.com/new",
        "src": "qr-poster",
        "campaign": "spring",
        "tags": ["interest:dress"],
        "created_at": created["created_at"],
        "clicks": {"total": 0, "known": 0, "anonymous": 0},
        "public_url": f"{PUBLIC_BASE}/r/spring-sale",
    }
    generated = create(links_stack)
    assert len(generated["code"]) == 8 and generated["public_url"].endswith(f"/r/{generated['code']}")

    taken = admin(
        links_stack, "POST", "/admin/v1/links", {"code": "spring-sale", "url": "https://x.example", "src": "x"}
    )
    assert (taken["statusCode"], response_json(taken)["error"]) == (409, "link_code_taken")
    for body, code in [
        ({"url": "ftp://x.example", "src": "x"}, "invalid_link_url"),
        ({"url": "https://x.example", "src": "Bad Src"}, "invalid_link_src"),
        ({"url": "https://x.example", "src": "x", "tags": [":x"]}, "invalid_tag"),
        ({"url": "https://x.example", "src": "x", "code": "a b"}, "invalid_link_code"),
        ({"url": "https://x.example", "src": "x", "owner": "me"}, "unknown_link_field"),
    ]:
        response = admin(links_stack, "POST", "/admin/v1/links", body)
        assert (response["statusCode"], response_json(response)["error"]) == (400, code), body
    bad_json = links_stack.invoke("admin_api", api_event("POST", "/admin/v1/links", headers=ADMIN, body="{"))
    assert (bad_json["statusCode"], response_json(bad_json)["error"]) == (400, "invalid_json")
    missing = admin(links_stack, "GET", "/admin/v1/links/no-such-link")
    assert (missing["statusCode"], response_json(missing)["error"]) == (404, "link_not_found")
    no_token = links_stack.invoke("admin_api", api_event("GET", "/admin/v1/links/spring-sale"))
    assert no_token["statusCode"] == 401


def test_the_link_list_pages_newest_first_and_refuses_a_bad_cursor_or_limit(links_stack: Stack) -> None:
    made = [create(links_stack, code=f"list-{n}")["code"] for n in range(3)]
    first = admin(links_stack, "GET", "/admin/v1/links", limit="2")
    assert first["statusCode"] == 200, first
    page = response_json(first)
    assert [link["code"] for link in page["links"]] == ["list-2", "list-1"]
    assert page["links"][0]["public_url"] == f"{PUBLIC_BASE}/r/list-2"
    assert page["links"][0]["clicks"] == {"total": 0, "known": 0, "anonymous": 0}
    rest = response_json(admin(links_stack, "GET", "/admin/v1/links", before=page["next"]))
    assert [link["code"] for link in rest["links"]] == ["list-0"] and rest["next"] is None
    assert set(made) == {"list-0", "list-1", "list-2"}
    for query, code in [({"before": "garbage"}, "invalid_cursor"), ({"limit": "0"}, "invalid_limit")]:
        response = admin(links_stack, "GET", "/admin/v1/links", **query)
        assert (response["statusCode"], response_json(response)["error"]) == (400, code), query


def test_qr_codes_encode_the_public_redirect_url(links_stack: Stack) -> None:
    create(links_stack, code="poster-1")
    svg = admin(links_stack, "GET", "/admin/v1/links/poster-1/qr.svg", src="store-taipei-101")
    assert svg["statusCode"] == 200
    assert headers_of(svg)["Content-Type"] == "image/svg+xml"
    assert headers_of(svg)["X-Link-Url"] == f"{PUBLIC_BASE}/r/poster-1?src=store-taipei-101"
    body = base64.b64decode(svg["body"]).decode() if svg.get("isBase64Encoded") else svg["body"]
    assert body.startswith("<?xml") and "<svg" in body and "store-taipei-101" in body  # the title names the URL

    png = admin(links_stack, "GET", "/admin/v1/links/poster-1/qr.svg", format="png")
    assert png["statusCode"] == 200 and headers_of(png)["Content-Type"] == "image/png"
    assert png["isBase64Encoded"] is True
    assert base64.b64decode(png["body"]).startswith(b"\x89PNG\r\n\x1a\n")
    assert headers_of(png)["X-Link-Url"] == f"{PUBLIC_BASE}/r/poster-1"

    bad = admin(links_stack, "GET", "/admin/v1/links/poster-1/qr.svg", format="gif")
    assert (bad["statusCode"], response_json(bad)["error"]) == (400, "invalid_qr_format")
    bad_src = admin(links_stack, "GET", "/admin/v1/links/poster-1/qr.svg", src="No Slug")
    assert (bad_src["statusCode"], response_json(bad_src)["error"]) == (400, "invalid_link_src")
    assert admin(links_stack, "GET", "/admin/v1/links/missing-1/qr.svg")["statusCode"] == 404


def test_personal_links_carry_a_token_signed_with_the_configured_key(links_stack: Stack) -> None:
    create(links_stack, code="vip-preview")
    user = line_events.user_id("personal-link")
    response = admin(links_stack, "POST", "/admin/v1/links/vip-preview/personal", {"line_user_id": user})
    assert response["statusCode"] == 200, response
    personal = response_json(response)
    url = urlsplit(personal["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{PUBLIC_BASE}/r/vip-preview"
    token = parse_qs(url.query)["u"][0]
    assert token == personal["token"]
    assert verify_token(SIGNING_KEY.encode(), "vip-preview", token) == PersonRef(
        "line", f"{LINE_CHANNEL}:{user}", "line"
    )
    assert (personal["channel"], personal["identifier_type"]) == ("line", "line")

    unknown = admin(links_stack, "POST", "/admin/v1/links/vip-preview/personal", {"profile_id": "no-such-profile"})
    assert (unknown["statusCode"], response_json(unknown)["error"]) == (404, "profile_not_found")
    bad = admin(links_stack, "POST", "/admin/v1/links/vip-preview/personal", {"line_user_id": "U1"})
    assert (bad["statusCode"], response_json(bad)["error"]) == (400, "invalid_line_user_id")
    no_link = admin(links_stack, "POST", "/admin/v1/links/nope-nope/personal", {"line_user_id": user})
    assert (no_link["statusCode"], response_json(no_link)["error"]) == (404, "link_not_found")


# the public redirect ----------------------------------------------------------------------------------
def test_a_click_redirects_sets_the_cookie_and_lands_one_raw_event(links_stack: Stack) -> None:
    create(links_stack, code="store-qr", tags=["interest:denim"])
    response = click(links_stack, "store-qr", query={"src": "store-taipei-101"}, headers={"Idempotency-Key": "tap-1"})

    assert response["statusCode"] == 302
    location = urlsplit(response["headers"]["Location"])
    anonymous_id = parse_qs(location.query)["cdp_aid"][0]
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://shop.example.com/new"
    cookie = response["headers"]["Set-Cookie"]
    assert cookie.startswith(f"cdp_aid={anonymous_id};") and "Secure" in cookie and "HttpOnly" in cookie
    assert response["headers"]["Cache-Control"] == "no-store"
    (payload,) = raw_clicks(links_stack)
    assert payload["event"] == "Link Clicked" and payload["anonymousId"] == anonymous_id
    assert payload["properties"]["src"] == "store-taipei-101"
    assert payload["properties"]["tags"] == ["interest:denim"]
    assert payload["context"]["channel"] == "web"

    # the browser retries the same request: one event, one count; a second tap is another click
    retry = click(links_stack, "store-qr", headers={"Idempotency-Key": "tap-1", "Cookie": f"cdp_aid={anonymous_id}"})
    assert retry["statusCode"] == 302
    assert len(raw_clicks(links_stack)) == 1
    again = click(links_stack, "store-qr", headers={"Cookie": f"theme=dark; cdp_aid={anonymous_id}"})
    assert parse_qs(urlsplit(again["headers"]["Location"]).query)["cdp_aid"] == [anonymous_id]
    assert len(raw_clicks(links_stack)) == 2
    assert clicks_of(links_stack, "store-qr") == {"total": 2, "known": 0, "anonymous": 2}


def test_unknown_codes_are_404_link_not_found_as_json_or_a_page(links_stack: Stack) -> None:
    response = click(links_stack, "nope-nope")
    assert response["statusCode"] == 404 and response_json(response)["error"] == "link_not_found"
    page = click(links_stack, "nope-nope", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page["statusCode"] == 404 and page["headers"]["Content-Type"].startswith("text/html")
    assert 'data-error="link_not_found"' in page["body"]
    assert raw_clicks(links_stack) == []


def test_a_forged_token_is_recorded_anonymously_never_an_error(links_stack: Stack) -> None:
    create(links_stack, code="forged-1")
    response = click(links_stack, "forged-1", query={"u": "v1.eyJjIjoiZm9yZ2VkLTEifQ.AAAA"})
    assert response["statusCode"] == 302
    (payload,) = raw_clicks(links_stack)
    assert "anonymousId" in payload and "externalIds" not in payload["context"]
    assert clicks_of(links_stack, "forged-1") == {"total": 1, "known": 0, "anonymous": 1}


def test_a_personal_line_click_reaches_the_friends_profile_with_tags_and_engagement(
    links_stack: Stack, raw_stream: RawStream
) -> None:
    # Given a LINE friend and a personal link for them
    user = line_events.user_id("link-click")
    body, signature = signed_delivery(
        CHANNEL_SECRET, [line_events.follow(source=line_events.user_source(user), timestamp=BASE_TIMESTAMP_MS)]
    )
    webhook = api_event(
        "POST",
        f"/line/webhook/{LINE_CHANNEL}",
        resource="/line/webhook/{channel}",
        body=body,
        headers={"x-line-signature": signature},
        path_parameters={"channel": LINE_CHANNEL},
    )
    assert links_stack.invoke("line_webhook", webhook)["statusCode"] == 200
    create(links_stack, code="new-arrivals", src="line-push", tags=["interest:new-arrivals"])
    personal = response_json(
        admin(links_stack, "POST", "/admin/v1/links/new-arrivals/personal", {"line_user_id": user, "channel": "line"})
    )

    # When they click it
    token = parse_qs(urlsplit(personal["url"]).query)["u"][0]
    assert click(links_stack, "new-arrivals", query={"u": token})["statusCode"] == 302
    assert links_stack.invoke("event_processor", {"Records": raw_stream.new_records()}) == {"batchItemFailures": []}

    # Then the click is theirs: tagged with the source and the link's tags, counted as a LINE click
    response = admin(links_stack, "GET", "/admin/v1/profiles/lookup", type="line", value=user)
    assert response["statusCode"] == 200, response
    profile = response_json(response)
    assert {tag: entry["source"] for tag, entry in profile["tags"].items()} == {
        "source:line-push": "link",
        "interest:new-arrivals": "link",
    }
    assert profile["computed_traits"]["line_engagement"]["clicks"] == 1
    assert [e["event"] for e in profile["events"] if e.get("event") == "Link Clicked"] == ["Link Clicked"]
    assert clicks_of(links_stack, "new-arrivals") == {"total": 1, "known": 1, "anonymous": 0}


def test_lines_link_preview_fetch_is_redirected_but_not_a_click(links_stack: Stack) -> None:
    create(links_stack, code="pushed-1")
    preview = click(links_stack, "pushed-1", headers={"User-Agent": "facebookexternalhit/1.1;line-poker/1.0"})
    assert preview["statusCode"] == 302 and preview["headers"]["Location"].startswith("https://shop.example.com/new")
    assert raw_clicks(links_stack) == []
    assert clicks_of(links_stack, "pushed-1") == {"total": 0, "known": 0, "anonymous": 0}


@pytest.mark.parametrize(
    ("destination", "location"),
    NON_ASCII_DESTINATIONS,
)
def test_a_non_ascii_destination_is_stored_as_a_uri_and_redirects_with_an_ascii_location(
    links_stack: Stack, destination: str, location: str
) -> None:
    created = create(links_stack, url=destination)
    assert created["url"] == location

    response = click(links_stack, created["code"])

    assert response["statusCode"] == 302
    sent = urlsplit(response["headers"]["Location"])
    assert response["headers"]["Location"].isascii()
    assert f"{sent.scheme}://{sent.netloc}{sent.path}" == location


def test_a_link_stored_before_uri_form_still_redirects_with_an_ascii_location(links_stack: Stack) -> None:
    # A destination written before links were kept in URI form (straight into the store)
    store = DynamoLinkStore(client("dynamodb"), links_stack.core_table)
    store.create(Link(code="old-iri", url="https://shop.example.com/新品", src="poster", created_at=iso_from_ms(0)))

    response = click(links_stack, "old-iri")

    assert response["statusCode"] == 302
    assert response["headers"]["Location"].startswith("https://shop.example.com/%E6%96%B0%E5%93%81?cdp_aid=")
