"""The person export: the document assembled from in-memory stores, and the job around it."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from cdp.errors import NotFound, StoreUnavailable
from cdp.identity.merge import MergeLedger, TimelineEntry
from cdp.journeys.runs import Run
from cdp.privacy.export import STAGES, ExportSources, assemble
from cdp.privacy.export_jobs import LINK_SECONDS, STALE_MS, PersonExports
from cdp.profiles.model import Profile, Stamped
from cdp.segments.store import Membership, MembershipChange, SegmentDefinition

from tests.fakes import FixedClock
from tests.fakes_privacy import (
    FakeExportFiles,
    FakeExportJobs,
    FakeExportReads,
    FakeExportStarter,
    FakeJourneyRuns,
    FakePeople,
    FakeSegments,
)
from tests.unit.builders import NOW_ISO, NOW_MS

NOW_S = NOW_MS // 1000


def _profile(profile_id: str, identifiers: dict[str, str], merged_into: str | None = None) -> Profile:
    profile = Profile.new(profile_id, "2024-04-01T00:00:00.000Z")
    profile.merged_into = merged_into
    for id_type, value in identifiers.items():
        profile.identifiers[f"{id_type}#{value}"] = {"type": id_type, "value": value, "added_at": NOW_ISO}
    return profile


def _entry(
    profile_id: str, event_id: str, at: str, *, moved_by: tuple[str, ...] = (), **document: Any
) -> TimelineEntry:
    doc = {
        "eventId": event_id,
        "messageId": event_id,
        "type": "track",
        "channel": "web",
        "timestamp": at,
        "receivedAt": at,
        "origin": "partner",
        "source": "web-shop",
        "properties": {},
        "context": {},
        "identifiers": [],
        **document,
    }
    return TimelineEntry(profile_id, f"EVENT#{at}#{event_id}", doc, applied_at=at, moved_by=moved_by)


def _ledger(merge_id: str, survivor: str, loser: str, status: str, identifiers: list[str]) -> MergeLedger:
    return MergeLedger(
        merge_id=merge_id,
        survivor=survivor,
        loser=loser,
        status=status,
        requested_by="event",
        planned_at=f"2024-04-2{merge_id[-1]}T00:00:00.000Z",
        identifiers=identifiers,
    )


@pytest.fixture
def sources() -> ExportSources:
    """Amy: a store profile that absorbed her web profile, which had absorbed her LINE profile;
    and Bob, merged into her by mistake and split out again."""
    people, segments, reads = FakePeople(), FakeSegments(), FakeExportReads()
    amy = _profile("p_amy", {"phone": "+886912345678", "member_id": "M-1"})
    amy.traits["name"] = Stamped("林小美", "2024-04-01T00:00:00.000Z", "partner:pos", "e1")
    amy.consent["email:marketing"] = Stamped(False, "2024-04-05T00:00:00.000Z", "partner:admin-consent", "e7")
    amy.tag_state["vip"] = Stamped(True, "2024-04-02T00:00:00.000Z", "manual", "e8")
    amy.tag_state["lapsed"] = Stamped(False, "2024-04-03T00:00:00.000Z", "rule", "e9")
    amy.line_accounts["2001:Uabc"] = Stamped("friend", "2024-04-01T00:00:00.000Z", "line:main", "e2")
    people.profiles = {
        "p_amy": amy,
        "p_web": _profile("p_web", {"email": "amy@example.com"}, merged_into="p_amy"),
        "p_line": _profile("p_line", {"line": "2001:Uabc"}, merged_into="p_web"),
        "p_bob": _profile("p_bob", {"email": "bob@example.com"}),
    }
    for ledger in (
        _ledger("m1", "p_web", "p_line", "merged", ["line#2001:Uabc"]),
        _ledger("m2", "p_amy", "p_web", "merged", ["email#amy@example.com"]),
        _ledger("m3", "p_amy", "p_bob", "unmerged", ["email#bob@example.com"]),
    ):
        people.ledgers[ledger.merge_id] = ledger
    consent = {"consent": {"email:marketing": True}, "consentTextVersion": "v3"}
    people.timelines = {
        "p_amy": [
            _entry("p_amy", "e1", "2024-04-01T00:00:00.000Z", type="identify", channel="pos", context=consent),
            _entry("p_amy", "e3", "2024-04-01T02:00:00.000Z", moved_by=("m2",), event="=SUM(A1)"),
            _entry(
                "p_amy",
                "e4",
                "2024-04-04T00:00:00.000Z",
                event="Message Sent",
                channel="crm",
                properties={"send_key": "sk1", "message_id": "mid1", "channel": "email"},
            ),
            _entry(
                "p_amy",
                "e5",
                "2024-04-04T00:01:00.000Z",
                event="Email Delivered",
                properties={"message_id": "mid1", "channel": "email"},
            ),
            _entry(
                "p_amy",
                "e6",
                "2024-04-04T00:02:00.000Z",
                event="Link Clicked",
                properties={"link_code": "spring", "url": "https://shop.example/spring"},
            ),
            _entry(
                "p_amy",
                "e7",
                "2024-04-05T00:00:00.000Z",
                type="identify",
                source="admin-consent",
                channel="crm",
                context={"consent": {"email:marketing": False}},
            ),
        ],
        # a merge under way: one entry not moved yet, one already copied
        "p_web": [
            _entry("p_web", "e2", "2024-04-01T01:00:00.000Z", origin="line", source="main", channel="line"),
            _entry("p_web", "e3", "2024-04-01T02:00:00.000Z", event="=SUM(A1)"),
        ],
        "p_bob": [_entry("p_bob", "b1", "2024-04-01T00:00:00.000Z")],
    }
    reads.raw = {
        "e1": {"event_id": "e1", "received_at": "2024-04-01T00:00:00.000Z", "expires_at": NOW_S + 60, "payload": {}},
        "e2": {"event_id": "e2", "received_at": "2024-04-01T01:00:00.000Z", "expires_at": NOW_S - 1, "payload": {}},
        "b1": {"event_id": "b1", "received_at": "2024-04-01T00:00:00.000Z", "expires_at": NOW_S + 60, "payload": {}},
    }
    reads.sends = {"sk1": {"send_key": "sk1", "state": "sent", "channel": "email", "to": "amy@example.com"}}
    segments.definitions_list = [
        SegmentDefinition("vip", "VIP buyers", {}, "active", NOW_ISO, NOW_ISO),
        SegmentDefinition("web", "Web visitors", {}, "active", NOW_ISO, NOW_ISO),
    ]
    segments.members = [Membership("vip", "p_amy", "2024-04-02T00:00:00.000Z", 1)]
    reads.history = [
        MembershipChange("vip", "p_amy", "entered", "2024-04-02T00:00:00.000Z", 1),
        MembershipChange("web", "p_web", "entered", "2024-04-01T03:00:00.000Z", 1),
        MembershipChange("web", "p_web", "exited", "2024-04-06T00:00:00.000Z", 1),
        MembershipChange("web", "p_bob", "entered", "2024-04-01T03:00:00.000Z", 1),
    ]
    journeys = FakeJourneyRuns(
        [
            Run("r1", "welcome", 1, "p_amy", "-", "2024-04-02T00:00:00.000Z", status="exited"),
            Run("r2", "welcome", 1, "p_bob", "-", "2024-04-02T00:00:00.000Z"),
        ]
    )
    return ExportSources(people=people, segments=segments, reads=reads, journeys=journeys)


def test_the_document_holds_the_whole_person_and_nobody_else(sources: ExportSources) -> None:
    stages: list[str] = []

    document = assemble(sources, "p_amy", now_ms=NOW_MS, progress=stages.append).document

    assert document["profile_id"] == "p_amy"
    assert document["profile_ids"] == ["p_amy", "p_line", "p_web"]  # through both merges, not Bob
    assert [(i["type"], i["value"]) for i in document["identifiers"]] == [
        ("member_id", "M-1"),
        ("phone", "+886912345678"),
    ]
    assert document["traits"] == {"name": "林小美"}
    assert document["profile"]["line"]["accounts"][0]["user"] == "2001:Uabc"
    assert document["tags"]["current"] == {"vip": {"source": "manual", "at": "2024-04-02T00:00:00.000Z"}}
    assert document["tags"]["changes"]["lapsed"]["value"] is False
    assert [e["eventId"] for e in document["timeline"]] == ["e1", "e2", "e3", "e4", "e5", "e6", "e7"]
    assert [e["event_id"] for e in document["raw_events"]] == ["e1"]  # e2's TTL has passed
    assert [(h["granted"], h["text_version"], h["source"]) for h in document["consent"]["history"]] == [
        (True, "v3", "partner:web-shop"),
        (False, None, "partner:admin-consent"),
    ]
    assert document["consent"]["in_force"]["email:marketing"] == {
        "granted": False,
        "source": "partner:admin-consent",
        "updated_at": "2024-04-05T00:00:00.000Z",
        "text_version": None,
    }
    assert document["segments"]["memberships"] == [
        {
            "segment_id": "vip",
            "profile_id": "p_amy",
            "entered_at": "2024-04-02T00:00:00.000Z",
            "rule_version": 1,
            "segment_name": "VIP buyers",
        }
    ]
    assert [(c["segment_id"], c["profile_id"], c["action"]) for c in document["segments"]["history"]] == [
        ("web", "p_web", "entered"),
        ("vip", "p_amy", "entered"),
        ("web", "p_web", "exited"),
    ]
    assert [(r["run_id"], r["status"]) for r in document["journeys"]] == [("r1", "exited")]
    (message,) = document["messages"]
    assert (message["send_key"], message["outcome"], message["record"]["to"]) == (
        "sk1",
        "Message Sent",
        "amy@example.com",
    )
    assert [e["event"] for e in message["events"]] == ["Message Sent", "Email Delivered"]
    assert [(c["link_code"], c["url"]) for c in document["link_clicks"]] == [("spring", "https://shop.example/spring")]
    merges = {m["merge_id"]: m for m in document["merges"]}
    assert set(merges) == {"m1", "m2", "m3"}
    assert merges["m2"]["identifiers"] == ["email#amy@example.com"]
    assert merges["m3"]["identifiers"] == []  # Bob's identifiers are Bob's
    assert document["counts"] == {
        "identifiers": 2,
        "profiles": 3,
        "timeline_events": 7,
        "raw_events": 1,
        "consent_changes": 2,
        "segment_memberships": 1,
        "segment_changes": 3,
        "journey_runs": 1,
        "messages": 1,
        "link_clicks": 1,
        "merges": 3,
    }
    assert stages == list(STAGES[1:-1])
    assert "bob" not in json.dumps(document).replace("p_bob", "")


def test_a_merged_away_id_exports_the_person_it_was_merged_into(sources: ExportSources) -> None:
    document = assemble(sources, "p_line", now_ms=NOW_MS).document

    assert (document["requested_id"], document["profile_id"]) == ("p_line", "p_amy")
    assert document["profile"]["requested_id"] == "p_line"
    assert document["counts"]["timeline_events"] == 7


def test_an_unknown_id_is_not_found(sources: ExportSources) -> None:
    with pytest.raises(NotFound) as missing:
        assemble(sources, "p_nobody", now_ms=NOW_MS)
    assert missing.value.code == "profile_not_found"


def test_the_csv_has_a_row_per_event_and_no_cell_a_spreadsheet_would_run(sources: ExportSources) -> None:
    data = assemble(sources, "p_amy", now_ms=NOW_MS).csv_bytes()

    assert data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode().removeprefix("\ufeff"))))
    assert [row["event_id"] for row in rows] == ["e1", "e2", "e3", "e4", "e5", "e6", "e7"]
    assert rows[2]["event"] == "'=SUM(A1)"
    assert json.loads(rows[0]["context"])["consentTextVersion"] == "v3"
    assert rows[1]["profile_id"] == "p_web"


# --- the job -------------------------------------------------------------------------------
def _exports(
    sources: ExportSources, *, starter: FakeExportStarter | None = None
) -> tuple[PersonExports, FakeExportJobs, FakeExportFiles, FakeExportStarter, FixedClock]:
    jobs, files, clock = FakeExportJobs(), FakeExportFiles(), FixedClock()
    starter = starter or FakeExportStarter()
    exports = PersonExports(jobs=jobs, files=files, starter=starter, sources=sources, clock=clock)
    return exports, jobs, files, starter, clock


def test_a_job_runs_once_and_links_its_two_files(sources: ExportSources) -> None:
    exports, jobs, files, starter, _clock = _exports(sources)

    started, created = exports.start("p_web", request_key="k-1")
    assert created and started["status"] == "running" and started["files"] is None
    assert started["progress"] == {"stage": "queued", "stages": list(STAGES), "done": 0}
    assert starter.started == [started["job_id"]]

    assert exports.run(started["job_id"]) == "done"
    assert exports.run(started["job_id"]) == "skipped"  # a redelivered invocation
    assert jobs.stages[: len(STAGES)] == list(STAGES)

    view = exports.view("p_web", started["job_id"])
    assert view == exports.view("p_amy", started["job_id"])  # by the requested or the resolved id
    assert (view["status"], view["profile_id"], view["progress"]["done"]) == ("done", "p_amy", len(STAGES))
    assert view["counts"]["timeline_events"] == 7
    json_key, csv_key = (f"exports/people/p_amy/{started['job_id']}/{name}" for name in ("person.json", "timeline.csv"))
    assert set(files.objects) == {json_key, csv_key}
    assert json.loads(files.objects[json_key][0])["profile_id"] == "p_amy"
    assert files.objects[csv_key][1].startswith("text/csv")
    assert view["files"]["json"]["url"].startswith(f"https://files.example/{json_key}?expires={LINK_SECONDS}")
    assert view["files"]["csv"]["bytes"] == len(files.objects[csv_key][0])


def test_a_retried_request_with_the_same_key_is_the_same_job(sources: ExportSources) -> None:
    exports, _jobs, _files, starter, _clock = _exports(sources)

    first, created = exports.start("p_amy", request_key="k-1")
    retry, again = exports.start("p_amy", request_key="k-1")
    other, _ = exports.start("p_amy", request_key="k-2")
    unkeyed = [exports.start("p_amy")[0]["job_id"] for _ in range(2)]

    assert (created, again) == (True, False)
    assert retry["job_id"] == first["job_id"] != other["job_id"]
    assert unkeyed[0] != unkeyed[1]
    assert starter.started.count(first["job_id"]) == 1


def test_a_job_is_only_shown_under_its_person(sources: ExportSources) -> None:
    exports, *_ = _exports(sources)
    job, _ = exports.start("p_amy")

    for profile_id, job_id in (("p_bob", job["job_id"]), ("p_amy", "exp-unknown"), ("p_amy", "x" * 65)):
        with pytest.raises(NotFound) as missing:
            exports.view(profile_id, job_id)
        assert missing.value.code == "export_not_found"


def test_an_unknown_person_starts_no_job(sources: ExportSources) -> None:
    exports, jobs, *_ = _exports(sources)
    with pytest.raises(NotFound):
        exports.start("p_nobody")
    assert jobs.jobs == {}


def test_a_job_that_cannot_start_or_breaks_is_failed_with_a_code(sources: ExportSources) -> None:
    exports, jobs, *_ = _exports(sources, starter=FakeExportStarter(failing=True))
    with pytest.raises(StoreUnavailable):
        exports.start("p_amy", request_key="k")
    (job,) = jobs.jobs.values()
    assert (job.status, job.error and job.error["error"]) == ("failed", "job_not_started")
    # the POST answered 503: a retry with the same key starts the job afresh
    exports._starter = FakeExportStarter()  # type: ignore[attr-defined]
    retried, created = exports.start("p_amy", request_key="k")
    assert (retried["job_id"], retried["status"], created) == (job.job_id, "running", True)
    assert exports.start("p_amy", request_key="k")[1] is False

    broken, _broken_jobs, files, _starter, _clock = _exports(sources)
    started, _ = broken.start("p_amy")
    sources.people.profiles.pop("p_amy")  # type: ignore[attr-defined]
    assert broken.run(started["job_id"]) == "failed"
    view = broken.view("p_amy", started["job_id"])
    assert (view["status"], view["error"]["error"], view["files"]) == ("failed", "profile_not_found", None)
    assert files.objects == {}


def test_a_job_whose_run_was_lost_reads_as_failed(sources: ExportSources) -> None:
    exports, _jobs, _files, _starter, clock = _exports(sources)
    job, _ = exports.start("p_amy")

    clock.advance(STALE_MS + 1)

    view = exports.view("p_amy", job["job_id"])
    assert (view["status"], view["error"]["error"]) == ("failed", "export_lost")
