"""Read side: the profile view (following merge pointers) and identifier lookups."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from cdp.errors import BadRequest, NotFound
from cdp.identity.identifiers import Identifier, IdentifierNormalizer, line_identifier
from cdp.profiles.model import Profile
from cdp.profiles.processor import EventProcessor
from cdp.profiles.views import MAX_POINTER_HOPS, find_profile_id, lookup_identifier, profile_view

from tests.fixtures import line_events as line
from tests.fixtures.line_events import USER_ID
from tests.unit.builders import LINE_PROVIDER, NOW_ISO, line_raw, partner_raw

MEMBER = Identifier("member_id", "M0001")

if TYPE_CHECKING:
    from tests.unit.conftest import FakeProfileStore


@pytest.fixture
def amy(processor: EventProcessor, profile_store: FakeProfileStore) -> str:
    """A person built by the processor: LINE follow, account link to M0001, web identify, POS order."""
    follow = processor.process(line_raw(line.follow(timestamp=1_714_550_400_000)))  # 08:00Z
    assert follow.profile_id is not None
    linked = profile_store.get(follow.profile_id)
    assert linked is not None
    profile_store.seed(linked, [MEMBER])  # what the account-link binding leaves behind
    processor.process(
        partner_raw(
            {
                "type": "identify",
                "userId": "M0001",
                "timestamp": "2024-05-01T09:00:00Z",
                "traits": {"name": "林小美", "email": "amy@example.com"},
            }
        )
    )
    processor.process(
        partner_raw(
            {
                "type": "track",
                "userId": "M0001",
                "event": "Order Completed",
                "timestamp": "2024-05-01T10:00:00Z",
                "properties": {"revenue": 5000, "currency": "TWD", "store_id": "TPE-101"},
                "context": {"channel": "pos"},
            },
            source="pos",
        )
    )
    return follow.profile_id


def test_profile_view_shows_identifiers_traits_line_state_stats_and_timeline(
    amy: str, profile_store: FakeProfileStore
) -> None:
    # Given a person known on LINE, the web shop and the POS
    # When their profile is viewed
    view = profile_view(profile_store, amy, timeline_limit=2)

    # Then it is the joined picture
    assert view["profile_id"] == amy
    assert view["requested_id"] is None
    assert [(i["type"], i["value"]) for i in view["identifiers"]] == [
        ("email", "amy@example.com"),
        ("line", f"{LINE_PROVIDER}:{USER_ID}"),
        ("member_id", "M0001"),
    ]
    assert view["traits"] == {"email": "amy@example.com", "name": "林小美"}
    assert view["trait_sources"]["name"] == {"source": "partner:web-shop", "updated_at": "2024-05-01T09:00:00.000Z"}
    assert view["line"]["status"] == "friend"
    assert view["line"]["accounts"] == [
        {"user": f"{LINE_PROVIDER}:{USER_ID}", "status": "friend", "since": "2024-05-01T08:00:00.000Z"}
    ]
    assert view["stats"]["event_count"] == 3
    assert view["stats"]["channels"] == {"line": 1, "web": 1, "pos": 1}
    assert view["stats"]["channel_mix"] == "omnichannel"
    assert (view["stats"]["first_seen_at"], view["stats"]["last_seen_at"]) == (
        "2024-05-01T08:00:00.000Z",
        "2024-05-01T10:00:00.000Z",
    )
    # and the timeline is newest first, limited
    assert [(event["type"], event.get("event")) for event in view["events"]] == [
        ("track", "Order Completed"),
        ("identify", None),
    ]


def test_profile_view_follows_merge_pointers(amy: str, profile_store: FakeProfileStore) -> None:
    # Given two profiles merged into amy's, one through the other
    profile_store.seed(Profile(profile_id="p_old", created_at=NOW_ISO, updated_at=NOW_ISO, merged_into="p_mid"))
    profile_store.seed(Profile(profile_id="p_mid", created_at=NOW_ISO, updated_at=NOW_ISO, merged_into=amy))

    # When the oldest id is viewed
    view = profile_view(profile_store, "p_old", timeline_limit=5)

    # Then the surviving profile is shown, saying which id was asked for
    assert view["profile_id"] == amy
    assert view["requested_id"] == "p_old"
    assert view["traits"]["name"] == "林小美"


def test_unknown_profile_is_not_found(profile_store: FakeProfileStore) -> None:
    with pytest.raises(NotFound) as raised:
        profile_view(profile_store, "p_nobody", timeline_limit=5)
    assert (raised.value.status, raised.value.code) == (404, "profile_not_found")


def test_dangling_merge_pointer_is_not_found(profile_store: FakeProfileStore) -> None:
    # Given a merged profile whose target is gone
    profile_store.seed(Profile(profile_id="p_old", created_at=NOW_ISO, updated_at=NOW_ISO, merged_into="p_gone"))

    # When / Then it is not found (rather than shown as the empty loser)
    with pytest.raises(NotFound):
        profile_view(profile_store, "p_old", timeline_limit=5)


@pytest.mark.parametrize("chain", [2, MAX_POINTER_HOPS + 1])
def test_merge_cycle_or_overlong_chain_is_not_followed_forever(chain: int, profile_store: FakeProfileStore) -> None:
    # Given a pointer cycle (p_0 -> p_1 -> p_0) or a chain longer than any real one
    for index in range(chain):
        target = f"p_{(index + 1) % chain}" if chain == 2 else f"p_{index + 1}"
        profile_store.seed(Profile(profile_id=f"p_{index}", created_at=NOW_ISO, updated_at=NOW_ISO, merged_into=target))
    profile_store.seed(Profile(profile_id=f"p_{chain}", created_at=NOW_ISO, updated_at=NOW_ISO))

    # When / Then the view gives up with not found
    with pytest.raises(NotFound):
        profile_view(profile_store, "p_0", timeline_limit=5)


# lookups ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("id_type", "value", "expected"),
    [
        ("email", "  AMY@Example.com ", Identifier("email", "amy@example.com")),
        ("phone", "0912-345-678", Identifier("phone", "+886912345678")),
        ("member_id", "M0001", Identifier("member_id", "M0001")),
        ("line", USER_ID, line_identifier("default-provider", USER_ID)),
        ("line", f"2009999999:{USER_ID}", line_identifier("2009999999", USER_ID)),
        ("anonymous_id", "a-77", Identifier("anonymous_id", "a-77")),
    ],
)
def test_lookup_normalises_the_value_like_ingestion_does(
    id_type: str, value: str, expected: Identifier, identifier_normalizer: IdentifierNormalizer
) -> None:
    # Given a lookup as an operator types it
    # When it is turned into an identifier
    # Then it is the same key that ingestion stored
    assert lookup_identifier(identifier_normalizer, id_type, value, line_provider="default-provider") == expected


@pytest.mark.parametrize(
    ("id_type", "value", "code"),
    [
        (None, "amy@example.com", "invalid_lookup_type"),
        ("passport", "X123", "invalid_lookup_type"),
        ("email", None, "missing_lookup_value"),
        ("email", "   ", "missing_lookup_value"),
        ("email", "amy@", "invalid_email"),
        ("phone", "12345", "invalid_phone"),
        ("email", "test@test.com", "blocked_value"),
        ("member_id", "undefined", "blocked_value"),
    ],
)
def test_bad_lookup_is_a_bad_request_with_a_reason(
    id_type: str | None, value: str | None, code: str, identifier_normalizer: IdentifierNormalizer
) -> None:
    # Given a lookup that cannot name an identifier
    # When it is turned into an identifier
    with pytest.raises(BadRequest) as raised:
        lookup_identifier(identifier_normalizer, id_type, value, line_provider="default-provider")

    # Then it is a 400 with the reason as code
    assert raised.value.code == code


def test_find_profile_by_identifier(
    amy: str, profile_store: FakeProfileStore, identifier_normalizer: IdentifierNormalizer
) -> None:
    # Given amy, known by email
    identifier = lookup_identifier(identifier_normalizer, "email", "Amy@Example.com", line_provider=LINE_PROVIDER)

    # When / Then her profile is found by it, and an unknown email is not found
    assert find_profile_id(profile_store, identifier) == amy
    with pytest.raises(NotFound) as raised:
        find_profile_id(profile_store, Identifier("email", "nobody@example.com"))
    assert raised.value.code == "profile_not_found"
