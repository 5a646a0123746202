"""The segment benchmarks (tests/bench/segments_batch.py) at a tiny scale, so they do not rot:
the generated archive has the archive's columns, and SQL and the naive Python scan agree."""

from __future__ import annotations

from pathlib import Path

import duckdb
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS

from tests.bench import segments_batch as bench


def quiet(_: str) -> None:
    pass


def test_batch_sql_and_naive_python_select_the_same_people(tmp_path: Path) -> None:
    result = bench.batch_benchmark(2000, 40_000, modulus=1, rules=tuple(bench.RULES), root=tmp_path, log=quiet)
    assert result["live_profiles"] == 2000 and result["live_events"] == 40_000  # replays and old rows drop out
    assert result["archive_rows"]["events_replayed"] > 0 and result["archive_rows"]["profiles_older"] > 0
    for name, segment in result["segments"].items():
        naive = segment["naive_python"]
        assert naive["equal_to_sql"] and naive["selected"] == segment["selected"], name
        assert 0 < segment["selected"] < 2000, name  # the rules select someone, not everyone
    folder = next(tmp_path.glob("archive-*"))
    db = duckdb.connect()
    for file, columns in (("profiles.parquet", PROFILE_COLUMNS), ("events.parquet", EVENT_COLUMNS)):
        described = db.execute(f"DESCRIBE SELECT * FROM read_parquet('{folder / file}')").fetchall()
        assert [row[0] for row in described] == list(columns)


def test_a_sampled_scan_compares_within_the_sample_and_says_so(tmp_path: Path) -> None:
    result = bench.batch_benchmark(2000, 40_000, modulus=3, root=tmp_path, log=quiet)
    for segment in result["segments"].values():
        naive = segment["naive_python"]
        assert naive["sampled"] and 0 < naive["profiles"] < 2000
        assert naive["selected"] == naive["sql_selected_in_sample"] <= segment["selected"]
        assert naive["extrapolated_full_s"] is not None
    assert "1 in 3" in result["naive_extrapolation"]


def test_preview_and_real_time_run(tmp_path: Path) -> None:
    preview = bench.preview_benchmark(1000, 20_000, runs=1, root=tmp_path, log=quiet)
    assert set(preview["rules"]) == set(bench.PREVIEW_RULES)
    realtime = bench.realtime_benchmark(40, events_per_profile=10, passes=1, log=quiet)
    assert realtime["active_segments"] == 50
    assert realtime["no_change_names"]["segments_evaluated_per_profile"] == 50
    assert realtime["one_trait_changed"]["segments_evaluated_per_profile"] < 50
    assert realtime["published_after_first_pass"] == 0
    lines = bench.summary(
        {"batch": bench.batch_benchmark(500, 5000, root=tmp_path, log=quiet), "preview": preview, "realtime": realtime}
    )
    assert any("naive Python" in line for line in lines)
