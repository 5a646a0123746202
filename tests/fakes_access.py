"""In-memory service token store with the DynamoDB adapter's semantics (create never overwrites,
revoke keeps the first revocation)."""

from __future__ import annotations

from cdp.access.service_tokens import ServiceToken, revoked_copy


class FakeServiceTokens:
    def __init__(self) -> None:
        self.items: dict[str, ServiceToken] = {}

    def create(self, token: ServiceToken) -> None:
        if token.token_id in self.items:
            raise AssertionError("a token id collided")
        self.items[token.token_id] = token

    def get(self, token_id: str) -> ServiceToken | None:
        return self.items.get(token_id)

    def list(self, limit: int) -> list[ServiceToken]:
        return [self.items[key] for key in sorted(self.items)][:limit]

    def revoke(self, token_id: str, *, at_ms: int, by: str) -> ServiceToken | None:
        token = self.items.get(token_id)
        if token is None:
            return None
        self.items[token_id] = revoked_copy(token, at_ms=at_ms, by=by)
        return self.items[token_id]
