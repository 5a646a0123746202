"""Tracked links: validation of a new link, personal-link tokens, whom a personal link names and
the public URLs (cdp.links.model, cdp.links.tokens, cdp.links.personal)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cdp.errors import BadRequest, Conflict
from cdp.identity.identifiers import Identifier
from cdp.links.model import (
    GENERATED_CODE_ALPHABET,
    GENERATED_CODE_LENGTH,
    generate_code,
    iri_to_uri,
    new_link,
    url_problem,
)
from cdp.links.personal import (
    parse_personal_request,
    person_for_line_user,
    person_for_profile,
    public_base_url,
    redirect_url,
)
from cdp.links.redirect import destination_with_anonymous_id
from cdp.links.tokens import PersonRef, sign_token, verify_token
from cdp.profiles.model import Profile
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.builders import NOW_ISO

KEY = b"k" * 64
LINE_USER = "U" + "a1" * 16
VALID = {"url": "https://shop.example.com/new?utm_source=qr", "src": "store-taipei-101"}


# a new link -------------------------------------------------------------------------------------
def test_a_valid_link_keeps_what_was_asked_and_drops_duplicate_tags() -> None:
    link = new_link(
        {**VALID, "code": "spring-sale", "campaign": "春季新品", "tags": ["interest:dress", "vip", "interest:dress"]},
        created_at=NOW_ISO,
    )
    assert (link.code, link.url, link.src, link.campaign) == ("spring-sale", VALID["url"], VALID["src"], "春季新品")
    assert link.tags == ("interest:dress", "vip")
    assert link.as_dict()["clicks"] == {"total": 0, "known": 0, "anonymous": 0}


def test_a_generated_code_is_used_when_none_is_asked_for() -> None:
    code = generate_code()
    assert len(code) == GENERATED_CODE_LENGTH and set(code) <= set(GENERATED_CODE_ALPHABET)
    assert new_link(VALID, created_at=NOW_ISO, code=code).code == code
    assert len({generate_code() for _ in range(200)}) == 200


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"code": "a"}, "invalid_link_code"),
        ({"code": "has space"}, "invalid_link_code"),
        ({"code": "-leading"}, "invalid_link_code"),
        ({"code": 42}, "invalid_link_code"),
        ({"url": "ftp://example.com/file"}, "invalid_link_url"),
        ({"url": "javascript:alert(1)"}, "invalid_link_url"),
        ({"url": "/relative/path"}, "invalid_link_url"),
        ({"url": "https://user:pw@example.com/"}, "invalid_link_url"),
        ({"url": "https://exa mple.com/"}, "invalid_link_url"),
        ({"url": "https://example.com/\n"}, "invalid_link_url"),
        ({"url": "https://example.com:99999/"}, "invalid_link_url"),
        ({"url": "https://example.com/" + "a" * 2048}, "invalid_link_url"),
        ({"url": None}, "invalid_link_url"),
        ({"src": "Store Taipei"}, "invalid_link_src"),
        ({"src": ""}, "invalid_link_src"),
        ({"src": "s" * 57}, "invalid_link_src"),
        ({"src": None}, "invalid_link_src"),
        ({"campaign": ""}, "invalid_link_campaign"),
        ({"campaign": "x" * 129}, "invalid_link_campaign"),
        ({"campaign": 7}, "invalid_link_campaign"),
        ({"tags": "vip"}, "invalid_tag_list"),
        ({"tags": ["ok", ":value"]}, "invalid_tag"),
        ({"tags": [" padded"]}, "invalid_tag"),
        ({"tags": ["t" * 65]}, "invalid_tag"),
        ({"tags": [f"t:{n}" for n in range(21)]}, "too_many_tags"),
        ({"colour": "blue"}, "unknown_link_field"),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(change: dict[str, Any], code: str) -> None:
    body = {key: value for key, value in {**VALID, **change}.items() if value is not None}
    with pytest.raises(BadRequest) as raised:
        new_link(body, created_at=NOW_ISO, code="generated")
    assert raised.value.code == code


def test_a_non_object_body_is_invalid_json() -> None:
    with pytest.raises(BadRequest) as raised:
        new_link(["not", "an", "object"], created_at=NOW_ISO, code="x")  # type: ignore[arg-type]
    assert raised.value.code == "invalid_json"


def test_url_problem_accepts_http_and_https_with_query_fragment_and_port() -> None:
    assert url_problem("http://127.0.0.1:8080/a?b=c#d") is None
    assert url_problem("https://例子.台灣/商品?id=1") is None


# tokens -----------------------------------------------------------------------------------------
PERSON = PersonRef(id_type="line", value=f"2001234567:{LINE_USER}", channel="line")


def test_a_token_names_the_person_and_channel_for_its_link_only() -> None:
    token = sign_token(KEY, "spring-sale", PERSON)
    assert verify_token(KEY, "spring-sale", token) == PERSON
    assert verify_token(KEY, "other-link", token) is None  # bound to its link
    assert verify_token(b"another key", "spring-sale", token) is None


def test_a_token_is_hmac_sha256_over_its_payload() -> None:
    import hashlib
    import hmac

    token = sign_token(KEY, "c0de", PERSON)
    version, payload, signature = token.split(".")
    assert version == "v1"
    expected = hmac.new(KEY, f"v1.{payload}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)) == expected
    document = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert document == {"c": "c0de", "ch": "line", "t": "line", "v": PERSON.value}


def _forge(document: dict[str, Any], key: bytes = KEY) -> str:
    import hashlib
    import hmac

    payload = base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()
    signature = hmac.new(key, f"v1.{payload}".encode(), hashlib.sha256).digest()
    return f"v1.{payload}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def test_tampered_or_malformed_tokens_are_rejected_without_raising() -> None:
    token = sign_token(KEY, "c0de", PERSON)
    version, payload, signature = token.split(".")
    other = sign_token(KEY, "c0de", PersonRef("member_id", "M-2", "line"))
    bad = [
        "",
        "v1",
        "v1..",
        "v2." + token[3:],
        f"{version}.{other.split('.')[1]}.{signature}",  # someone else's payload, this signature
        f"{version}.{payload}.{signature[:-2]}",
        f"{version}.{payload}x.{signature}",
        f"{version}.%%%.{signature}",
        "v1.ü.ü",
        token + ".extra",
        "x" * 5000,
        _forge({"c": "c0de", "ch": "line", "t": "email", "v": "amy@example.com"}),  # contact data never
        _forge({"c": "c0de", "ch": "fax", "t": "line", "v": PERSON.value}),
        _forge({"c": "c0de", "ch": "line", "t": "line", "v": ""}),
        _forge(["c0de"]),  # type: ignore[arg-type]
    ]
    for candidate in bad:
        assert verify_token(KEY, "c0de", candidate) is None, candidate
    assert verify_token(KEY, "c0de", None) is None
    assert verify_token(b"", "c0de", token) is None
    assert verify_token(KEY, "c0de", _forge({"c": "c0de", "ch": "line", "t": "line", "v": PERSON.value})) == PERSON


@given(st.text(max_size=300))
def test_an_arbitrary_string_verifies_to_nothing_and_never_raises(candidate: str) -> None:
    assert verify_token(KEY, "c0de", candidate) is None


def test_signing_refuses_an_empty_key_and_contact_identifiers() -> None:
    with pytest.raises(ValueError):
        sign_token(b"", "c0de", PERSON)
    with pytest.raises(ValueError):
        sign_token(KEY, "c0de", PersonRef("email", "amy@example.com", "line"))


# whom a personal link names ----------------------------------------------------------------------
def _profile(*identifiers: Identifier) -> Profile:
    profile = Profile.new("p-1", NOW_ISO)
    for identifier in identifiers:
        profile.identifiers[identifier.key] = {"type": identifier.type, "value": identifier.value, "added_at": NOW_ISO}
    return profile


def test_on_line_the_profile_is_named_by_its_line_identifier_elsewhere_by_its_member_id() -> None:
    profile = _profile(
        Identifier("member_id", "M1"),
        Identifier("line", f"2001234567:{LINE_USER}"),
        Identifier("email", "amy@example.com"),
    )
    assert person_for_profile(profile, "line") == PersonRef("line", f"2001234567:{LINE_USER}", "line")
    assert person_for_profile(profile, "email") == PersonRef("member_id", "M1", "email")
    anonymous = _profile(Identifier("anonymous_id", "anon-1234567"), Identifier("phone", "+886912345678"))
    assert person_for_profile(anonymous, "line") == PersonRef("anonymous_id", "anon-1234567", "line")


def test_a_profile_known_only_by_email_or_phone_gets_no_personal_link() -> None:
    with pytest.raises(Conflict) as raised:
        person_for_profile(_profile(Identifier("email", "amy@example.com")), "line")
    assert raised.value.code == "no_linkable_identifier"


def test_a_line_user_is_named_with_the_provider_that_scopes_the_id() -> None:
    assert person_for_line_user("2001234567", LINE_USER, "line") == PersonRef("line", f"2001234567:{LINE_USER}", "line")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_person"),
        ({"profile_id": "p", "line_user_id": LINE_USER}, "invalid_person"),
        ({"profile_id": ""}, "invalid_person"),
        ({"line_user_id": "U123"}, "invalid_line_user_id"),
        ({"line_user_id": LINE_USER, "line_provider": "a:b"}, "invalid_line_provider"),
        ({"profile_id": "p", "channel": "fax"}, "invalid_channel"),
        ({"profile_id": "p", "extra": 1}, "unknown_link_field"),
        ("p", "invalid_json"),
    ],
)
def test_personal_requests_are_validated(body: Any, code: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_personal_request(body)
    assert raised.value.code == code


def test_personal_requests_default_to_line() -> None:
    assert parse_personal_request({"line_user_id": LINE_USER}) == (None, LINE_USER, None, "line")
    assert parse_personal_request({"profile_id": "p", "channel": "email"}) == ("p", None, None, "email")


# public URLs ---------------------------------------------------------------------------------------
def test_the_public_base_is_the_configured_domain_else_the_host_of_the_request() -> None:
    assert public_base_url("https://go.brand.tw/", {}, {}) == "https://go.brand.tw"
    api = {"domainName": "abc123.execute-api.ap-northeast-1.amazonaws.com", "stage": "prod"}
    assert (
        public_base_url(
            "", {"Host": "abc123.execute-api.ap-northeast-1.amazonaws.com", "X-Forwarded-Proto": "https"}, api
        )
        == "https://abc123.execute-api.ap-northeast-1.amazonaws.com/prod"
    )
    assert public_base_url("", {"Host": "127.0.0.1:8000"}, {"stage": "local"}) == "http://127.0.0.1:8000"
    assert public_base_url("", {"host": "go.brand.tw", "x-forwarded-proto": "https"}, {"stage": "prod"}) == (
        "https://go.brand.tw"
    )


def test_redirect_urls_carry_the_source_and_the_token_encoded() -> None:
    assert redirect_url("https://go.brand.tw", "spring") == "https://go.brand.tw/r/spring"
    assert redirect_url("https://go.brand.tw", "spring", src="store-taipei-101") == (
        "https://go.brand.tw/r/spring?src=store-taipei-101"
    )
    assert redirect_url("http://h", "c", token="v1.a-b_c.d") == "http://h/r/c?u=v1.a-b_c.d"


# non-ASCII destinations (IRI -> URI) -----------------------------------------------------------
@pytest.mark.parametrize(
    ("iri", "uri"),
    [
        pytest.param("https://shop.example.com/新品", "https://shop.example.com/%E6%96%B0%E5%93%81", id="cjk-path"),
        pytest.param(
            "https://shop.example.com/สินค้า?หมวด=ใหม่#ลด",
            "https://shop.example.com/%E0%B8%AA%E0%B8%B4%E0%B8%99%E0%B8%84%E0%B9%89%E0%B8%B2"
            "?%E0%B8%AB%E0%B8%A1%E0%B8%A7%E0%B8%94=%E0%B9%83%E0%B8%AB%E0%B8%A1%E0%B9%88#%E0%B8%A5%E0%B8%94",
            id="thai-path-query-fragment",
        ),
        pytest.param("https://例え.jp/セール", "https://xn--r8jz45g.jp/%E3%82%BB%E3%83%BC%E3%83%AB", id="idn-host-jp"),
        pytest.param("https://ร้านค้า.ไทย:8443/", "https://xn--42c5b3a1dc8kd.xn--o3cw4h:8443/", id="idn-host-th"),
        pytest.param("https://a.example/x%20y?q=a&b=%E6%96%B0", "https://a.example/x%20y?q=a&b=%E6%96%B0", id="ascii"),
        pytest.param("http://[2001:db8::1]:8080/新", "http://[2001:db8::1]:8080/%E6%96%B0", id="ipv6"),
    ],
)
def test_destinations_are_stored_in_uri_form(iri: str, uri: str) -> None:
    # Given a create request with a non-ASCII (IRI) destination
    # When it is validated
    link = new_link({"url": iri, "src": "line-rich-menu"}, created_at=NOW_ISO, code="sale")

    # Then the stored and shown URL is its ASCII URI form, and converting again changes nothing
    assert link.url == uri
    assert link.url.isascii()
    assert iri_to_uri(link.url) == link.url


def test_a_host_idna_refuses_is_a_400_on_url() -> None:
    # Given a host with a label IDNA cannot encode (a bare combining mark)
    with pytest.raises(BadRequest) as raised:
        new_link({"url": "https://\u0301bad.example/", "src": "x"}, created_at=NOW_ISO, code="sale")

    # Then the answer names the field
    assert (raised.value.code, raised.value.details) == ("invalid_link_url", {"field": "url"})


def test_a_destination_too_long_once_encoded_is_refused() -> None:
    # Given 700 Thai characters: under 2,048 characters as typed, 6,300 once percent-encoded
    url = "https://shop.example.com/" + "ก" * 700

    with pytest.raises(BadRequest) as raised:
        new_link({"url": url, "src": "x"}, created_at=NOW_ISO, code="sale")
    assert raised.value.code == "invalid_link_url"


@settings(deadline=None)  # no timing meaning; a loaded CI machine must not fail it
@given(st.text(min_size=0, max_size=40))
def test_the_redirect_location_is_always_ascii(path: str) -> None:
    # Whatever a stored destination holds (links kept before URI form), the Location is ASCII
    url = "https://shop.example.com/" + "".join(ch for ch in path if ch.isprintable() and not ch.isspace())
    location = destination_with_anonymous_id(url, "aid-1")
    assert location.isascii()
    assert location.startswith("https://shop.example.com/")
