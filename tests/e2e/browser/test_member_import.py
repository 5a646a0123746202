"""Member CSV import in Chromium: the file goes up, the progress bar reaches 100%, and the
counts on the page are the API's."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.conftest import Console
from tests.e2e.browser.seed import admin_get, random_mobile
from tests.e2e.conftest import Stack, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_a_member_csv_imports_with_a_progress_bar_to_100_percent(console: Console, stack: Stack) -> None:
    good, other = unique("csv-good"), unique("csv-good")
    text = (
        "會員編號,手機,Email,姓名\r\n"
        f"{good},{random_mobile()[0]},{good}@example.com,林小美\r\n"
        f"{other},{random_mobile()[0]},,王大明\r\n"
        f",{random_mobile()[0]},,沒有編號\r\n"
    )
    console.sign_in()
    main = console.open("imports")
    main.get_by_test_id("imports-file").set_input_files(
        files=[{"name": "members.csv", "mimeType": "text/csv", "buffer": text.encode("utf-8")}]
    )
    main.get_by_test_id("imports-submit").click()

    progress = main.get_by_test_id("imports-progress")
    expect(progress).to_have_attribute("data-status", "completed", timeout=60_000)
    expect(progress).to_have_attribute("data-progress", "1")
    expect(main.get_by_test_id("imports-progress-text")).to_have_text("100%")
    import_id = main.get_by_test_id("imports-id").text_content()
    done = admin_get(stack, f"/admin/v1/imports/{import_id}")
    assert (done["status"], done["progress"], done["rows_total"]) == ("completed", 1.0, 3)
    assert (done["rows_accepted"], done["rows_rejected"]) == (2, 1)
    expect(main.get_by_test_id("imports-rows-accepted-value")).to_have_text("2")
    expect(main.get_by_test_id("imports-rows-rejected-value")).to_have_text("1")
    console.shot("imports")
    assert stack.lookup("member_id", good)["traits"]["name"] == "林小美"
