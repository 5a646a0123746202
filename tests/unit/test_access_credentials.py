"""Service tokens (hashed at rest, scoped, revocable) and user ID tokens (a user pool's JWTs)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import jwt
import pytest
from cdp.access.principal import BOOTSTRAP, Principal
from cdp.access.service_tokens import ServiceTokens, digest
from cdp.access.user_tokens import UserTokenVerifier, looks_like_jwt, role_of
from cdp.errors import BadRequest, NotFound, Unauthorized
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes import FixedClock
from tests.fakes_access import FakeServiceTokens

MARKETER = Principal(subject="user:m", role="marketer", kind="user", name="m@example.com")


def test_a_token_is_shown_once_and_only_its_hash_is_kept() -> None:
    store = FakeServiceTokens()
    token, secret = ServiceTokens(store, FixedClock()).create(
        name=" shop backend ", role="marketer", created_by=BOOTSTRAP
    )
    assert secret.startswith("cdp_st_") and len(secret) > 60
    assert token.name == "shop backend" and token.created_by == "bootstrap"
    stored = store.items[token.token_id]
    assert stored.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest() == digest(secret)
    assert secret not in json.dumps(stored.as_dict()) and stored.secret_sha256 not in json.dumps(stored.as_dict())
    principal = ServiceTokens(store).authenticate(secret)
    assert principal == Principal(f"service:{token.token_id}", "marketer", "service", "shop backend")


def test_a_wrong_malformed_or_revoked_token_answers_401() -> None:
    store = FakeServiceTokens()
    tokens = ServiceTokens(store, FixedClock())
    token, secret = tokens.create(name="bi", role="viewer", created_by=BOOTSTRAP)
    other = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    for wrong in (other, "cdp_st_short", secret + "x", f"cdp_st_{'0' * 16}_{secret[-43:]}"):
        with pytest.raises(Unauthorized) as refused:
            tokens.authenticate(wrong)
        assert refused.value.code == "invalid_service_token"
    first = tokens.revoke(token.token_id, by=BOOTSTRAP)
    assert not first.active and first.revoked_by == "bootstrap"
    with pytest.raises(Unauthorized):
        tokens.authenticate(secret)
    assert tokens.revoke(token.token_id, by=MARKETER) == first  # idempotent: the first revocation stands
    assert [t.token_id for t in tokens.list()] == [token.token_id]


def test_bad_requests_to_create_or_revoke() -> None:
    tokens = ServiceTokens(FakeServiceTokens(), FixedClock())
    with pytest.raises(BadRequest) as bad:
        tokens.create(name="  ", role="viewer", created_by=BOOTSTRAP)
    assert bad.value.code == "invalid_token_name"
    with pytest.raises(BadRequest) as bad:
        tokens.create(name="x", role="owner", created_by=BOOTSTRAP)
    assert bad.value.code == "invalid_role"
    with pytest.raises(BadRequest) as bad:
        tokens.create(name="x", role="admin", created_by=MARKETER)
    assert bad.value.code == "role_above_own"
    for unknown in ("0123456789abcdef", "../x"):
        with pytest.raises(NotFound):
            tokens.revoke(unknown, by=BOOTSTRAP)


# --- user ID tokens --------------------------------------------------------------------------
ISSUER = "https://cognito-idp.ap-northeast-1.amazonaws.com/ap-northeast-1_TEST"
CLIENT = "client-123"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NOW_S = 1_767_000_000


def _jwks() -> dict[str, Any]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    return {"keys": [{**public, "kid": "k1", "alg": "RS256", "use": "sig"}]}


def _verifier(now_s: int = NOW_S) -> UserTokenVerifier:
    verifier = UserTokenVerifier(issuer=ISSUER, client_id=CLIENT, clock=FixedClock(now_s * 1000))  # type: ignore[arg-type]
    keys = verifier._jwks()
    keys.fetch_data = _jwks  # type: ignore[method-assign]  # the pool's JWKS, without the network
    return verifier


def _token(key: Any = KEY, **claims: Any) -> str:
    payload = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "u-1",
        "token_use": "id",
        "exp": NOW_S + 3600,
        "email": "amy@brand.example",
        "cognito:groups": ["viewer", "marketer"],
        **claims,
    }
    return jwt.encode(
        {k: v for k, v in payload.items() if v is not None}, key, algorithm="RS256", headers={"kid": "k1"}
    )


def test_a_valid_id_token_signs_in_with_its_highest_role_group() -> None:
    token = _token()
    assert looks_like_jwt(token)
    principal = _verifier().authenticate(token)
    assert principal == Principal("user:u-1", "marketer", "user", "amy@brand.example")
    assert role_of(["admin", "other"]) == "admin" and role_of(["other"]) is None and role_of("admin") is None


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"aud": "another-client"}, "invalid_user_token"),
        ({"iss": "https://evil.example"}, "invalid_user_token"),
        ({"exp": NOW_S - 31}, "invalid_user_token"),  # past the allowed skew by the clock port
        ({"token_use": "access"}, "invalid_user_token"),
        ({"sub": None}, "invalid_user_token"),
        ({"cognito:groups": ["staff"]}, "no_role"),
        ({"cognito:groups": None}, "no_role"),
    ],
)
def test_a_token_that_is_not_a_valid_id_token_of_the_pool_answers_401(claims: dict[str, Any], code: str) -> None:
    with pytest.raises(Unauthorized) as refused:
        _verifier().authenticate(_token(**claims))
    assert refused.value.code == code


def test_a_token_signed_by_another_key_or_altered_answers_401() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header, _payload, signature = _token().split(".")
    forged_payload = jwt.utils.base64url_encode(
        json.dumps({**jwt.decode(_token(), options={"verify_signature": False}), "cognito:groups": ["admin"]}).encode()
    ).decode()
    for bad in (_token(key=other), f"{header}.{forged_payload}.{signature}"):
        with pytest.raises(Unauthorized):
            _verifier().authenticate(bad)
