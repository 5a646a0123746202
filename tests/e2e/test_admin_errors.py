"""The admin API's error answers over HTTP: one shape with a request id, 400 (not 422) naming
the field, and the document and its Swagger UI served without the token."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.conftest import ADMIN_TOKEN, Stack, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_every_error_carries_a_request_id_and_a_stable_code(stack: Stack) -> None:
    unauthorized = stack.http.get(stack.url("/admin/v1/segments"), timeout=30)
    missing = stack.http.get(stack.url("/admin/v1/segments/no-such-segment"), headers=ADMIN, timeout=30)
    invalid = stack.http.put(
        stack.url("/admin/v1/segments/no-such-segment"), json={"version": "1"}, headers=ADMIN, timeout=30
    )
    bad_query = stack.http.get(stack.url("/admin/v1/segments"), params={"status": "gone"}, headers=ADMIN, timeout=30)
    not_json = stack.http.post(
        stack.url("/admin/v1/links"), data=b"[1,", headers={**ADMIN, "Content-Type": "application/json"}, timeout=30
    )
    too_deep = stack.http.post(
        stack.url("/admin/v1/segments"),
        data=("[" * 5000 + "]" * 5000).encode(),
        headers={**ADMIN, "Content-Type": "application/json"},
        timeout=30,
    )
    answers = [
        (unauthorized, 401, "invalid_admin_token"),
        (missing, 404, "segment_not_found"),
        (invalid, 400, "invalid_version"),
        (bad_query, 400, "invalid_status"),
        (not_json, 400, "invalid_json"),
        (too_deep, 400, "json_too_deep"),
    ]
    for response, status, code in answers:
        body = response.json()
        assert (response.status_code, body["error"]) == (status, code), response.text
        assert body["message"] and body["request_id"]
    assert invalid.json()["details"]["in"] == "body" and invalid.json()["details"]["field"] == "version"
    assert bad_query.json()["details"] == {
        "in": "query",
        "field": "status",
        "errors": [bad_query.json()["details"]["errors"][0]],
    }
    request_ids = {response.json()["request_id"] for response, _, _ in answers}
    assert len(request_ids) == len(answers)  # one per request


def test_the_openapi_document_and_swagger_ui_need_no_token(stack: Stack) -> None:
    document = stack.http.get(stack.url("/admin/v1/openapi.json"), timeout=60)
    assert document.status_code == 200 and document.json()["openapi"].startswith("3.")
    assert "/admin/v1/segments/preview" in document.json()["paths"]
    page = stack.http.get(stack.url("/admin/v1/docs"), timeout=60)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.text


def test_a_json_body_sent_as_curl_sends_it_is_read_as_json_and_other_types_answer_415(stack: Stack) -> None:
    # Given bodies the way `curl -d` sends them (form-encoded) and with no Content-Type at all
    code_form, code_bare = unique("form"), unique("bare")
    as_form = stack.http.post(
        stack.url("/admin/v1/links"),
        data=f'{{"code": "{code_form}", "url": "https://shop.example.com/a", "src": "curl"}}'.encode(),
        headers={**ADMIN, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    request = requests.Request(
        "POST",
        stack.url("/admin/v1/links"),
        data=f'{{"code": "{code_bare}", "url": "https://shop.example.com/b", "src": "curl"}}'.encode(),
        headers=ADMIN,
    ).prepare()
    request.headers.pop("Content-Type", None)
    bare = stack.http.send(request, timeout=30)
    # And a body in a type no admin route reads
    as_xml = stack.http.post(
        stack.url("/admin/v1/links"), data=b"<link/>", headers={**ADMIN, "Content-Type": "application/xml"}, timeout=30
    )

    # Then the JSON ones are read as JSON, and the other is refused with 415 in the error shape
    assert (as_form.status_code, as_form.json().get("code")) == (201, code_form), as_form.text
    assert (bare.status_code, bare.json().get("code")) == (201, code_bare), bare.text
    assert as_xml.status_code == 415, as_xml.text
    assert as_xml.json()["error"] == "unsupported_media_type" and as_xml.json()["request_id"]
