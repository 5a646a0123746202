"""Personal links and public URLs: whom a personal link is for, and where `/r/<code>` is served."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from cdp.errors import BadRequest, Conflict
from cdp.identity.identifiers import is_line_user_id, line_identifier
from cdp.links.tokens import CHANNELS, TOKEN_IDENTIFIER_TYPES, PersonRef
from cdp.profiles.model import Profile

PERSONAL_FIELDS = frozenset({"profile_id", "line_user_id", "line_provider", "channel"})
MAX_PROFILE_ID_LENGTH = 128


def parse_personal_request(body: Any) -> tuple[str | None, str | None, str | None, str]:
    """(profile_id, line_user_id, line_provider, channel) of `POST /admin/v1/links/<code>/personal`."""
    if not isinstance(body, Mapping):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    unknown = sorted(set(body) - PERSONAL_FIELDS)
    if unknown:
        raise BadRequest(f"unknown field `{unknown[0]}`", code="unknown_link_field", details={"field": unknown[0]})
    profile_id, line_user_id = body.get("profile_id"), body.get("line_user_id")
    provider, channel = body.get("line_provider"), body.get("channel", "line")
    if (profile_id is None) == (line_user_id is None):
        raise BadRequest("name the person by exactly one of `profile_id` or `line_user_id`", code="invalid_person")
    if profile_id is not None and (
        not isinstance(profile_id, str) or not profile_id or len(profile_id) > MAX_PROFILE_ID_LENGTH
    ):
        raise BadRequest("`profile_id` must be a profile id", code="invalid_person", details={"field": "profile_id"})
    if line_user_id is not None and not is_line_user_id(line_user_id):
        raise BadRequest(
            "`line_user_id` must be a LINE user id (U followed by 32 hex digits)",
            code="invalid_line_user_id",
            details={"field": "line_user_id"},
        )
    if provider is not None and (not isinstance(provider, str) or not provider.strip() or ":" in provider):
        raise BadRequest("`line_provider` must be a provider id", code="invalid_line_provider")
    if channel not in CHANNELS:
        raise BadRequest(
            f"`channel` must be one of {', '.join(CHANNELS)}", code="invalid_channel", details={"field": "channel"}
        )
    return profile_id, line_user_id, provider, str(channel)


def person_for_line_user(provider: str, user_id: str, channel: str) -> PersonRef:
    return PersonRef(id_type="line", value=line_identifier(provider, user_id).value, channel=channel)


def person_for_profile(profile: Profile, channel: str) -> PersonRef:
    """The profile's most specific opaque identifier; on LINE its LINE identifier first.

    Emails and phone numbers are never put into a URL: a profile known only by those gets a 409.
    """
    by_type: dict[str, str] = {}
    for entry in sorted(profile.identifiers.values(), key=lambda e: e["value"]):
        by_type.setdefault(entry["type"], entry["value"])
    first = ("line", "member_id") if channel == "line" else ("member_id", "line")
    preference: tuple[str, ...] = (*first, *TOKEN_IDENTIFIER_TYPES)
    chosen = next((id_type for id_type in preference if id_type in by_type), None)
    if chosen is None:
        raise Conflict(
            f"profile {profile.profile_id} has no identifier a link may carry (LINE user, member id, ...)",
            code="no_linkable_identifier",
        )
    return PersonRef(id_type=chosen, value=by_type[chosen], channel=channel)


def public_base_url(configured: str, headers: Mapping[str, str], request_context: Mapping[str, Any]) -> str:
    """Where the public API is reached: the configured base (a custom domain), else the host this
    request came to (API Gateway's own domain includes the stage in the path)."""
    if configured:
        return configured.rstrip("/")
    lowered = {key.lower(): value for key, value in headers.items() if isinstance(value, str)}
    host = str(request_context.get("domainName") or lowered.get("host") or "localhost")
    scheme = (lowered.get("x-forwarded-proto") or "").split(",")[0].strip() or (
        "https" if host.endswith(".amazonaws.com") else "http"
    )
    stage = request_context.get("stage")
    prefix = f"/{stage}" if host.endswith(".amazonaws.com") and isinstance(stage, str) and stage else ""
    if not urlsplit(f"{scheme}://{host}").hostname:
        host = "localhost"
    return f"{scheme}://{host}{prefix}"


def redirect_url(base: str, code: str, *, src: str | None = None, token: str | None = None) -> str:
    query = [f"{name}={quote(value, safe='')}" for name, value in (("src", src), ("u", token)) if value]
    return f"{base}/r/{quote(code, safe='')}" + (f"?{'&'.join(query)}" if query else "")
