"""PII masking through the admin function on moto: a viewer's answers about Amy (360 view, lookup,
timeline, merges) carry none of her phone or email in any form; a marketer user reveals them
explicitly, and the reveal is on record."""

from __future__ import annotations

import json
from collections.abc import Callable

import cdp_api.app as app_module
import pytest
from cdp.access.principal import Principal

from tests.integration.conftest import Stack, api_event, response_json
from tests.integration.test_admin_api import BEARER, people  # noqa: F401 (the fixture)

VIEWER = Principal(subject="u-viewer", role="viewer", kind="user", name="viewer@brand.example")
MARKETER = Principal(subject="u-marketer", role="marketer", kind="user", name="mkt@brand.example")
AMY_PII = ("0912-345-678", "0912345678", "+886912345678", "912345678", "amy.lin@example.com")


@pytest.fixture
def signed_in_as(monkeypatch: pytest.MonkeyPatch) -> Callable[[Principal], None]:
    def sign_in(principal: Principal) -> None:
        monkeypatch.setattr(app_module, "authenticate", lambda _authorization: principal)  # sign-in

    return sign_in


def _get(stack: Stack, path: str, resource: str, query: dict[str, str] | None = None) -> tuple[int, str]:
    parameters = {"id": path.rstrip("/").split("/")[4]} if "{id}" in resource else None
    event = api_event("GET", path, resource=resource, headers=BEARER, query=query, path_parameters=parameters)
    response = stack.invoke("admin_api", event)
    return response["statusCode"], json.dumps(response_json(response), ensure_ascii=False).lower()


def test_a_viewer_sees_none_of_amys_phone_or_email(
    stack: Stack,
    people: dict[str, str],  # noqa: F811 (the fixture of test_admin_api)
    signed_in_as: Callable[[Principal], None],
) -> None:
    signed_in_as(VIEWER)
    amy = people["amy"]
    answers = [
        _get(stack, f"/admin/v1/profiles/{amy}", "/admin/v1/profiles/{id}"),
        _get(stack, "/admin/v1/profiles/lookup", "/admin/v1/profiles/lookup", {"type": "member_id", "value": "M-1001"}),
        _get(stack, f"/admin/v1/profiles/{amy}/timeline", "/admin/v1/profiles/{id}/timeline"),
        _get(stack, f"/admin/v1/profiles/{amy}/merges", "/admin/v1/profiles/{id}/merges"),
    ]
    assert [status for status, _ in answers] == [200, 200, 200, 200]
    for _status, text in answers:
        assert not [pii for pii in AMY_PII if pii in text], text
    view = json.loads(answers[0][1])
    assert {i["type"]: i["value"] for i in view["identifiers"]}["email"] == "a***@example.com"
    assert view["profile_id"] == amy  # ids are not personal data: kept

    status, refused = _get(stack, f"/admin/v1/profiles/{amy}", "/admin/v1/profiles/{id}", {"reveal": "true"})
    assert status == 403 and json.loads(refused)["details"] == {"required_role": "marketer"}


def test_a_marketer_reveals_explicitly_and_it_is_recorded(
    stack: Stack,
    people: dict[str, str],  # noqa: F811 (the fixture of test_admin_api)
    signed_in_as: Callable[[Principal], None],
) -> None:
    signed_in_as(MARKETER)
    amy = people["amy"]
    _status, masked = _get(stack, f"/admin/v1/profiles/{amy}", "/admin/v1/profiles/{id}")
    assert "amy.lin@example.com" not in masked
    _status, shown = _get(stack, f"/admin/v1/profiles/{amy}", "/admin/v1/profiles/{id}", {"reveal": "true"})
    assert "amy.lin@example.com" in shown and "+886912345678" in shown
    signed_in_as(Principal(subject="u-admin", role="admin", kind="user"))
    _status, log = _get(stack, "/admin/v1/audit", "/admin/v1/audit", {"action": "pii.reveal"})
    (record,) = json.loads(log)["records"]
    assert record["actor"]["subject"] == "u-marketer" and record["targets"] == {"id": amy}
