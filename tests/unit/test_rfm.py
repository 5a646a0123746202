"""RFM scores by quintiles and named groups, against a small population scored by hand."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from cdp.profiles.model import Profile, apply_event
from cdp.profiles.rfm import (
    GROUP_TABLE,
    GROUPS,
    NO_GROUP,
    RfmRow,
    RfmScore,
    rfm_for_profiles,
    rfm_group,
    rfm_row,
    rfm_scores,
)

from tests.unit.builders import NOW_ISO, canonical

NOW = "2024-06-30T12:00:00.000Z"


def _ago(days: int) -> str:
    moment = datetime(2024, 6, 30, 12, tzinfo=UTC) - timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


# (profile, days since the last order, orders, revenue) in a 365-day window ending at NOW
POPULATION = [
    RfmRow("A", _ago(1), 10, 50000.0),
    RfmRow("B", _ago(1), 1, 300.0),  # same instant as A
    RfmRow("C", _ago(3), 1, 2000.0),
    RfmRow("D", _ago(5), 4, 1000.0),
    RfmRow("E", _ago(10), 2, 2200.0),
    RfmRow("F", _ago(20), 5, 20000.0),
    RfmRow("G", _ago(60), 1, 900.0),
    RfmRow("H", _ago(120), 3, 6000.0),
    RfmRow("I", _ago(250), 1, 400.0),
    RfmRow("J", _ago(300), 2, 7000.0),
    # no part in the scoring:
    RfmRow("K", None, 0, 0.0),  # never ordered
    RfmRow("L", _ago(400), 3, 9000.0),  # last order before the window
    RfmRow("M", "2024-07-01T00:00:00.000Z", 1, 100.0),  # after the evaluation time
    RfmRow("N", _ago(10), 0, 0.0),  # no order in the window's figures
]

# Scored by hand with n = 10 and score = 1 + floor(5 * worse / 10) = 1 + worse // 2, where
# `worse` is how many rows have a strictly worse value:
#   R: A and B tie (8 older rows) -> 5, 5; C 7 -> 4; D 6 -> 4; E 5 -> 3; F 4 -> 3; G 3 -> 2;
#      H 2 -> 2; I 1 -> 1; J 0 -> 1.
#   F: orders 1 (B C G I) have 0 worse -> 1 each (positions 0-3 share the lowest score, so C and G
#      do not get 2); 2 (E J) 4 worse -> 3; H (3) 6 -> 4; D (4) 7 -> 4; F (5) 8 -> 5; A (10) 9 -> 5.
#   M: revenue ascending B I G D C E H J F A -> 1 1 2 2 3 3 4 4 5 5.
#   FM = (F + M + 1) // 2: A (5+5) 5, B (1+1) 1, C (1+3) 2, D (4+2) 3, E (3+3) 3, F (5+5) 5,
#      G (1+2) 2, H (4+4) 4, I (1+1) 1, J (3+4) 4.
EXPECTED = {
    "A": (5, 5, 5, "champions"),  # R5 FM5
    "B": (5, 1, 1, "new"),  # R5 FM1
    "C": (4, 1, 3, "potential"),  # R4 FM2
    "D": (4, 4, 2, "loyal"),  # R4 FM3
    "E": (3, 3, 3, "loyal"),  # R3 FM3
    "F": (3, 5, 5, "loyal"),  # R3 FM5
    "G": (2, 1, 2, "hibernating"),  # R2 FM2
    "H": (2, 4, 4, "at_risk"),  # R2 FM4
    "I": (1, 1, 1, "lost"),  # R1 FM1
    "J": (1, 3, 4, "at_risk"),  # R1 FM4
}


def test_reference_population_scores_and_groups() -> None:
    scores = rfm_scores(POPULATION, now=NOW, window_days=365)

    assert {
        pid: (s.recency, s.frequency, s.monetary, s.group) for pid, s in scores.items() if s.group != NO_GROUP
    } == EXPECTED
    for pid in "KLMN":
        assert scores[pid] == RfmScore(pid, None, None, None, NO_GROUP)
    assert scores["D"].fm == 3 and scores["K"].fm is None
    assert {s.group for s in scores.values()} == set(GROUPS)


def test_scores_do_not_depend_on_the_order_of_the_rows() -> None:
    expected = rfm_scores(POPULATION, now=NOW)
    for seed in range(5):
        rows = list(POPULATION)
        random.Random(seed).shuffle(rows)
        assert rfm_scores(rows, now=NOW) == expected


def test_the_window_decides_who_takes_part() -> None:
    # A longer window lets L (400 days) in; it is then the oldest buyer
    wide = rfm_scores(POPULATION, now=NOW, window_days=500)
    assert wide["L"].recency == 1 and wide["L"].group != NO_GROUP
    # A 30-day window keeps only the last six (the caller gives the window's figures)
    recent = rfm_scores(POPULATION, now=NOW, window_days=30)
    assert sorted(pid for pid, s in recent.items() if s.group != NO_GROUP) == ["A", "B", "C", "D", "E", "F"]
    # The window is whole UTC days ending with the day of `now`: 2023-07-02 is its first day
    edge = [RfmRow("in", "2023-07-02T00:00:00.000Z", 1, 1.0), RfmRow("out", "2023-07-01T23:59:59.000Z", 1, 1.0)]
    assert {pid: s.group != NO_GROUP for pid, s in rfm_scores(edge, now=NOW).items()} == {"in": True, "out": False}
    with pytest.raises(ValueError, match="window"):
        rfm_scores(POPULATION, now=NOW, window_days=0)


def test_everyone_alike_scores_one_and_a_lone_buyer_too() -> None:
    same = [RfmRow(f"p{n}", _ago(5), 2, 100.0) for n in range(4)]
    assert {s.group for s in rfm_scores(same, now=NOW).values()} == {"lost"}
    assert rfm_scores(same[:1], now=NOW)["p0"] == RfmScore("p0", 1, 1, 1, "lost")
    assert rfm_scores([], now=NOW) == {}


def test_group_table() -> None:
    # R rows, FM columns 1..5 (the module's documented table)
    assert GROUP_TABLE == {
        5: ("new", "potential", "loyal", "champions", "champions"),
        4: ("new", "potential", "loyal", "loyal", "champions"),
        3: ("potential", "potential", "loyal", "loyal", "loyal"),
        2: ("hibernating", "hibernating", "at_risk", "at_risk", "at_risk"),
        1: ("lost", "lost", "at_risk", "at_risk", "at_risk"),
    }
    assert rfm_group(5, 4, 3) == "champions"  # FM = (4 + 3 + 1) // 2 = 4
    assert rfm_group(4, 4, 3) == "loyal"
    assert rfm_group(1, 2, 3) == "at_risk"  # FM = (2 + 3 + 1) // 2 = 3
    assert rfm_group(1, 2, 1) == "lost"  # FM = (2 + 1 + 1) // 2 = 2
    with pytest.raises(ValueError, match="scores"):
        rfm_group(0, 1, 1)
    with pytest.raises(ValueError, match="scores"):
        rfm_group(1, 6, 1)


def _buyer(profile_id: str, orders: list[tuple[int, float]]) -> Profile:
    profile = Profile.new(profile_id, NOW_ISO)
    for n, (days, revenue) in enumerate(orders):
        order = canonical(event_id=f"{profile_id}-{n}", timestamp=_ago(days), event="Order Completed", channel="pos")
        order.properties = {"revenue": revenue}
        apply_event(profile, order, [], NOW_ISO)
    return profile


def test_rfm_row_takes_the_window_figures_from_the_computed_traits() -> None:
    profile = _buyer("p", [(2, 1000), (40, 3000), (500, 9000)])

    assert rfm_row(profile, now=NOW, window_days=30) == RfmRow("p", _ago(2), 1, 1000.0)
    assert rfm_row(profile, now=NOW) == RfmRow("p", _ago(2), 2, 4000.0)
    assert rfm_row(profile, now=NOW, window_days=1000) == RfmRow("p", _ago(2), 3, 13000.0)  # all time


def test_rfm_for_profiles_scores_live_profiles_from_their_computed_traits() -> None:
    merged_away = _buyer("gone", [(1, 99999)])
    merged_away.merged_into = "big"
    profiles = [
        _buyer("big", [(1, 5000), (10, 5000), (20, 5000)]),
        _buyer("small", [(200, 300)]),
        _buyer("old", [(400, 9000)]),  # nothing in the 365-day window
        Profile.new("never", NOW_ISO),
        merged_away,
    ]

    scores = rfm_for_profiles(profiles, now=NOW)

    # n = 2: the better row has one worse row -> 1 + 5 * 1 // 2 = 3; the other 1
    assert scores == {
        "big": RfmScore("big", 3, 3, 3, "loyal"),
        "small": RfmScore("small", 1, 1, 1, "lost"),
        "old": RfmScore("old", None, None, None, NO_GROUP),
        "never": RfmScore("never", None, None, None, NO_GROUP),
    }
