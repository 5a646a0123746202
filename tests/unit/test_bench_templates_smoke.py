"""The template benchmark (tests/bench/templates.py) at a tiny scale, so it does not rot."""

from __future__ import annotations

from tests.bench import templates as bench


def test_rendering_mints_one_link_per_destination_and_channel_for_every_recipient() -> None:
    results = bench.render_throughput(3)
    assert set(results) == {"line", "email", "sms"}
    # LINE: the Flex buttons' URI action and the URL in the text (media URLs are not links).
    assert results["line"]["links_per_recipient"] == 2 and results["line"]["links_created"] == 2
    assert results["email"]["links_per_recipient"] == 6  # five hrefs and the text's URL
    assert results["sms"]["links_per_recipient"] == 1
    assert all(r["recipients"] == 3 and r["recipients_per_s"] > 0 for r in results.values())
    assert (
        len(bench.summary({"render": results, "first_save": {"import_ms": 1, "first_save_ms": 2, "next_save_ms": 3}}))
        == 4
    )
