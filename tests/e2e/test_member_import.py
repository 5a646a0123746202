"""Member CSV import over HTTP: upload, poll the status, download the rejected rows, find the members.

The local stack starts the worker the way the cloud does (Lambda Invoke, InvocationType=Event),
through the local Lambda service that runs it in-process.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest

from tests.e2e.conftest import ADMIN_TOKEN, HTTP_TIMEOUT_SECONDS, Stack, identifier_values, unique
from tests.e2e.test_admin_api import random_mobile

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

POLL_TIMEOUT_SECONDS = 60
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def wait_until_finished(stack: Stack, import_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_TIMEOUT_SECONDS
    seen: list[str] = []
    while time.monotonic() < deadline:
        response = stack.admin_get(f"/admin/v1/imports/{import_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        seen.append(body["status"])
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.2)
    pytest.fail(f"import {import_id} did not finish in {POLL_TIMEOUT_SECONDS}s; statuses seen: {seen[-5:]}")


def test_a_member_csv_with_good_and_bad_rows_is_imported(stack: Stack) -> None:
    # Given a POS export: Chinese headers, a BOM, CRLF, a quoted comma, and some bad rows
    good, warned, bad = unique("csv-good"), unique("csv-warn"), unique("csv-bad")
    phone_local, phone_e164 = random_mobile()
    text = (
        "\ufeff會員編號,手機,Email,姓名,生日,門市,consent_sms\r\n"
        f'{good},{phone_local},{good}@example.com,"林, 小美",1990/05/07,台北信義店,是\r\n'
        f",{random_mobile()[0]},,沒有編號,,,\r\n"
        f"{warned},12345,,王大明,,,maybe\r\n"
        f"{good},{random_mobile()[0]},,重複,,,\r\n"
        f"{bad},,,,,,,,,too many\r\n"
    )

    # When it is posted to the admin API
    response = stack.http.post(
        stack.url("/admin/v1/imports/members"),
        data=text.encode(),
        headers={**AUTH, "Content-Type": "text/csv; charset=utf-8"},
        timeout=HTTP_TIMEOUT_SECONDS,
    )

    # Then it is accepted for asynchronous processing
    assert response.status_code == 202, response.text
    accepted = response.json()
    import_id = accepted["import_id"]
    assert (accepted["status"], accepted["rows_total"]) == ("queued", 5)
    assert response.headers["Location"] == f"/admin/v1/imports/{import_id}"

    # And the worker finishes it with exact counts
    done = wait_until_finished(stack, import_id)
    assert done["status"] == "completed", done
    assert (done["rows_total"], done["rows_done"], done["rows_accepted"]) == (5, 5, 2)
    assert (done["rows_rejected"], done["rows_with_warnings"]) == (3, 1)
    assert done["progress"] == 1.0

    # And the rejected rows download as CSV (a redirect to a short-lived URL)
    rejected = stack.http.get(
        stack.url(done["rejected_rows_url"]), headers=AUTH, timeout=HTTP_TIMEOUT_SECONDS, allow_redirects=True
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.history and rejected.history[0].status_code == 303
    rows = list(csv.reader(io.StringIO(rejected.content.decode("utf-8-sig"), newline="")))
    assert rows[0][:5] == ["row", "outcome", "reasons", "details", "會員編號"]
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        ("3", "rejected", "missing_member_id"),
        ("4", "accepted_with_warnings", "invalid_phone;invalid_consent_value"),
        ("5", "rejected", "duplicate_member_id_in_file"),
        ("6", "rejected", "too_many_columns"),
    ]

    # And the imported members are profiles, found by their normalised phone
    stack.drain()
    profile = stack.lookup("phone", phone_e164)
    assert identifier_values(profile) == {"member_id": [good], "phone": [phone_e164], "email": [f"{good}@example.com"]}
    assert profile["traits"]["name"] == "林, 小美"
    assert profile["traits"]["birthday"] == "1990-05-07"
    assert profile["traits"]["store"] == "台北信義店"
    assert stack.lookup("member_id", warned)["traits"]["name"] == "王大明"
    stack.assert_no_profile("member_id", bad)


def test_an_upload_without_a_member_id_column_is_refused(stack: Stack) -> None:
    response = stack.http.post(
        stack.url("/admin/v1/imports/members"),
        data="手機,姓名\r\n0912345678,王\r\n".encode(),
        headers={**AUTH, "Content-Type": "text/csv"},
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "missing_member_id_column"
    assert "會員編號" in response.json()["details"]["accepted"]
