"""Read side of profiles for the admin API: one person's identifiers, traits, LINE state, events."""

from __future__ import annotations

from typing import Any, Protocol

from cdp.clock import SystemClock, iso_from_ms
from cdp.errors import BadRequest, NotFound
from cdp.identity.identifiers import Identifier, IdentifierNormalizer, line_identifier
from cdp.identity.roots import MAX_POINTER_HOPS
from cdp.profiles.computed import computed_traits
from cdp.profiles.consent import reachability
from cdp.profiles.model import Profile

LOOKUP_TYPES = ("email", "phone", "member_id", "line", "anonymous_id", "wechat_unionid", "wechat_openid", "idfa")


class ProfileReader(Protocol):
    def get(self, profile_id: str) -> Profile | None: ...

    def owner(self, identifier: Identifier) -> str | None: ...

    def latest_events(self, profile_id: str, limit: int) -> list[dict[str, Any]]: ...


def profile_view(
    reader: ProfileReader, profile_id: str, *, timeline_limit: int, now: str | None = None
) -> dict[str, Any]:
    """`now` (ISO-8601 UTC, the current time by default) is when windowed computed traits are evaluated."""
    profile = current_profile(reader, profile_id)
    return {
        "profile_id": profile.profile_id,
        "requested_id": profile_id if profile_id != profile.profile_id else None,
        "created_at": profile.created_at,
        "updated_at": profile.updated_at,
        "identifiers": sorted(
            ({"type": i["type"], "value": i["value"], "added_at": i["added_at"]} for i in profile.identifiers.values()),
            key=lambda i: (i["type"], i["value"]),
        ),
        "traits": {name: stamped.value for name, stamped in sorted(profile.traits.items())},
        "trait_sources": {
            name: {"source": stamped.source, "updated_at": stamped.at}
            for name, stamped in sorted(profile.traits.items())
        },
        "line": {
            "status": profile.line_status,
            "accounts": [
                {"user": key, "status": stamped.value, "since": stamped.at}
                for key, stamped in sorted(profile.line_accounts.items())
            ],
        },
        "stats": {
            "event_count": profile.event_count,
            "first_seen_at": profile.first_seen_at,
            "last_seen_at": profile.last_seen_at,
            "channels": profile.channels,
            "channel_mix": profile.channel_mix(),
        },
        "orders": {
            "count": profile.order_count,
            "revenue": profile.revenue,
            "first_order_at": profile.first_order_at,
            "last_order_at": profile.last_order_at,
        },
        "consent": {
            key: {"granted": stamped.value, "source": stamped.source, "updated_at": stamped.at}
            for key, stamped in sorted(profile.consent.items())
        },
        "computed_traits": computed_traits(profile, now or iso_from_ms(SystemClock().now_ms())),
        "tags": profile.tags,
        "reachability": reachability(profile),
        "merging_into": profile.merging_into,
        "rejected_identifiers": profile.rejected_identifiers,
        "events": reader.latest_events(profile.profile_id, timeline_limit),
    }


def lookup_identifier(
    normalizer: IdentifierNormalizer, id_type: str | None, value: str | None, *, line_provider: str
) -> Identifier:
    if id_type not in LOOKUP_TYPES:
        raise BadRequest(f"`type` must be one of {', '.join(LOOKUP_TYPES)}", code="invalid_lookup_type")
    if not value or not value.strip():
        raise BadRequest("`value` is required", code="missing_lookup_value")
    if id_type == "line":
        provider, _, user_id = value.strip().rpartition(":")
        return line_identifier(provider or line_provider, user_id)
    result = normalizer.normalize(id_type, value)
    if not isinstance(result, Identifier):
        raise BadRequest(f"{id_type} {value!r} is not usable: {result.reason}", code=result.reason)
    return result


def find_profile_id(reader: ProfileReader, identifier: Identifier) -> str:
    owner = reader.owner(identifier)
    if owner is None:
        raise NotFound(f"no profile has {identifier.type} {identifier.value}", code="profile_not_found")
    return owner


def current_profile(reader: ProfileReader, profile_id: str) -> Profile:
    """The profile, or the one it was merged into (following the pointers)."""
    current = profile_id
    for _hop in range(MAX_POINTER_HOPS):
        profile = reader.get(current)
        if profile is None:
            raise NotFound(f"no profile {profile_id}", code="profile_not_found")
        if not profile.merged_into:
            return profile
        current = profile.merged_into
    raise NotFound(f"profile {profile_id} points through too many merges", code="profile_not_found")
