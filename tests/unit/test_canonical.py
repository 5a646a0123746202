"""Canonical events: LINE webhook events as named track events, Segment calls with their identifiers."""

from __future__ import annotations

from typing import Any

import pytest
from cdp.clock import iso_from_ms
from cdp.events.canonical import LINE_ENVELOPE_FIELDS, EventNormalizer, normalize_channel
from cdp.events.raw import RawEvent
from cdp.identity.identifiers import Identifier, RejectedIdentifier, line_identifier

from tests.fixtures import line_events as line
from tests.fixtures.line_events import BOT_USER_ID, GROUP_ID, OTHER_USER_ID, ROOM_ID, USER_ID
from tests.unit.builders import LINE_CHANNEL, LINE_PROVIDER, NOW_ISO, line_raw, partner_raw

LINE_USER = line_identifier(LINE_PROVIDER, USER_ID)

# case -> (event name, flattened properties expected on top of the event's own fields)
LINE_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "message.text": ("LINE Message Received", {"messageType": "text", "text": "請問週末有特價嗎？"}),
    "message.text.emojis": ("LINE Message Received", {"messageType": "text", "text": "(love)謝謝你們 (brown)"}),
    "message.text.mention": ("LINE Message Received", {"messageType": "text", "text": "@All @Amy 早安!!"}),
    "message.image": ("LINE Message Received", {"messageType": "image"}),
    "message.video": ("LINE Message Received", {"messageType": "video"}),
    "message.audio": ("LINE Message Received", {"messageType": "audio"}),
    "message.file": ("LINE Message Received", {"messageType": "file"}),
    "message.location": ("LINE Message Received", {"messageType": "location"}),
    "message.sticker": ("LINE Message Received", {"messageType": "sticker"}),
    "message.text.group": ("LINE Message Received", {"messageType": "text", "text": "團購+1"}),
    "message.text.room": ("LINE Message Received", {"messageType": "text", "text": "收到"}),
    "message.text.standby": ("LINE Message Received", {"messageType": "text", "text": "hello"}),
    "unsend": ("LINE Message Unsent", {}),
    "follow": ("LINE Followed", {"isUnblocked": False}),
    "follow.unblocked": ("LINE Followed", {"isUnblocked": True}),
    "unfollow": ("LINE Unfollowed", {}),
    "join.group": ("LINE Bot Joined", {}),
    "join.room": ("LINE Bot Joined", {}),
    "leave": ("LINE Bot Left", {}),
    "memberJoined": ("LINE Members Joined", {}),
    "memberLeft": ("LINE Members Left", {}),
    "postback": ("LINE Postback", {"data": "action=coupon&campaign=spring", "params": {}}),
    "postback.date": ("LINE Postback", {"data": "action=book&what=fitting", "params": {"date": "2024-05-11"}}),
    "postback.time": ("LINE Postback", {"data": "action=book&what=callback", "params": {"time": "14:30"}}),
    "postback.datetime": (
        "LINE Postback",
        {"data": "action=book&what=styling", "params": {"datetime": "2024-05-11T14:30"}},
    ),
    "postback.richmenu": (
        "LINE Postback",
        {"data": "richmenu-changed-to-b", "params": {"newRichMenuAliasId": "richmenu-alias-b", "status": "SUCCESS"}},
    ),
    "videoPlayComplete": ("LINE Video Played", {}),
    "beacon.enter": ("LINE Beacon", {"hwid": "d41d8cd98f", "beaconType": "enter", "dm": "1a2b3c4d5e6f"}),
    "beacon.banner": ("LINE Beacon", {"hwid": "d41d8cd98f", "beaconType": "banner", "dm": "1a2b3c4d5e6f"}),
    "beacon.stay": ("LINE Beacon", {"hwid": "d41d8cd98f", "beaconType": "stay", "dm": "1a2b3c4d5e6f"}),
    "accountLink.ok": ("LINE Account Linked", {"result": "ok", "nonce": "xSLUuXlH8rJ0JzcsrcUGsDnGm4yAw1Yf"}),
    "accountLink.failed": ("LINE Account Linked", {"result": "failed", "nonce": "xSLUuXlH8rJ0JzcsrcUGsDnGm4yAw1Yf"}),
    "membership.joined": ("LINE Membership", {}),
    "membership.left": ("LINE Membership", {}),
    "membership.renewed": ("LINE Membership", {}),
    "module.attached": ("LINE Module", {}),
    "module.detached": ("LINE Module", {}),
    "activated": ("LINE Module Activated", {}),
    "deactivated": ("LINE Module Deactivated", {}),
    "botSuspended": ("LINE Bot Suspended", {}),
    "botResumed": ("LINE Bot Resumed", {}),
    "delivery": ("LINE PNP Delivered", {}),
    "things": ("LINE Things", {}),
    "unknown": ("LINE coupon", {}),
}
# Cases whose source has no person: nothing to attach the event to.
NO_PERSON = {
    "join.group", "join.room", "leave", "memberJoined", "memberLeft", "accountLink.failed",
    "module.attached", "module.detached", "botSuspended", "botResumed",
}  # fmt: skip


@pytest.fixture
def normalizer(event_normalizer: EventNormalizer) -> EventNormalizer:
    return event_normalizer


def test_every_fixture_case_has_an_expectation() -> None:
    assert set(LINE_CASES) == set(line.EVENT_BUILDERS)


# LINE ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(LINE_CASES))
def test_line_event_becomes_a_named_track_event(case: str, normalizer: EventNormalizer) -> None:
    # Given a stored LINE webhook event of this kind
    payload = line.EVENT_BUILDERS[case](timestamp=1_714_557_654_321)
    raw = line_raw(payload)
    expected_name, flattened = LINE_CASES[case]

    # When it is normalised
    event = normalizer.normalize(raw)

    # Then it is a track event named for its LINE type, timed by LINE, keyed by the webhook event id
    assert (event.type, event.event, event.channel, event.origin) == ("track", expected_name, "line", "line")
    assert event.timestamp == "2024-05-01T10:00:54.321Z"
    assert event.received_at == NOW_ISO
    assert (event.event_id, event.message_id) == (raw.event_id, payload["webhookEventId"])
    # and its properties are the event's own fields (not delivery plumbing) plus the flattened ones
    own = {k: v for k, v in payload.items() if k not in LINE_ENVELOPE_FIELDS}
    if payload["type"] == "message":
        flattened = {**flattened, "messageId": payload["message"]["id"]}
    assert event.properties == {**own, **flattened}
    assert "replyToken" not in event.properties
    # and the context says where it came from
    line_context = event.context["line"]
    assert event.context["channel"] == "line"
    assert line_context["channel"] == LINE_CHANNEL
    assert line_context["provider"] == LINE_PROVIDER
    assert line_context["destination"] == BOT_USER_ID
    assert line_context["mode"] == payload["mode"]
    assert line_context["sourceType"] == (payload.get("source") or {}).get("type")
    assert line_context["webhookEventId"] == payload["webhookEventId"]
    # and a person is identified exactly when the source names a user
    if case in NO_PERSON:
        assert event.identifiers == []
        assert event.line_identifier is None
    else:
        assert event.identifiers == [LINE_USER]
        assert event.line_identifier == LINE_USER


def test_message_properties_flatten_type_id_and_text(normalizer: EventNormalizer) -> None:
    # Given a text message and an image message
    text = line.text_message("請問週末有特價嗎？")
    image = line.image_message()

    # When they are normalised
    text_event = normalizer.normalize(line_raw(text))
    image_event = normalizer.normalize(line_raw(image))

    # Then the message type, id and (for text only) the text are top-level properties
    assert text_event.properties["messageType"] == "text"
    assert text_event.properties["messageId"] == text["message"]["id"]
    assert text_event.properties["text"] == "請問週末有特價嗎？"
    assert image_event.properties["messageId"] == image["message"]["id"]
    assert "text" not in image_event.properties


@pytest.mark.parametrize(("builder", "state"), [(line.follow, "friend"), (line.unfollow, "blocked")])
def test_follow_and_unfollow_set_the_follow_state(builder: Any, state: str, normalizer: EventNormalizer) -> None:
    # Given a follow or unfollow from a user
    # When it is normalised
    event = normalizer.normalize(line_raw(builder()))

    # Then it changes that LINE account's follow state
    assert event.line_follow == state
    assert event.line_identifier == LINE_USER


def test_other_events_do_not_change_the_follow_state(normalizer: EventNormalizer) -> None:
    # Given every other kind of LINE event
    others = [build() for case, build in line.EVENT_BUILDERS.items() if not case.startswith(("follow", "unfollow"))]

    # When they are normalised
    # Then none of them touches the follow state
    assert {normalizer.normalize(line_raw(event)).line_follow for event in others} == {None}


def test_group_message_with_a_user_identifies_the_user_and_keeps_the_group(normalizer: EventNormalizer) -> None:
    # Given a message posted in a group by a user
    event = normalizer.normalize(line_raw(line.text_message("團購+1", source=line.group_source(GROUP_ID, USER_ID))))

    # Then the user is identified and the group is in the context
    assert event.identifiers == [LINE_USER]
    assert event.context["line"]["groupId"] == GROUP_ID
    assert event.context["line"]["sourceType"] == "group"


def test_join_has_no_person_but_keeps_the_chat(normalizer: EventNormalizer) -> None:
    # Given the bot joining a group and a room
    group = normalizer.normalize(line_raw(line.join()))
    room = normalizer.normalize(line_raw(line.join(source=line.room_source(ROOM_ID, user=None))))

    # Then there is no identifier, and the chat ids are in the context
    assert group.identifiers == [] and room.identifiers == []
    assert group.context["line"]["groupId"] == GROUP_ID
    assert room.context["line"]["roomId"] == ROOM_ID


def test_line_user_is_scoped_by_provider_or_else_by_channel(normalizer: EventNormalizer) -> None:
    # Given the same user's follow stored with a provider and without one
    payload = line.follow()
    with_provider = normalizer.normalize(line_raw(payload, provider="2009999999"))
    without = normalizer.normalize(line_raw(payload, provider=None))

    # Then the identifier is provider-scoped, falling back to the channel name
    assert with_provider.identifiers == [Identifier("line", f"2009999999:{USER_ID}")]
    assert without.identifiers == [Identifier("line", f"{LINE_CHANNEL}:{USER_ID}")]


def test_redelivery_and_standby_are_visible_in_the_context(normalizer: EventNormalizer) -> None:
    # Given a redelivered event in standby mode
    payload = line.text_message("hi", mode="standby", redelivery=True)

    # When it is normalised
    event = normalizer.normalize(line_raw(payload))

    # Then both facts are kept
    assert event.context["line"]["isRedelivery"] is True
    assert event.context["line"]["mode"] == "standby"


def test_member_joined_does_not_identify_the_members(normalizer: EventNormalizer) -> None:
    # Given members joining a group (their ids are in the payload, not in the source)
    event = normalizer.normalize(line_raw(line.member_joined([USER_ID, OTHER_USER_ID])))

    # Then the members are listed in the properties but nobody is identified
    assert [m["userId"] for m in event.properties["joined"]["members"]] == [USER_ID, OTHER_USER_ID]
    assert event.identifiers == []


def test_line_event_as_dict_is_the_timeline_document(normalizer: EventNormalizer) -> None:
    # Given a normalised follow
    payload = line.follow()
    document = normalizer.normalize(line_raw(payload)).as_dict()

    # Then it carries the canonical fields and the identifier, without empty optionals
    assert document["event"] == "LINE Followed"
    assert document["messageId"] == payload["webhookEventId"]
    assert document["timestamp"] == iso_from_ms(payload["timestamp"])
    assert document["identifiers"] == [{"type": "line", "value": f"{LINE_PROVIDER}:{USER_ID}"}]
    assert "traits" not in document and "userId" not in document and "rejectedIdentifiers" not in document


# partner ------------------------------------------------------------------------------------
def test_identify_collects_member_email_and_phone(normalizer: EventNormalizer) -> None:
    # Given an identify from the web shop with a member id, email and phone in the traits
    raw = partner_raw(
        {
            "type": "identify",
            "userId": "M0001",
            "anonymousId": "a-77",
            "timestamp": "2024-05-01T09:00:00Z",
            "traits": {"name": "林小美", "email": " Amy.Lin@Example.com ", "phone": "0912-345-678", "tier": "gold"},
        }
    )

    # When it is normalised
    event = normalizer.normalize(raw)

    # Then the identifiers are normalised, and the traits are kept as sent
    assert event.identifiers == [
        Identifier("member_id", "M0001"),
        Identifier("anonymous_id", "a-77"),
        Identifier("email", "amy.lin@example.com"),
        Identifier("phone", "+886912345678"),
    ]
    assert event.traits["name"] == "林小美"
    assert event.traits["tier"] == "gold"
    assert (event.type, event.event, event.user_id, event.anonymous_id) == ("identify", None, "M0001", "a-77")
    assert event.timestamp == "2024-05-01T09:00:00.000Z"
    assert event.message_id == raw.payload["messageId"]


def test_track_takes_identifiers_from_context_traits_but_has_no_person_traits(normalizer: EventNormalizer) -> None:
    # Given a track whose context carries the user's traits (analytics.js does this)
    raw = partner_raw(
        {
            "type": "track",
            "anonymousId": "a-77",
            "event": "Product Added",
            "properties": {"sku": "TS-001", "price": 590},
            "traits": {"name": "ignored on track"},
            "context": {"traits": {"email": "amy@example.com", "mobile": "+886912345678", "memberId": "M0001"}},
        }
    )

    # When it is normalised
    event = normalizer.normalize(raw)

    # Then the context traits identify the person; the event changes no person traits
    assert event.event == "Product Added"
    assert event.properties == {"sku": "TS-001", "price": 590}
    assert set(event.identifiers) == {
        Identifier("anonymous_id", "a-77"),
        Identifier("email", "amy@example.com"),
        Identifier("phone", "+886912345678"),
        Identifier("member_id", "M0001"),
    }
    assert event.traits == {}


@pytest.mark.parametrize(
    ("item", "expected_name"),
    [
        ({"type": "page", "anonymousId": "a-1", "name": "Home"}, "Viewed Home"),
        ({"type": "page", "anonymousId": "a-1"}, None),
        ({"type": "screen", "anonymousId": "a-1", "name": "Cart"}, "Screen Cart"),
        ({"type": "track", "anonymousId": "a-1", "event": "Order Completed"}, "Order Completed"),
        ({"type": "identify", "anonymousId": "a-1"}, None),
    ],
)
def test_partner_event_names(item: dict[str, Any], expected_name: str | None, normalizer: EventNormalizer) -> None:
    # Given a Segment call
    # When it is normalised
    # Then its event name follows its type
    assert normalizer.normalize(partner_raw(item)).event == expected_name


def test_alias_links_the_previous_anonymous_id(normalizer: EventNormalizer) -> None:
    # Given an alias from the anonymous visitor to the member who just signed up
    event = normalizer.normalize(partner_raw({"type": "alias", "userId": "M0001", "previousId": "a-77"}))

    # Then both ids identify the same person
    assert event.identifiers == [Identifier("member_id", "M0001"), Identifier("anonymous_id", "a-77")]


def test_group_keeps_the_group_id_and_the_groups_traits(normalizer: EventNormalizer) -> None:
    # Given a group call
    event = normalizer.normalize(
        partner_raw({"type": "group", "userId": "M0001", "groupId": "corp-42", "traits": {"name": "衣著A 企業會員"}})
    )

    # Then the group id is a property, the traits describe the group, and the user is identified
    assert event.properties["groupId"] == "corp-42"
    assert event.traits == {"name": "衣著A 企業會員"}
    assert event.identifiers == [Identifier("member_id", "M0001")]


def test_external_ids_are_identifiers_of_known_types_only(normalizer: EventNormalizer) -> None:
    # Given Segment externalIds of known, aliased, unknown and empty kinds
    external = [
        {"id": "M0001", "type": "member_id", "collection": "users", "encoding": "none"},
        {"id": "AMY@example.com", "type": "email"},
        {"id": "6D92078A-8246-4BA4-AE5B-76104861E7DC", "type": "ios.idfa"},
        {"id": "oUnion123", "type": "wechat_unionid"},
        {"id": "cus_123", "type": "stripe_customer_id"},
        {"id": "", "type": "phone"},
        "not-an-object",
    ]
    raw = partner_raw(
        {"type": "track", "anonymousId": "a-1", "event": "Signed In", "context": {"externalIds": external}}
    )

    # When it is normalised
    event = normalizer.normalize(raw)

    # Then the known ones are identifiers, normalised; the rest are ignored
    assert event.identifiers == [
        Identifier("anonymous_id", "a-1"),
        Identifier("member_id", "M0001"),
        Identifier("email", "amy@example.com"),
        Identifier("idfa", "6D92078A-8246-4BA4-AE5B-76104861E7DC"),
        Identifier("wechat_unionid", "oUnion123"),
    ]


def test_the_same_identifier_from_two_places_is_listed_once(normalizer: EventNormalizer) -> None:
    # Given an identify whose email appears in the traits, the context traits and the externalIds
    raw = partner_raw(
        {
            "type": "identify",
            "userId": "M0001",
            "traits": {"email": "amy@example.com"},
            "context": {
                "traits": {"email": "AMY@example.com"},
                "externalIds": [{"id": "amy@example.com", "type": "email"}],
            },
        }
    )

    # When it is normalised
    # Then the email is one identifier
    assert normalizer.normalize(raw).identifiers == [
        Identifier("member_id", "M0001"),
        Identifier("email", "amy@example.com"),
    ]


def test_unusable_identifiers_are_reported_not_used(normalizer: EventNormalizer) -> None:
    # Given an identify with a bad email, a junk phone and a junk anonymousId
    raw = partner_raw(
        {
            "type": "identify",
            "userId": "M0001",
            "anonymousId": "undefined",
            "traits": {"email": "amy@", "phone": "0000000000"},
        }
    )

    # When it is normalised
    event = normalizer.normalize(raw)

    # Then only the member id is used; the rest are reported with their reasons
    assert event.identifiers == [Identifier("member_id", "M0001")]
    assert event.rejected_identifiers == [
        RejectedIdentifier("anonymous_id", "undefined", "blocked_value"),
        RejectedIdentifier("email", "amy@", "invalid_email"),
        RejectedIdentifier("phone", "0000000000", "blocked_value"),
    ]
    assert event.as_dict()["rejectedIdentifiers"][1] == {"type": "email", "value": "amy@", "reason": "invalid_email"}


def test_event_with_only_junk_ids_has_no_identifiers(normalizer: EventNormalizer) -> None:
    # Given a page view whose only id is the string "null" (a common SDK bug)
    event = normalizer.normalize(partner_raw({"type": "page", "anonymousId": "null", "name": "Home"}))

    # Then there is nobody to attach it to
    assert event.identifiers == []


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("pos", "pos"),
        ("POS ", "pos"),
        ("store", "pos"),
        ("in_store", "pos"),
        ("retail", "pos"),
        ("web", "web"),
        ("browser", "web"),
        ("server", "web"),
        ("mobile", "app"),
        ("iOS", "app"),
        ("android", "app"),
        ("crm", "crm"),
        ("line", "line"),
        ("system", "system"),
        ("kiosk", "web"),
        ("", "web"),
        (None, "web"),
        (7, "web"),
    ],
)
def test_channel_normalisation(channel: Any, expected: str) -> None:
    # Given what a sender puts in context.channel
    # When it is mapped onto our channels
    # Then aliases map, unknown or missing values fall back to web
    assert normalize_channel(channel) == expected


def test_pos_order_keeps_its_channel_and_store(normalizer: EventNormalizer) -> None:
    # Given a POS order sent with context.channel "store"
    raw = partner_raw(
        {
            "type": "track",
            "userId": "M0001",
            "event": "Order Completed",
            "properties": {"revenue": 5000, "currency": "TWD", "store_id": "TPE-101"},
            "context": {"channel": "store"},
        },
        source="pos",
    )

    # When it is normalised
    event = normalizer.normalize(raw)

    # Then it is a pos event from the pos source, with the store in its properties
    assert (event.channel, event.source, event.origin) == ("pos", "pos", "partner")
    assert event.properties["store_id"] == "TPE-101"


def test_partner_event_with_an_unreadable_timestamp_falls_back_to_reception(normalizer: EventNormalizer) -> None:
    # Given a stored partner payload whose timestamp is not a date (stored before validation existed)
    raw = RawEvent(
        event_id="partner#web-shop#m-1",
        origin="partner",
        source="web-shop",
        received_at=NOW_ISO,
        payload={"type": "track", "userId": "M0001", "event": "x", "messageId": "m-1", "timestamp": "soon"},
    )

    # When it is normalised
    event = normalizer.normalize(raw)

    # Then the event is timed at reception
    assert event.timestamp == NOW_ISO


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2004-03-04T09:52:54.899Z", "2004-03-04T09:52:54.899Z"),
        ("2024-05-01T18:30:00.123+08:00", "2024-05-01T10:30:00.123Z"),
        ("2024-05-01T10:30:00", "2024-05-01T10:30:00.000Z"),
    ],
)
def test_partner_timestamp_is_kept_to_the_millisecond(stored: str, expected: str, normalizer: EventNormalizer) -> None:
    # Given a stored partner payload with a timestamp (one that float arithmetic would round down)
    raw = RawEvent(
        event_id="partner#web-shop#m-1",
        origin="partner",
        source="web-shop",
        received_at=NOW_ISO,
        payload={"type": "track", "userId": "M0001", "event": "x", "messageId": "m-1", "timestamp": stored},
    )

    # When it is normalised
    # Then the canonical timestamp is the same instant in UTC, to the millisecond
    assert normalizer.normalize(raw).timestamp == expected


def test_identify_reads_person_traits_from_context_traits_too(normalizer: EventNormalizer) -> None:
    # Given an identify from a RudderStack SDK (traits in context.traits) that also sets a top-level trait
    raw = partner_raw(
        {
            "type": "identify",
            "userId": "M0001",
            "traits": {"tier": "gold"},
            "context": {"traits": {"tier": "silver", "city": "台北", "email": "amy@example.com"}},
        }
    )

    # When it is normalised
    event = normalizer.normalize(raw)

    # Then both places count as the person's traits, the top-level value winning
    assert event.traits == {"tier": "gold", "city": "台北", "email": "amy@example.com"}
    assert Identifier("email", "amy@example.com") in event.identifiers


@pytest.mark.parametrize(
    "external_ids",
    [
        pytest.param(5, id="number"),
        pytest.param("email:amy@example.com", id="string"),
        pytest.param({"type": "email", "id": "amy@example.com"}, id="object"),
        pytest.param([{"type": ["email"], "id": "amy@example.com"}], id="list-type"),
        pytest.param([{"type": {"k": 1}, "id": "amy@example.com"}], id="object-type"),
        pytest.param([None, 3, ["email"]], id="junk-entries"),
    ],
)
def test_malformed_external_ids_are_ignored_not_fatal(external_ids: Any, normalizer: EventNormalizer) -> None:
    # Given an accepted partner event whose context.externalIds has a shape Segment never sends
    raw = partner_raw({"type": "track", "userId": "M0001", "event": "x", "context": {"externalIds": external_ids}})

    # When it is normalised
    event = normalizer.normalize(raw)

    # Then it does not crash the processor (a poison record would block its stream shard):
    # the externalIds are ignored and the rest of the event is used
    assert event.identifiers == [Identifier("member_id", "M0001")]


@pytest.mark.parametrize(
    ("builder", "key"),
    [
        (line.text_message, "message"),
        (line.follow, "follow"),
        (line.postback, "postback"),
        (line.account_link, "link"),
        (line.beacon, "beacon"),
    ],
)
def test_line_event_with_an_odd_sub_object_is_normalised_not_fatal(
    builder: Any, key: str, normalizer: EventNormalizer
) -> None:
    # Given a stored LINE event (envelope valid, so accepted) whose type-specific part is not an object
    payload = builder()
    payload[key] = "unexpected"

    # When it is normalised
    event = normalizer.normalize(line_raw(payload))

    # Then the event is still recorded for its user, with the odd part kept as sent
    assert event.identifiers == [LINE_USER]
    assert event.properties[key] == "unexpected"


def test_a_stored_derivation_reads_back_as_the_events_typed_field_and_is_stored_unchanged() -> None:
    from cdp.events.canonical import CanonicalEvent, Derivation

    from tests.unit.builders import canonical

    derived = canonical(event_id="e-1", timestamp=NOW_ISO, event="LINE Message Received", origin="line")
    derived.properties = {"text": "尺寸"}
    derived.derived = Derivation(tags=[{"tag": "asked:size", "source": "keyword"}], traits={}, rules_version=3)
    stored = derived.as_dict()
    assert stored["properties"] == {
        "text": "尺寸",
        "derivedTags": [{"tag": "asked:size", "source": "keyword"}],
        "derivedTraits": {},
        "tagRulesVersion": 3,
    }
    again = CanonicalEvent.from_dict(stored)
    assert again.derived == derived.derived and again.properties == {"text": "尺寸"}
    assert again.as_dict() == stored

    # a sender's own properties of those names stay properties: on other types, or of another type
    identify = canonical(event_id="e-2", timestamp=NOW_ISO, type="identify", event=None)
    identify.properties = {"derivedTags": [{"tag": "x"}]}
    odd = canonical(event_id="e-3", timestamp=NOW_ISO)
    odd.properties = {"derivedTags": "vip", "tagRulesVersion": True}
    for event in (identify, odd):
        read = CanonicalEvent.from_dict(event.as_dict())
        assert read.derived is None and read.properties == event.properties
        assert read.as_dict() == event.as_dict()
