"""`/_local/line/<name>`: the built-in LINE fake's control routes on the stack's own address, so
tests and the demo need not know the fake's port. Without the fake (CDP_LINE_API_BASE_URL given)
they answer 404 `line_fake_not_running`: what LINE received is then LINE's to tell."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.local.http_gateway import LocalRoute
from infra.local.line_fake import CONTROL_ROUTES, LineApiFake

PREFIX = "/_local/line/"


class LineFakeRoutes:
    def __init__(
        self, fake: LineApiFake | None, endpoint: str | None = None, after_reset: Callable[[], None] | None = None
    ) -> None:
        """`after_reset`: run after `/reset` (a full reset drops channels: the stack registers its own again)."""
        self._fake = fake
        self._endpoint = endpoint
        self._after_reset = after_reset

    def routes(self) -> dict[tuple[str, str], LocalRoute]:
        return {(method, f"{PREFIX}{name}"): self._route(method, name) for method, name in CONTROL_ROUTES}

    def _route(self, method: str, name: str) -> LocalRoute:
        def answer(_path: str, query: dict[str, str], body: bytes) -> tuple[int, Any]:
            if self._fake is None:
                return 404, {
                    "error": "line_fake_not_running",
                    "message": f"the LINE API is {self._endpoint} (CDP_LINE_API_BASE_URL), not the built-in "
                    "fake: what it received cannot be read here",
                }
            status, payload = self._fake.control(method, name, query, body)
            if name == "reset" and status < 400 and self._after_reset is not None:
                self._after_reset()
            if status >= 400:  # the stack's error shape
                message = payload.get("message") if isinstance(payload, dict) else None
                return status, {"error": "invalid_line_fake_request", "message": str(message or payload)}
            return status, payload

        return answer
