"""The console's local serving (static files beside the API) and its front-end unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra.local.http_gateway import ApiGatewayEmulator

CONSOLE = Path(__file__).resolve().parents[2] / "console"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>console</title>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path.parent / "secret.txt").write_text("not served")
    return tmp_path


def _gateway(site: Path, calls: list[str]) -> ApiGatewayEmulator:
    def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
        calls.append(event["path"])
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}

    return ApiGatewayEmulator(invoke, static_root=site)


def test_the_console_is_served_at_the_root_beside_the_api(site: Path) -> None:
    calls: list[str] = []
    gateway = _gateway(site, calls)
    status, headers, body = gateway.handle("GET", "/", [], b"", "127.0.0.1")
    assert (status, body) == (200, b"<!doctype html><title>console</title>")
    assert headers["Content-Type"] == ["text/html; charset=utf-8"]
    assert headers["Cache-Control"] == ["no-cache"]
    status, headers, body = gateway.handle("GET", "/assets/index-abc123.js", [], b"", "127.0.0.1")
    assert (status, body) == (200, b"console.log(1)")
    assert headers["Cache-Control"] == ["public, max-age=31536000, immutable"]
    # The API keeps its routes: a route's path never reaches the static files.
    status, _, _ = gateway.handle("GET", "/admin/v1/segments", [], b"", "127.0.0.1")
    assert (status, calls) == (200, ["/admin/v1/segments"])
    assert not calls[1:]


def test_nothing_outside_the_console_is_served(site: Path) -> None:
    gateway = _gateway(site, [])
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/missing.js", "/assets"):
        status, _, body = gateway.handle("GET", path, [], b"", "127.0.0.1")
        assert status == 403 and b"not served" not in body  # API Gateway's answer for an unknown route
    # POSTs are the API's, even to a file's path.
    status, _, _ = gateway.handle("POST", "/index.html", [], b"", "127.0.0.1")
    assert status == 403


def test_without_a_console_the_root_is_the_gateway_answer() -> None:
    gateway = ApiGatewayEmulator(lambda *_: None)
    status, _, _ = gateway.handle("GET", "/", [], b"", "127.0.0.1")
    assert status == 403


@pytest.mark.skipif(
    not (CONSOLE / "node_modules" / ".bin" / "vitest").exists() or shutil.which("node") is None,
    reason="the console's packages are installed by `make console` (a prerequisite of `make test`)",
)
def test_console_front_end_units() -> None:
    """Error words, the API client's job polling and 401 handling, rule builder <-> JSON (Vitest)."""
    result = subprocess.run(
        ["node_modules/.bin/vitest", "run", "--reporter=dot"],
        cwd=CONSOLE,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
