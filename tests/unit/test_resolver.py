"""Identity resolution: which profile an event belongs to, given who owns its identifiers."""

from __future__ import annotations

from cdp.identity.identifiers import IDENTIFIER_TYPES, Identifier, line_identifier
from cdp.identity.resolver import Conflict, new_profile_id, resolve
from hypothesis import given
from hypothesis import strategies as st

LINE = line_identifier("2001234567", "U4af4980629a1b2c3d4e5f6a7b8c9d0e1")
MEMBER = Identifier("member_id", "M0001")
EMAIL = Identifier("email", "amy@example.com")
PHONE = Identifier("phone", "+886912345678")
ANON = Identifier("anonymous_id", "a-77")


def test_new_person_gets_a_deterministic_id_and_claims_everything() -> None:
    # Given identifiers nobody owns yet
    # When the event is resolved (twice, as a replay would)
    first = resolve([EMAIL, ANON], {}, event_id="partner#web-shop#m-1")
    replay = resolve([EMAIL, ANON], {}, event_id="partner#web-shop#m-1")

    # Then a new profile is derived from the event id, the same on replay, and claims all identifiers
    assert first.is_new is True
    assert first.profile_id == new_profile_id("partner#web-shop#m-1") == replay.profile_id
    assert first.profile_id.startswith("p_") and len(first.profile_id) == 28
    assert set(first.claim) == {EMAIL, ANON}
    assert first.conflicts == []


def test_different_events_create_different_people() -> None:
    assert new_profile_id("partner#web-shop#m-1") != new_profile_id("partner#web-shop#m-2")


def test_known_person_is_found_and_new_identifiers_are_claimed() -> None:
    # Given a person who owns the email
    owners = {EMAIL.key: "p_amy"}

    # When an event carries the email and a new phone
    resolution = resolve([PHONE, EMAIL], owners, event_id="e-2")

    # Then it belongs to that person, who claims the phone
    assert (resolution.profile_id, resolution.is_new) == ("p_amy", False)
    assert resolution.claim == [PHONE]
    assert resolution.conflicts == []


def test_identifiers_of_two_people_resolve_by_priority_and_report_the_conflict() -> None:
    # Given the member id owned by one profile and the email by another (the POS and web islands)
    owners = {MEMBER.key: "p_pos", EMAIL.key: "p_web", ANON.key: "p_web"}

    # When an event carries both, plus a new phone
    resolution = resolve([ANON, EMAIL, PHONE, MEMBER], owners, event_id="e-3")

    # Then the member id (highest priority) decides, the others are conflicts, the phone is claimed
    assert resolution.profile_id == "p_pos"
    assert resolution.claim == [PHONE]
    assert resolution.conflicts == [Conflict(EMAIL, "p_web"), Conflict(ANON, "p_web")]


def test_line_outranks_email_by_default() -> None:
    # Given the LINE user and the email owned by different profiles
    owners = {LINE.key: "p_line", EMAIL.key: "p_web"}

    # When an event carries both
    resolution = resolve([EMAIL, LINE], owners, event_id="e-4")

    # Then the LINE profile wins (default priority: member_id, line, email, phone, ...)
    assert resolution.profile_id == "p_line"
    assert resolution.conflicts == [Conflict(EMAIL, "p_web")]


def test_priority_is_configurable() -> None:
    # Given a workspace that trusts the email over the member id
    owners = {MEMBER.key: "p_pos", EMAIL.key: "p_web"}

    # When an event carrying both is resolved with that priority
    resolution = resolve([MEMBER, EMAIL], owners, event_id="e-5", priority=["email", "member_id"])

    # Then the email's owner wins
    assert resolution.profile_id == "p_web"
    assert resolution.conflicts == [Conflict(MEMBER, "p_pos")]


def test_same_type_conflict_is_decided_by_value_order() -> None:
    # Given two emails of the same event owned by two profiles
    other = Identifier("email", "amy@work.example")
    owners = {EMAIL.key: "p_home", other.key: "p_work"}

    # When it is resolved in either order
    a = resolve([EMAIL, other], owners, event_id="e")
    b = resolve([other, EMAIL], owners, event_id="e")

    # Then the same profile wins both times (the lower value), with the same conflict
    assert a == b
    assert a.profile_id == "p_home"


def test_no_conflict_when_all_owned_identifiers_agree() -> None:
    owners = {MEMBER.key: "p_amy", EMAIL.key: "p_amy"}
    resolution = resolve([EMAIL, MEMBER], owners, event_id="e")
    assert (resolution.profile_id, resolution.claim, resolution.conflicts) == ("p_amy", [], [])


# properties ---------------------------------------------------------------------------------
identifiers = st.builds(
    Identifier,
    type=st.sampled_from(IDENTIFIER_TYPES),
    value=st.text(alphabet="abcdef0123456789@.+", min_size=1, max_size=6),
)
profiles = st.sampled_from(["p_a", "p_b", "p_c"])


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Identifier], dict[str, str], list[Identifier]]:
    ids = draw(st.lists(identifiers, min_size=1, max_size=8, unique=True))
    owned = draw(st.lists(st.sampled_from(ids), unique=True))
    owners = {identifier.key: draw(profiles) for identifier in owned}
    shuffled = draw(st.permutations(ids))
    return ids, owners, list(shuffled)


@given(scenarios())
def test_resolution_does_not_depend_on_identifier_order(
    scenario: tuple[list[Identifier], dict[str, str], list[Identifier]],
) -> None:
    # Given any identifiers, any owners, and the same identifiers in another order
    ids, owners, shuffled = scenario

    # When both orders are resolved
    a = resolve(ids, owners, event_id="e-1")
    b = resolve(shuffled, owners, event_id="e-1")

    # Then the result is identical: same profile, same claims, same conflicts
    assert a == b


@given(scenarios())
def test_resolution_accounts_for_every_identifier(
    scenario: tuple[list[Identifier], dict[str, str], list[Identifier]],
) -> None:
    # Given any identifiers and owners
    ids, owners, _ = scenario

    # When they are resolved
    resolution = resolve(ids, owners, event_id="e-1")

    # Then unowned ones are claimed, and owned ones either agree with the winner or are conflicts
    assert set(resolution.claim) == {i for i in ids if i.key not in owners}
    conflicting = {c.identifier for c in resolution.conflicts}
    for identifier in ids:
        if identifier.key in owners:
            assert (owners[identifier.key] == resolution.profile_id) != (identifier in conflicting)
    assert resolution.is_new == (not owners)
    if owners:
        assert resolution.profile_id in owners.values()
