"""Identity rules: validation of a rule document (400 codes), what a set of identifiers breaks,
and the rules as the processor applies them (blocked values through the normaliser built from
the rules, limits, priority)."""

from __future__ import annotations

from typing import Any

import pytest
from cdp.errors import BadRequest
from cdp.identity.identifiers import DEFAULT_BLOCKED_VALUES, IDENTIFIER_TYPES, Identifier, line_identifier
from cdp.identity.rules import DEFAULT_MAX_PER_TYPE, DEFAULT_RULES, MAX_BLOCKED_VALUES, MAX_LIMIT, IdentityRules
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.identity_helpers import PROVIDER_A, PROVIDER_B, build_world, line_user, person_event

TYPES = list(IDENTIFIER_TYPES)


# validation -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("document", "code", "names"),
    [
        pytest.param(["member_id"], "invalid_rules", "object", id="not-an-object"),
        pytest.param({"colour": "red"}, "unknown_rule_field", "colour", id="unknown-field"),
        pytest.param({"blocked_values": "null"}, "invalid_blocked_values", "blocked_values", id="blocked-not-a-list"),
        pytest.param({"blocked_values": ["ok", 3]}, "invalid_blocked_values", "strings", id="blocked-not-strings"),
        pytest.param(
            {"blocked_values": [f"v{n}" for n in range(MAX_BLOCKED_VALUES + 1)]},
            "invalid_blocked_values",
            str(MAX_BLOCKED_VALUES),
            id="too-many-blocked",
        ),
        pytest.param({"max_per_type": {"fax": 1}}, "unknown_identifier_type", "fax", id="limit-of-unknown-type"),
        pytest.param({"max_per_type": {"email": 0}}, "invalid_max_per_type", "email", id="limit-zero"),
        pytest.param({"max_per_type": {"email": MAX_LIMIT + 1}}, "invalid_max_per_type", "email", id="limit-too-big"),
        pytest.param({"max_per_type": {"email": "3"}}, "invalid_max_per_type", "email", id="limit-a-string"),
        pytest.param({"max_per_type": {"email": True}}, "invalid_max_per_type", "email", id="limit-a-boolean"),
        pytest.param({"max_per_type": {"phone": 2.5}}, "invalid_max_per_type", "phone", id="limit-a-fraction"),
        pytest.param({"max_per_type": {"phone": None}}, "invalid_max_per_type", "phone", id="limit-null"),
        pytest.param({"priority": TYPES[:-1]}, "invalid_priority", "priority", id="priority-missing-a-type"),
        pytest.param({"priority": [*TYPES, "email"]}, "invalid_priority", "priority", id="priority-duplicate"),
        pytest.param({"priority": [*TYPES[:-1], "fax"]}, "invalid_priority", "priority", id="priority-unknown-type"),
        pytest.param({"priority": "member_id"}, "invalid_priority", "priority", id="priority-not-a-list"),
        pytest.param(
            {"max_per_type": ["email"]},
            "invalid_max_per_type",
            "max_per_type",
            id="limits-not-an-object",
        ),
        pytest.param(
            {"priority": ["member_id", 1, *TYPES[2:]]},
            "invalid_priority",
            "priority",
            id="priority-not-strings",
        ),
    ],
)
def test_a_bad_rule_document_is_a_400_naming_what_is_wrong(document: Any, code: str, names: str) -> None:
    with pytest.raises(BadRequest) as refused:
        IdentityRules.from_dict(document)

    assert (refused.value.status, refused.value.code) == (400, code)
    assert names in refused.value.message


def test_a_stored_rule_document_reads_back_as_the_same_rules() -> None:
    rules = IdentityRules(
        blocked_values=frozenset({"guest", "0"}),
        max_per_type={**DEFAULT_MAX_PER_TYPE, "email": 2},
        priority=tuple(reversed(TYPES)),
        version=7,
    )

    assert IdentityRules.from_dict(rules.as_dict()) == rules
    assert IdentityRules.from_dict(DEFAULT_RULES.as_dict()) == DEFAULT_RULES
    assert IdentityRules.from_dict({}) == DEFAULT_RULES


def test_a_partial_document_keeps_the_defaults_for_what_it_does_not_say() -> None:
    rules = IdentityRules.from_dict({"max_per_type": {"email": 2}}, version=3)

    assert rules.max_per_type == {**DEFAULT_MAX_PER_TYPE, "email": 2}
    assert rules.blocked_values == DEFAULT_BLOCKED_VALUES
    assert rules.priority == DEFAULT_RULES.priority
    assert rules.version == 3


def test_blocked_values_are_compared_as_the_normaliser_compares_them() -> None:
    rules = IdentityRules.from_dict({"blocked_values": ["  Guest ", "NoReply@Shop.TW"]})

    assert rules.blocked_values == {"guest", "noreply@shop.tw"}


# violations -----------------------------------------------------------------------------------
MEMBER_1, MEMBER_2 = Identifier("member_id", "M1"), Identifier("member_id", "M2")
LINE_A1, LINE_A2 = line_identifier(PROVIDER_A, line_user(1)), line_identifier(PROVIDER_A, line_user(2))
LINE_B1 = line_identifier(PROVIDER_B, line_user(1))


def _emails(count: int) -> list[Identifier]:
    return [Identifier("email", f"e{n}@example.com") for n in range(count)]


@pytest.mark.parametrize(
    ("identifiers", "broken"),
    [
        pytest.param([], [], id="nothing"),
        pytest.param([MEMBER_1, *_emails(5), LINE_A1, LINE_B1], [], id="within-every-limit"),
        pytest.param([MEMBER_1, MEMBER_2], ["max_member_id"], id="two-member-ids"),
        pytest.param([LINE_A1, LINE_A2], ["max_line"], id="two-line-users-of-one-provider"),
        pytest.param([LINE_A1, LINE_B1], [], id="one-line-user-per-provider"),
        pytest.param(_emails(6), ["max_email"], id="six-emails"),
        pytest.param([MEMBER_1, MEMBER_2, LINE_A1, LINE_A2], ["max_line", "max_member_id"], id="two-rules-sorted"),
    ],
)
def test_violations_name_each_broken_limit(identifiers: list[Identifier], broken: list[str]) -> None:
    assert DEFAULT_RULES.violations(identifiers) == broken


def test_limits_are_the_workspace_s() -> None:
    strict = IdentityRules.from_dict({"max_per_type": {"email": 1, "line": 2}})

    assert strict.violations(_emails(2)) == ["max_email"]
    assert strict.violations([LINE_A1, LINE_A2]) == []  # two per provider allowed now
    assert strict.violations([*_emails(1), LINE_A1, LINE_A2, LINE_B1]) == []


POOL = [MEMBER_1, MEMBER_2, LINE_A1, LINE_A2, LINE_B1, *_emails(7), Identifier("phone", "+886912345678")]


@settings(max_examples=80)
@given(st.sets(st.sampled_from(POOL)), st.sets(st.sampled_from(POOL)))
def test_more_identifiers_never_break_fewer_rules(first: set[Identifier], more: set[Identifier]) -> None:
    # a person who breaks a rule still breaks it with more identifiers, and any part of a valid
    # set of identifiers is valid
    assert set(DEFAULT_RULES.violations(first)) <= set(DEFAULT_RULES.violations(first | more))
    if not DEFAULT_RULES.violations(first | more):
        assert DEFAULT_RULES.violations(first) == []


# the rules as the processor applies them ------------------------------------------------------
def test_blocked_values_of_the_workspace_are_never_identifiers() -> None:
    # Given a workspace whose shop sends "guest" as the member id of logged-out visitors
    rules = IdentityRules.from_dict({"blocked_values": [*sorted(DEFAULT_BLOCKED_VALUES), "Guest"]}, version=1)
    world = build_world(rules=rules)

    # When two strangers' events carry it
    only_junk = world.process(person_event("g-1", member="guest"))
    first = world.process(person_event("g-2", member="GUEST", anon="a-1"))
    second = world.process(person_event("g-3", member=" guest ", anon="a-2"))

    # Then it identifies nobody: no profile for the first, and the others are not glued by it
    assert (only_junk.outcome, only_junk.profile_id) == ("no_identifiers", None)
    assert first.profile_id != second.profile_id
    assert not any(key.startswith("member_id#") for key in world.store.claims)
    assert world.store.profiles[first.profile_id].rejected_identifiers == [
        {"type": "member_id", "value": "GUEST", "reason": "blocked_value", "at": "2024-05-01T09:00:00.000Z"}
    ]


def test_a_rules_change_applies_to_the_next_event() -> None:
    # Given a workspace that starts with the default rules
    world = build_world()
    before = world.process(person_event("c-1", member="guest", anon="a-1"))
    assert "member_id#guest" in world.store.claims

    # When it blocks "guest" (a new rules version)
    world.rules[0] = IdentityRules.from_dict({"blocked_values": ["guest"]}, version=1)
    after = world.process(person_event("c-2", member="guest", anon="a-2"))

    # Then the next event's "guest" is no identifier and does not glue it to the earlier profile
    assert after.profile_id != before.profile_id
    assert [i.type for i in after.event.identifiers] == ["anonymous_id"]
    assert [r.reason for r in after.event.rejected_identifiers] == ["blocked_value"]


def test_junk_emails_are_blocked_whatever_their_case() -> None:
    rules = IdentityRules.from_dict({"blocked_values": ["NoReply@Shop.TW"]}, version=1)
    world = build_world(rules=rules)

    result = world.process(person_event("j-1", anon="a-1", emails=[" noreply@shop.tw", "Amy@Example.com"]))

    assert sorted(i.key for i in result.event.identifiers) == ["anonymous_id#a-1", "email#amy@example.com"]


@pytest.mark.parametrize("sent", ["0912-345-678", "+886 912 345 678"])
def test_a_blocked_test_phone_in_local_form_is_blocked_in_any_form(sent: str) -> None:
    world = build_world(rules=IdentityRules.from_dict({"blocked_values": ["0912345678"]}, version=1))

    result = world.process(person_event("t-1", anon="a-1", phones=[sent]))

    assert [i.type for i in result.event.identifiers] == ["anonymous_id"]


def test_the_line_limit_is_per_provider_when_events_are_processed() -> None:
    world = build_world()
    person = world.process(person_event("l-1", anon="a-1", lines=[f"{PROVIDER_A}:{line_user(1)}"]))

    other_provider = world.process(person_event("l-2", anon="a-1", lines=[f"{PROVIDER_B}:{line_user(9)}"]))
    same_provider = world.process(person_event("l-3", anon="a-1", lines=[f"{PROVIDER_A}:{line_user(2)}"]))

    assert other_provider.profile_id == person.profile_id and other_provider.conflicts == []
    assert f"line#{PROVIDER_B}:{line_user(9)}" in world.store.profiles[person.profile_id].identifiers
    # a second LINE user of the same provider is another person: the higher-priority LINE id decides
    assert same_provider.profile_id != person.profile_id
    assert [(c.identifier.type, c.owner, c.reason) for c in same_provider.conflicts] == [
        ("anonymous_id", person.profile_id, "max_line")
    ]


@pytest.mark.parametrize(
    ("priority", "lands_on"),
    [
        pytest.param(TYPES, "member", id="member-id-first"),
        pytest.param(["email", *[t for t in TYPES if t != "email"]], "email", id="email-first"),
    ],
)
def test_the_workspace_priority_decides_where_a_contested_event_lands(priority: list[str], lands_on: str) -> None:
    world = build_world(rules=IdentityRules.from_dict({"priority": priority}, version=1))
    member = world.process(person_event("p-1", member="M0001")).profile_id
    other = world.process(person_event("p-2", member="M0002", emails=["shared@example.com"])).profile_id

    result = world.process(person_event("p-3", member="M0001", emails=["shared@example.com"]))

    assert result.profile_id == {"member": member, "email": other}[lands_on]
    assert [c.reason for c in result.conflicts] == ["max_member_id"]
    assert result.merge_from == []


@pytest.mark.parametrize(
    "new_email",
    [
        pytest.param("zz-new@example.com", id="new-email-sorts-after-the-known-one"),
        pytest.param(
            "aa-new@example.com",
            id="new-email-sorts-before-the-known-one",
        ),
    ],
)
def test_an_event_with_a_known_email_and_one_over_the_limit_stays_with_the_person(new_email: str) -> None:
    # Given a person at the workspace's limit of two emails
    world = build_world(rules=IdentityRules.from_dict({"max_per_type": {"email": 2}}, version=1))
    person = world.process(person_event("k-1", anon="a-1", emails=["mm1@example.com", "mm2@example.com"]))

    # When an event names one of them and a third
    result = world.process(person_event("k-2", emails=["mm1@example.com", new_email], event="Cart Viewed"))

    # Then it is the person's event, and the third email is the conflict, whatever its spelling
    assert result.profile_id == person.profile_id
    assert [(c.identifier.value, c.owner, c.reason) for c in result.conflicts] == [(new_email, None, "max_email")]
    assert f"email#{new_email}" not in world.store.claims


def test_a_rule_tightened_later_does_not_split_a_person_who_already_exceeds_it() -> None:
    # Given a member with two emails, then the admin allows only one email per person
    world = build_world(eager=True)
    member = world.process(person_event("t-1", member="M1", emails=["a@x.com", "b@x.com"])).profile_id
    world.rules[0] = IdentityRules.from_dict({"max_per_type": {"email": 1}}, version=2)

    # When events name the member, or one of the emails it already has, or a new email
    by_member = world.process(person_event("t-2", member="M1", event="Viewed"))
    by_email = world.process(person_event("t-3", emails=["a@x.com"], event="Viewed"))
    new_email = world.process(person_event("t-4", member="M1", emails=["c@x.com"], event="Viewed"))

    # Then they all find the member: it keeps what it has but gains no third email
    assert {by_member.profile_id, by_email.profile_id, new_email.profile_id} == {member}
    assert len(world.store.profiles) == 1
    assert [(c.identifier.value, c.reason) for c in new_email.conflicts] == [("c@x.com", "max_email")]


def test_stored_rules_stay_readable_when_the_identifier_types_change() -> None:
    from cdp.identity.rules import rules_from_storage

    # Given rules stored by a version that knew a `fax` type and not `idfa`
    stored = {
        "priority": ["member_id", "fax", "line", "email", "phone", "wechat_unionid", "wechat_openid", "anonymous_id"],
        "max_per_type": {"fax": 2, "email": 3},
        "blocked_values": ["n/a"],
    }

    rules = rules_from_storage(stored, version=4)

    assert rules.priority == tuple([t for t in stored["priority"] if t != "fax"] + ["idfa"])
    assert rules.max_per_type["email"] == 3 and "fax" not in rules.max_per_type
    assert rules.version == 4
