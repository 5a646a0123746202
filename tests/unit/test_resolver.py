"""Identity resolution: which profile an event belongs to, given who owns its identifiers."""

from __future__ import annotations

from cdp.identity.identifiers import Identifier, line_identifier
from cdp.identity.resolver import REASON_SEPARATED, Owner, new_profile_id, resolve, separation_key
from cdp.identity.rules import IdentityRules

LINE = line_identifier("2001234567", "U4af4980629a1b2c3d4e5f6a7b8c9d0e1")
MEMBER = Identifier("member_id", "M0001")
OTHER_MEMBER = Identifier("member_id", "M0002")
EMAIL = Identifier("email", "amy@example.com")
PHONE = Identifier("phone", "+886912345678")
ANON = Identifier("anonymous_id", "a-77")


def owner(profile_id: str, *identifiers: Identifier, created_at: str = "2026-01-01T00:00:00.000Z") -> Owner:
    return Owner(profile_id, created_at, frozenset(identifiers))


def owned(*owners: Owner) -> dict[str, Owner]:
    return {identifier.key: o for o in owners for identifier in o.identifiers}


def test_new_person_gets_a_deterministic_id_and_claims_everything() -> None:
    first = resolve([EMAIL, ANON], {}, event_id="partner#web-shop#m-1")
    replay = resolve([EMAIL, ANON], {}, event_id="partner#web-shop#m-1")

    assert first.is_new is True
    assert first.profile_id == new_profile_id("partner#web-shop#m-1") == replay.profile_id
    assert first.profile_id.startswith("p_") and len(first.profile_id) == 28
    assert set(first.claim) == {EMAIL, ANON}
    assert first.conflicts == [] and first.merge_from == []


def test_known_person_is_found_and_new_identifiers_are_claimed() -> None:
    amy = owner("p_amy", EMAIL)

    resolution = resolve([PHONE, EMAIL], owned(amy), event_id="e-2")

    assert (resolution.profile_id, resolution.is_new) == ("p_amy", False)
    assert resolution.claim == [PHONE]
    assert resolution.merge_from == [] and resolution.conflicts == []


def test_identifiers_spread_over_two_profiles_merge_into_the_member_profile() -> None:
    # Given the web profile is older, but the store profile has the member id
    web = owner("p_web", EMAIL, ANON, created_at="2026-01-01T00:00:00.000Z")
    pos = owner("p_pos", MEMBER, PHONE, created_at="2026-02-01T00:00:00.000Z")

    resolution = resolve([EMAIL, MEMBER], owned(web, pos), event_id="e-login")

    assert resolution.profile_id == "p_pos"
    assert resolution.merge_from == ["p_web"]
    assert resolution.conflicts == []


def test_without_a_member_id_the_oldest_profile_survives() -> None:
    young = owner("p_young", EMAIL, created_at="2026-03-01T00:00:00.000Z")
    old = owner("p_old", ANON, created_at="2026-01-01T00:00:00.000Z")

    resolution = resolve([EMAIL, ANON], owned(young, old), event_id="e")

    assert (resolution.profile_id, resolution.merge_from) == ("p_old", ["p_young"])


def test_a_merge_that_would_give_one_person_two_member_ids_is_a_conflict() -> None:
    # Given two members, and an event (shared family email) that names member 1 and the email of member 2
    first = owner("p_1", MEMBER)
    second = owner("p_2", OTHER_MEMBER, EMAIL)

    resolution = resolve([MEMBER, EMAIL], owned(first, second), event_id="e")

    # Then member_id (higher priority) decides; the email is not attached and the reason is named
    assert resolution.profile_id == "p_1"
    assert resolution.merge_from == []
    assert [(c.identifier, c.owner, c.reason) for c in resolution.conflicts] == [(EMAIL, "p_2", "max_member_id")]


def test_an_unowned_identifier_over_the_limit_is_not_attached() -> None:
    emails = [Identifier("email", f"amy{i}@example.com") for i in range(5)]
    amy = owner("p_amy", MEMBER, *emails)
    sixth = Identifier("email", "amy5@example.com")

    resolution = resolve([MEMBER, sixth], owned(amy), event_id="e")

    assert resolution.profile_id == "p_amy"
    assert resolution.claim == []
    assert [(c.identifier, c.owner, c.reason) for c in resolution.conflicts] == [(sixth, None, "max_email")]


def test_a_second_member_id_on_a_known_profile_starts_a_new_person() -> None:
    # The anonymous browser of member 1 logs in as member 2 (a shared computer)
    first = owner("p_1", MEMBER, ANON)

    resolution = resolve([OTHER_MEMBER, ANON], owned(first), event_id="e-2")

    assert resolution.is_new is True
    assert resolution.claim == [OTHER_MEMBER]
    assert [(c.identifier, c.reason) for c in resolution.conflicts] == [(ANON, "max_member_id")]


def test_line_limit_is_per_provider() -> None:
    other_provider = line_identifier("2009999999", "U4af4980629a1b2c3d4e5f6a7b8c9d0e1")
    amy = owner("p_amy", MEMBER, LINE)

    resolution = resolve([MEMBER, other_provider], owned(amy), event_id="e")

    assert resolution.claim == [other_provider] and resolution.conflicts == []


def test_profiles_split_by_an_unmerge_are_not_merged_again() -> None:
    first = owner("p_1", MEMBER)
    second = owner("p_2", EMAIL)

    resolution = resolve([MEMBER, EMAIL], owned(first, second), event_id="e", separated={separation_key("p_2", "p_1")})

    assert resolution.profile_id == "p_1" and resolution.merge_from == []
    assert [(c.identifier, c.reason) for c in resolution.conflicts] == [(EMAIL, REASON_SEPARATED)]


def test_priority_is_configurable() -> None:
    # Given email outranks member_id in this workspace
    rules = IdentityRules.from_dict(
        {"priority": ["email", "member_id", "line", "phone", "wechat_unionid", "wechat_openid", "idfa", "anonymous_id"]}
    )
    first = owner("p_1", MEMBER)
    second = owner("p_2", OTHER_MEMBER, EMAIL)

    resolution = resolve([MEMBER, EMAIL], owned(first, second), event_id="e", rules=rules)

    assert resolution.profile_id == "p_2"
    assert [(c.identifier, c.owner) for c in resolution.conflicts] == [(MEMBER, "p_1")]


def test_resolution_does_not_depend_on_identifier_order() -> None:
    web = owner("p_web", EMAIL)
    pos = owner("p_pos", MEMBER)
    forward = resolve([EMAIL, MEMBER, PHONE], owned(web, pos), event_id="e")
    backward = resolve([PHONE, MEMBER, EMAIL], owned(web, pos), event_id="e")
    assert forward == backward
