"""Admin API: the Bearer token, profile reads by id and by identifier, errors, unknown routes."""

from __future__ import annotations

import secrets

import pytest

from tests.e2e.conftest import ADMIN_TOKEN, Stack, identifier_values, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def random_mobile() -> tuple[str, str]:
    """A fresh Taiwanese mobile number: (local format `0912-xxx-xxx`, E.164)."""
    while True:
        digits = f"{secrets.randbelow(10**6):06d}"
        if digits != "345678":  # scenario S1's number
            return f"0912-{digits[:3]}-{digits[3:]}", f"+886912{digits}"


@pytest.fixture
def member_with_phone(stack: Stack) -> tuple[str, str, str]:
    member = unique("member")
    local, e164 = random_mobile()
    response = stack.segment("identify", {"userId": member, "traits": {"phone": local, "name": "Phone Owner"}})
    assert response.status_code == 200, response.text
    stack.drain()
    return member, local, e164


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {ADMIN_TOKEN}", ADMIN_TOKEN, "Bearer "],
    ids=["missing", "wrong", "basic-scheme", "no-scheme", "empty-bearer"],
)
def test_admin_api_requires_the_bearer_token(stack: Stack, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    for path, params in (
        ("/admin/v1/profiles/lookup", {"type": "member_id", "value": "anyone"}),
        ("/admin/v1/profiles/p_anyone", {}),
    ):
        response = stack.http.get(stack.url(path), params=params, headers=headers, timeout=30)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"] == "invalid_admin_token"


def test_unknown_profile_is_404(stack: Stack) -> None:
    response = stack.admin_get(f"/admin/v1/profiles/p_{unique('nobody')}")
    assert response.status_code == 404
    assert response.json()["error"] == "profile_not_found"
    response = stack.lookup_response("email", f"{unique('nobody')}@example.com")
    assert response.status_code == 404
    assert response.json()["error"] == "profile_not_found"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"type": "shoe_size", "value": "42"}, "invalid_lookup_type"),
        ({"value": "M1"}, "invalid_lookup_type"),
        ({"type": "member_id"}, "missing_lookup_value"),
        ({"type": "member_id", "value": "  "}, "missing_lookup_value"),
        ({"type": "phone", "value": "12"}, "invalid_phone"),
        ({"type": "email", "value": "amy@"}, "invalid_email"),
        ({"type": "email", "value": "test@test.com"}, "blocked_value"),
    ],
    ids=["unknown-type", "no-type", "no-value", "blank-value", "bad-phone", "bad-email", "junk-email"],
)
def test_invalid_lookups_are_400(stack: Stack, params: dict[str, str], error: str) -> None:
    response = stack.admin_get("/admin/v1/profiles/lookup", **params)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


def test_lookup_by_local_phone_format_finds_the_e164_profile(
    stack: Stack, member_with_phone: tuple[str, str, str]
) -> None:
    member, local, e164 = member_with_phone
    profile = stack.lookup("phone", local)
    assert identifier_values(profile) == {"member_id": [member], "phone": [e164]}
    assert profile["traits"] == {"name": "Phone Owner", "phone": e164}
    for spelling in (e164, local.replace("-", ""), f"+886 {local[1:].replace('-', ' ')}", f"({local[:4]}) {local[5:]}"):
        assert stack.lookup("phone", spelling)["profile_id"] == profile["profile_id"], spelling


def test_profile_by_id_matches_the_lookup(stack: Stack, member_with_phone: tuple[str, str, str]) -> None:
    member, _, _ = member_with_phone
    looked_up = stack.lookup("member_id", member)
    response = stack.admin_get(f"/admin/v1/profiles/{looked_up['profile_id']}")
    assert response.status_code == 200, response.text
    by_id = response.json()
    assert by_id["profile_id"] == looked_up["profile_id"]
    assert by_id["requested_id"] is None
    assert by_id["identifiers"] == looked_up["identifiers"]
    assert by_id["traits"] == looked_up["traits"]
    assert [e["eventId"] for e in by_id["events"]] == [e["eventId"] for e in looked_up["events"]]
    assert by_id["line"] == {"status": "never_followed", "accounts": []}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/v1/no-such-thing"),
        ("GET", "/admin/v1/profiles"),
        ("DELETE", "/admin/v1/profiles/p_x"),
        ("POST", "/admin/v1/profiles/lookup"),
        ("GET", "/v1/track"),
        ("POST", "/v1/purchase"),
        ("GET", "/line/webhook/default"),
        ("POST", "/line/webhook"),
        ("GET", "/no-such-page.html"),  # `/` is the console's (a file it does not have is not)
        ("POST", "/"),
    ],
)
def test_unknown_routes_answer_the_gateway_404_in_the_error_shape(stack: Stack, method: str, path: str) -> None:
    # API Gateway's "Missing Authentication Token" (403), answered through its gateway response.
    response = stack.http.request(
        method, stack.url(path), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    )
    assert response.status_code == 404
    body = response.json()
    assert (body["error"], body["requestId"]) == ("route_not_found", response.headers["x-amzn-RequestId"])
