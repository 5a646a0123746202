"""Retention: the policy's validation and the daily job's runs, on fakes and a fixed clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cdp.clock import iso_from_ms
from cdp.errors import BadRequest, Conflict
from cdp.privacy.retention import KINDS, RULES, SWEPT, RetentionPolicy, parse_changes
from cdp.privacy.retention_job import RetentionJob, report, update_policy

from tests.fakes import FixedClock
from tests.fakes_retention import FakeAgedItems, FakeRetentionStore
from tests.unit.builders import NOW_MS

DAY_MS = 86_400_000


def days_ago(days: float) -> int:
    return NOW_MS - int(days * DAY_MS)


def plenty() -> int:
    return 900_000


def items() -> dict[str, tuple[str, int]]:
    return {
        "a-old-event": ("timeline", days_ago(800)),
        "b-kept-event": ("timeline", days_ago(700)),
        "c-old-send": ("send_records", days_ago(401)),
        "d-kept-send": ("send_records", days_ago(10)),
        "e-old-event": ("timeline", days_ago(731)),
    }


def job_with(store: FakeRetentionStore, sweeper: FakeAgedItems, clock: FixedClock) -> RetentionJob:
    return RetentionJob(store, [sweeper], clock, raw_event_ttl_days=30, margin_ms=1_000)


# --- the policy -----------------------------------------------------------------------------
def test_defaults_cover_every_kind_with_their_mechanism() -> None:
    answer = RetentionPolicy(raw_event_ttl_days=45).as_dict()
    assert set(answer["kinds"]) == set(KINDS)
    assert answer["kinds"]["raw_events"] == answer["kinds"]["raw_events"] | {
        "days": 45,
        "configurable": False,
        "mechanism": "dynamodb_ttl",
    }
    assert answer["kinds"]["timeline"]["days"] == 730
    assert (
        answer["kinds"]["archive"] | {"days": 730, "follows": "timeline", "configurable": False}
        == (answer["kinds"]["archive"])
    )
    assert {kind: answer["kinds"][kind]["days"] for kind in SWEPT} == {
        "timeline": 730,
        "send_records": 400,
        "exports": 7,
        "audit_log": 365,
        "import_files": 30,
    }
    for rule in RULES.values():
        assert rule.min_days <= rule.default_days <= rule.max_days


def test_a_change_applies_and_the_archive_follows_the_timeline() -> None:
    policy = RetentionPolicy().with_changes(parse_changes({"timeline": 400, "exports": 7}), updated_at="t")
    assert policy.days == {"timeline": 400}  # a default is not stored
    assert policy.days_of("archive") == 400
    assert policy.version == 1


@pytest.mark.parametrize(
    ("days", "code", "field"),
    [
        ({}, "invalid_retention_days", "days"),
        ({"timelines": 400}, "unknown_data_kind", "days.timelines"),
        ({"raw_events": 10}, "retention_not_configurable", "days.raw_events"),
        ({"archive": 400}, "retention_not_configurable", "days.archive"),
        ({"timeline": "400"}, "invalid_retention_days", "days.timeline"),
        ({"timeline": True}, "invalid_retention_days", "days.timeline"),
        ({"timeline": 400.5}, "invalid_retention_days", "days.timeline"),
        ({"timeline": 365}, "retention_out_of_bounds", "days.timeline"),
        ({"exports": 8}, "retention_out_of_bounds", "days.exports"),
        ({"send_records": 34}, "retention_out_of_bounds", "days.send_records"),
        ({"audit_log": 366}, "retention_out_of_bounds", "days.audit_log"),
    ],
)
def test_bad_changes_name_the_field(days: dict[str, object], code: str, field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_changes(days)
    assert (caught.value.code, caught.value.details["field"]) == (code, field)


def test_out_of_bounds_says_the_bounds() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_changes({"import_files": 0})
    assert caught.value.details | {"min_days": 1, "max_days": 30} == caught.value.details


def test_update_is_compare_and_set() -> None:
    store = FakeRetentionStore()
    saved = update_policy(store, {"timeline": 500}, expected_version=0, now_ms=NOW_MS, raw_event_ttl_days=30)
    assert (saved.version, saved.updated_at) == (1, iso_from_ms(NOW_MS))
    with pytest.raises(Conflict) as caught:
        update_policy(store, {"timeline": 600}, expected_version=0, now_ms=NOW_MS, raw_event_ttl_days=30)
    assert caught.value.code == "retention_version_conflict"
    assert store.policy(raw_event_ttl_days=30).days_of("timeline") == 500


# --- the job ---------------------------------------------------------------------------------
def test_a_run_deletes_what_is_past_retention_and_reports_it() -> None:
    store, clock = FakeRetentionStore(), FixedClock(NOW_MS)
    sweeper = FakeAgedItems("core", ("timeline", "send_records"), items())
    run = job_with(store, sweeper, clock).run(plenty)
    assert run.finished
    assert sorted(sweeper.items) == ["b-kept-event", "d-kept-send"]
    answer = run.as_dict()
    assert answer["kinds"]["timeline"] == {
        "cutoff": iso_from_ms(days_ago(730)),
        "removed": 2,
        "oldest_kept": iso_from_ms(days_ago(700)),
    }
    assert answer["kinds"]["send_records"]["removed"] == 1
    assert answer["kinds"]["send_records"]["oldest_kept"] == iso_from_ms(days_ago(10))
    assert report(store, raw_event_ttl_days=30)["runs"] == [answer]


def test_the_configured_days_decide() -> None:
    store, clock = FakeRetentionStore(), FixedClock(NOW_MS)
    update_policy(
        store, {"timeline": 750, "send_records": 35}, expected_version=0, now_ms=NOW_MS, raw_event_ttl_days=30
    )
    sweeper = FakeAgedItems("core", ("timeline", "send_records"), items())
    job_with(store, sweeper, clock).run(plenty)
    assert sorted(sweeper.items) == ["b-kept-event", "d-kept-send", "e-old-event"]


def test_a_second_invocation_the_same_day_changes_nothing() -> None:
    store, clock = FakeRetentionStore(), FixedClock(NOW_MS)
    sweeper = FakeAgedItems("core", ("timeline", "send_records"), items())
    first = job_with(store, sweeper, clock).run(plenty)
    calls = sweeper.calls
    clock.now += 3_600_000
    again = job_with(store, sweeper, clock).run(plenty)
    assert sweeper.calls == calls
    assert again.as_dict() == first.as_dict()


def countdown(pages: int) -> Callable[[], int]:
    """Plenty of time for the first `pages` readings of the time left, then none."""
    left = [pages]

    def remaining() -> int:
        left[0] -= 1
        return 900_000 if left[0] >= 0 else 0

    return remaining


def test_a_run_out_of_time_resumes_where_it_stopped_with_its_own_cutoffs() -> None:
    store, clock = FakeRetentionStore(), FixedClock(NOW_MS)
    sweeper = FakeAgedItems("core", ("timeline", "send_records"), items(), page=1)
    first = job_with(store, sweeper, clock).run(countdown(2))
    assert not first.finished and first.as_dict()["status"] == "running"
    assert len(sweeper.items) == 4
    # The settings change meanwhile: the running run keeps the cutoffs it started with.
    update_policy(store, {"timeline": 3650}, expected_version=0, now_ms=NOW_MS, raw_event_ttl_days=30)
    clock.now += 600_000
    second = job_with(store, sweeper, clock).run(plenty)
    assert second.finished and second.run_id == first.run_id and second.invocations == 2
    assert sorted(sweeper.items) == ["b-kept-event", "d-kept-send"]
    assert second.kinds["timeline"].removed == 2 and second.kinds["send_records"].removed == 1
    assert sweeper.calls == 5  # every page once


def test_a_crash_mid_run_resumes_from_the_last_saved_page() -> None:
    store, clock = FakeRetentionStore(), FixedClock(NOW_MS)
    sweeper = FakeAgedItems("core", ("timeline", "send_records"), items(), page=2)
    sweeper.fail_at_call = 2
    with pytest.raises(RuntimeError):
        job_with(store, sweeper, clock).run(plenty)
    run = job_with(store, sweeper, clock).run(plenty)
    assert run.finished and run.kinds["timeline"].removed == 2 and run.kinds["send_records"].removed == 1


def test_an_unfinished_run_is_finished_before_the_next_day_starts_one() -> None:
    store, clock = FakeRetentionStore(), FixedClock(NOW_MS)
    sweeper = FakeAgedItems("core", ("timeline", "send_records"), items(), page=1)
    job_with(store, sweeper, clock).run(countdown(1))
    clock.now += DAY_MS
    resumed = job_with(store, sweeper, clock).run(plenty)
    assert resumed.run_id == iso_from_ms(NOW_MS)[:10] and resumed.finished
    # The day after, a new run with cutoffs a day later: the 700-day-old event is now 701 days.
    sweeper.items["f-event"] = ("timeline", days_ago(729.5))
    fresh = job_with(store, sweeper, clock).run(plenty)
    assert fresh.run_id == iso_from_ms(NOW_MS + DAY_MS)[:10]
    assert fresh.kinds["timeline"].removed == 1 and "f-event" not in sweeper.items
    assert [run.run_id for run in store.recent_runs(10)] == [fresh.run_id, resumed.run_id]


def test_sweepers_run_in_turn_and_each_reports_its_kinds() -> None:
    store, clock = FakeRetentionStore(), FixedClock(NOW_MS)
    core = FakeAgedItems("core", ("timeline", "send_records"), items())
    exports = FakeAgedItems("exports", ("exports",), {"x": ("exports", days_ago(8)), "y": ("exports", days_ago(1))})
    run = RetentionJob(store, [core, exports], clock, raw_event_ttl_days=30, margin_ms=1_000).run(plenty)
    assert run.kinds["exports"].removed == 1 and sorted(exports.items) == ["y"]
    assert set(run.kinds) == {"timeline", "send_records", "exports"}


def test_two_invocations_never_both_advance_a_run() -> None:
    store, clock = FakeRetentionStore(), FixedClock(NOW_MS)
    sweeper = FakeAgedItems("core", ("timeline", "send_records"), items(), page=1)
    job_with(store, sweeper, clock).run(countdown(1))
    before = store.recent_runs(1)[0]
    original = sweeper.sweep

    def sweep_while_another_invocation_saves(cutoffs: dict[str, int], cursor: str | None) -> object:
        other = store.recent_runs(1)[0]
        other.revision += 1
        store.save_run(other, expected_revision=other.revision - 1)
        return original(cutoffs, cursor)  # type: ignore[arg-type]

    sweeper.sweep = sweep_while_another_invocation_saves  # type: ignore[method-assign,assignment]
    answer = job_with(store, sweeper, clock).run(plenty)
    # This invocation's save was refused: it stopped after one page, recorded nothing itself, and
    # leaves the run to the other invocation (no continuation of its own).
    assert not answer.finished and answer.yielded and answer.revision == before.revision + 1
    assert store.recent_runs(1)[0].kinds["timeline"].removed == before.kinds["timeline"].removed


def test_every_invocation_makes_progress_even_with_no_time_left() -> None:
    store, clock = FakeRetentionStore(), FixedClock(NOW_MS)
    sweeper = FakeAgedItems("core", ("timeline", "send_records"), items(), page=1)
    runs = [job_with(store, sweeper, clock).run(lambda: 0) for _ in range(5)]
    assert [run.finished for run in runs] == [False, False, False, False, True]
    assert sorted(sweeper.items) == ["b-kept-event", "d-kept-send"]


def test_each_schedule_occurrence_is_one_run() -> None:
    store, clock = FakeRetentionStore(), FixedClock(NOW_MS)
    sweeper = FakeAgedItems("core", ("timeline", "send_records"), items())
    first = job_with(store, sweeper, clock).run(plenty, run_id="2024-05-01T20:00:00Z")
    calls = sweeper.calls
    assert job_with(store, sweeper, clock).run(plenty, run_id="2024-05-01T20:00:00Z").as_dict() == first.as_dict()
    assert sweeper.calls == calls  # a retried occurrence does nothing
    sweeper.items["late"] = ("timeline", days_ago(1000))
    second = job_with(store, sweeper, clock).run(plenty, run_id="2024-05-01T21:00:00Z")
    assert second.run_id == "2024-05-01T21:00:00Z" and second.kinds["timeline"].removed == 1
    assert [run.run_id for run in store.recent_runs(5)] == [second.run_id, first.run_id]
