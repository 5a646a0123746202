"""Request bodies of the admin API, one pydantic model each: the shape is checked here (400 with
a stable code per field), the meaning by the domain (rules, tags, URLs, LINE ids)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator
from pydantic_core import PydanticCustomError

from cdp_api.errors import coded, custom_code

Json = dict[str, Any]


class Body(BaseModel):
    """A JSON object with exactly these fields; an unknown one answers `unknown_field_code`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
    unknown_field_code: ClassVar[str] = "unknown_field"
    # A required field the domain has always named by its own code when it is absent.
    missing_codes: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for code in (cls.unknown_field_code, *cls.missing_codes.values()):
            custom_code(code)

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = {field.alias or name for name, field in cls.model_fields.items()}
            unknown = sorted(str(key) for key in data if key not in known)
            if unknown:
                raise PydanticCustomError(cls.unknown_field_code, "unknown field `{field}`", {"field": unknown[0]})
            for field, code in cls.missing_codes.items():
                if field not in data:
                    raise PydanticCustomError(code, "`{field}` is required", {"field": field})
        return data

    def fields(self) -> Json:
        """What the client sent (the domain parsers read these by their wire names)."""
        return self.model_dump(by_alias=True, exclude_unset=True)


Version = Annotated[StrictInt, Field(ge=0), coded("invalid_version", "`version` must be the version you read")]


# --- profiles ------------------------------------------------------------------------------
class ConsentChange(Body):
    unknown_field_code = "unknown_consent_field"
    missing_codes = {"channel": "invalid_consent_channel", "granted": "invalid_consent_value"}
    channel: Annotated[StrictStr, coded("invalid_consent_channel", "`channel` is a consent channel")] = Field(
        description="line, email, sms, push", examples=["email"]
    )
    purpose: Annotated[
        StrictStr, coded("invalid_consent_purpose", "`purpose` is a lower-case word such as marketing")
    ] = "marketing"
    granted: Annotated[StrictBool, coded("invalid_consent_value", "`granted` must be true or false")]
    text_version: Annotated[
        StrictStr | None,
        Field(alias="textVersion", description="the version of the consent text the person agreed to"),
        coded("invalid_consent_text_version", "`textVersion` is a label such as 2026-03"),
    ] = None


TagList = Annotated[list[StrictStr], coded("invalid_tag_list", "a list of tags")]


class TagChange(Body):
    unknown_field_code = "unknown_tag_field"
    add: TagList = []
    remove: TagList = []


class Unmerge(Body):
    merge_id: Annotated[
        StrictStr, Field(min_length=1, alias="mergeId"), coded("missing_merge_id", "`mergeId` is required")
    ]


# --- rules ---------------------------------------------------------------------------------
class IdentityRulesDocument(Body):
    unknown_field_code = "unknown_rule_field"
    version: Version = 0
    blocked_values: Annotated[
        list[StrictStr] | None, coded("invalid_blocked_values", "`blocked_values` is a list of strings")
    ] = None
    max_per_type: Annotated[
        dict[str, StrictInt] | None, coded("invalid_max_per_type", "`max_per_type` maps identifier types to counts")
    ] = None
    priority: Annotated[
        list[StrictStr] | None, coded("invalid_priority", "`priority` is a list of identifier types")
    ] = None


class TagRulesDocument(Body):
    unknown_field_code = "unknown_rule_field"
    version: Version = 0
    keywords: Annotated[list[Json], coded("invalid_tag_rules", "`keywords` is a list of keyword rules")] = []
    postbacks: Annotated[list[Json], coded("invalid_tag_rules", "`postbacks` is a list of postback rules")] = []


class AutoRepliesDocument(Body):
    unknown_field_code = "invalid_auto_replies"
    version: Version = 0
    channels: Annotated[
        dict[StrictStr, Json], coded("invalid_auto_replies", "`channels` maps a LINE channel name to its replies")
    ] = Field(
        default={},
        examples=[{"default": {"greeting": {"template_id": "welcome"}, "fallback": {"template_id": "menu"}}}],
    )


# --- LINE ----------------------------------------------------------------------------------
class RichMenuLink(Body):
    unknown_field_code = "unknown_rich_menu_field"
    missing_codes = {"rich_menu_id": "invalid_rich_menu_id"}
    rich_menu_id: Annotated[
        StrictStr, coded("invalid_rich_menu_id", "`rich_menu_id` is a LINE rich menu id (richmenu-<32 hex>)")
    ] = Field(examples=["richmenu-8dfdfc571eca39c0ffcd1f799519c5b5"])
    channel: Annotated[StrictStr, coded("invalid_channel", "`channel` is a configured LINE channel name")] = "default"


class LinkTokenRequest(Body):
    line_user_id: StrictStr | None = Field(default=None, alias="lineUserId", description="U + 32 hex digits")
    member_id: StrictStr | None = Field(default=None, alias="memberId", description="the brand's member id")
    channel: StrictStr | None = Field(default=None, description="a configured LINE channel name")


class LoginBinding(Body):
    id_token: StrictStr | None = Field(default=None, alias="idToken", description="the LINE Login ID token")
    member_id: StrictStr | None = Field(default=None, alias="memberId")
    channel: StrictStr | None = None


# --- segments ------------------------------------------------------------------------------
Rule = Annotated[Json, coded("invalid_segment_rule", "`rule` is a rule object")]
Refresh = Annotated[StrictInt | None, coded("invalid_refresh", "`refresh_minutes` is 15 to 10080")]


class SegmentCreate(Body):
    unknown_field_code = "unknown_segment_field"
    missing_codes = {"rule": "invalid_segment_rule"}
    id: Annotated[StrictStr | None, coded("invalid_segment_id", "`id` is a slug")] = None
    name: Annotated[StrictStr | None, coded("invalid_segment_name", "`name` is text")] = None
    rule: Rule
    refresh_minutes: Refresh = None


class SegmentUpdate(Body):
    unknown_field_code = "unknown_segment_field"
    missing_codes = {"version": "invalid_version"}
    name: Annotated[StrictStr | None, coded("invalid_segment_name", "`name` is text")] = None
    rule: Rule | None = None
    refresh_minutes: Refresh = None
    version: Annotated[
        StrictInt, Field(ge=1), coded("invalid_version", "`version` must be the segment version you read")
    ]


class SegmentPreview(Body):
    unknown_field_code = "unknown_preview_field"
    missing_codes = {"rule": "invalid_segment_rule"}
    rule: Rule
    sample: Annotated[
        StrictInt, Field(ge=1, le=100), coded("invalid_sample", "`sample` is a whole number from 1 to 100")
    ] = 20


class LineAudienceExport(Body):
    unknown_field_code = "unknown_export_field"
    channel: Annotated[StrictStr, Field(min_length=1), coded("invalid_channel", "`channel` is a LINE channel name")] = (
        "default"
    )
    description: Annotated[
        StrictStr | None, coded("invalid_audience_description", "`description` is 1 to 120 characters")
    ] = None
    sync: Annotated[StrictBool | None, coded("invalid_sync", "`sync` is true or false")] = None


# --- links ---------------------------------------------------------------------------------
class LinkCreate(Body):
    unknown_field_code = "unknown_link_field"
    missing_codes = {"url": "invalid_link_url", "src": "invalid_link_src"}
    url: Annotated[StrictStr, coded("invalid_link_url", "`url` is an http(s) URL")] = Field(
        examples=["https://shop.example.com/spring"]
    )
    src: Annotated[StrictStr, coded("invalid_link_src", "`src` is a source slug")] = Field(examples=["line"])
    code: Annotated[StrictStr | None, coded("invalid_link_code", "`code` is 3-64 letters, digits, - or _")] = None
    campaign: Annotated[StrictStr | None, coded("invalid_link_campaign", "`campaign` is a slug")] = None
    tags: Annotated[list[StrictStr] | None, coded("invalid_link_tags", "`tags` is a list of tags")] = None


class PersonalLink(Body):
    unknown_field_code = "unknown_link_field"
    profile_id: StrictStr | None = None
    line_user_id: StrictStr | None = None
    line_provider: StrictStr | None = None
    channel: StrictStr = "line"


# --- imports -------------------------------------------------------------------------------
class PresignedImport(Body):
    unknown_field_code = "invalid_import_request"
    missing_codes = {"upload": "invalid_import_request"}
    upload: Annotated[
        Literal["presigned"], coded("invalid_import_request", '{"upload": "presigned"} asks for a presigned upload')
    ]


# --- templates -----------------------------------------------------------------------------
# Content is checked by the domain (cdp.messaging.templates.model), which names the JSON pointer
# of what is wrong (400 invalid_template); here it only has to be present or null.
LineContent = Annotated[
    Any,
    Field(
        description='LINE: {"messages": [1 to 5 message objects as LINE\'s messaging-api.yml defines them]}',
        json_schema_extra={"anyOf": [{"type": "object"}, {"type": "null"}]},
    ),
]
EmailContent = Annotated[
    Any,
    Field(
        description='Email: {"subject", "html"?, "text"?} (a subject and at least one body)',
        json_schema_extra={"anyOf": [{"type": "object"}, {"type": "null"}]},
    ),
]
SmsContent = Annotated[
    Any, Field(description='SMS: {"text"}', json_schema_extra={"anyOf": [{"type": "object"}, {"type": "null"}]})
]
TemplateName = Annotated[
    StrictStr, Field(min_length=1, max_length=200), coded("invalid_template_name", "`name` is 1 to 200 characters")
]
TemplateDescription = Annotated[
    StrictStr | None,
    Field(max_length=2000),
    coded("invalid_template_description", "`description` is at most 2000 characters"),
]


class TemplateCreate(Body):
    unknown_field_code = "unknown_template_field"
    missing_codes = {"name": "invalid_template_name"}
    id: Annotated[
        StrictStr | None,
        coded("invalid_template_id", "`id` is 1 to 64 of a-z, 0-9, '-' and '_', starting with a letter or digit"),
    ] = Field(default=None, examples=["size-guide"])
    name: TemplateName
    description: TemplateDescription = None
    line: LineContent = None
    email: EmailContent = None
    sms: SmsContent = None


class TemplateUpdate(Body):
    unknown_field_code = "unknown_template_field"
    missing_codes = {"version": "invalid_version"}
    name: TemplateName | None = None
    description: TemplateDescription = None
    line: LineContent = None
    email: EmailContent = None
    sms: SmsContent = None
    version: Annotated[
        StrictInt, Field(ge=1), coded("invalid_version", "`version` must be the latest version you read")
    ]


class TemplatePreview(Body):
    unknown_field_code = "unknown_preview_field"
    version: Annotated[
        StrictInt | None, Field(ge=1), coded("invalid_version", "`version` is a version number of this template")
    ] = None
    channel: Annotated[
        Literal["line", "email", "sms"] | None, coded("invalid_channel", "`channel` is one of line, email, sms")
    ] = None
    profile_id: Annotated[
        StrictStr | None,
        Field(min_length=1, max_length=128),
        coded("invalid_profile_id", "`profile_id` is a profile id"),
    ] = None
    sample: Annotated[
        Json | None,
        coded("invalid_sample", '`sample` is {"traits"?, "computed"?, "tags"?} with objects and a list of tags'),
    ] = Field(default=None, description="made-up person data instead of a stored profile")
    event: Annotated[Json | None, coded("invalid_event", "`event` is an object of event properties")] = Field(
        default=None, description="the triggering event's properties"
    )


# --- campaigns -----------------------------------------------------------------------------
# The schedule and the narrowing rule are checked by the domain (cdp.campaigns.model, the
# segment rule parser), which names what is wrong.
CampaignChannels = Annotated[
    list[Literal["line", "email", "sms"]],
    Field(min_length=1, max_length=3),
    coded("invalid_channels", "`channels` is a chain of 1 to 3 distinct channels of line, email, sms"),
]


class QuietWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: Annotated[StrictStr, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
    end: Annotated[StrictStr, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class CampaignFields(Body):
    """What a draft says: created with these (`CampaignCreate`), replaced whole by `CampaignUpdate`."""

    unknown_field_code = "unknown_campaign_field"
    missing_codes = {
        "name": "invalid_campaign_name",
        "segment_id": "invalid_segment_id",
        "template_id": "invalid_template_id",
        "channels": "invalid_channels",
    }
    name: Annotated[
        StrictStr, Field(min_length=1, max_length=200), coded("invalid_campaign_name", "`name` is 1 to 200 characters")
    ]
    segment_id: Annotated[StrictStr, coded("invalid_segment_id", "`segment_id` names a segment")]
    rule: Annotated[
        Any,
        Field(
            description="narrows the segment: a rule in the segment rule language (docs/segment-rules.md)",
            json_schema_extra={"anyOf": [{"type": "object"}, {"type": "null"}]},
        ),
    ] = None
    template_id: Annotated[StrictStr, coded("invalid_template_id", "`template_id` names a template")]
    template_version: Annotated[
        StrictInt | None, Field(ge=1), coded("invalid_template_version", "`template_version` is a version number")
    ] = None
    channels: CampaignChannels
    purpose: Annotated[
        Literal["marketing", "transactional"], coded("invalid_purpose", "`purpose` is marketing or transactional")
    ] = "marketing"
    schedule: Annotated[
        Any,
        Field(
            description='{"kind": "now"} | {"kind": "at", "at": "2026-12-24T20:00", "time_zone": "Asia/Taipei"} | '
            '{"kind": "recurring", "expression": "cron(0 10 ? * MON *)", "time_zone": "Asia/Taipei"}',
            json_schema_extra={"anyOf": [{"type": "object"}, {"type": "null"}]},
        ),
    ] = None
    budget: Annotated[
        float | None, Field(ge=0), coded("invalid_budget", "`budget` is an amount >= 0 in the pricing currency")
    ] = None
    max_recipients: Annotated[
        StrictInt | None, Field(ge=1), coded("invalid_max_recipients", "`max_recipients` is a whole number >= 1")
    ] = None
    in_quiet_hours: Annotated[
        Literal["hold", "drop"], coded("invalid_in_quiet_hours", "`in_quiet_hours` is hold or drop")
    ] = "hold"
    quiet_hours: Annotated[
        QuietWindow | None, coded("invalid_quiet_hours", '`quiet_hours` is {"start": "HH:MM", "end": "HH:MM"}')
    ] = None
    frequency_cap: Annotated[
        StrictInt | None,
        Field(ge=1, le=1000),
        coded("invalid_frequency_cap", "`frequency_cap` is sends of this campaign per person, 1 to 1000"),
    ] = None
    line_channel: Annotated[
        StrictStr, Field(min_length=1, max_length=128), coded("invalid_line_channel", "`line_channel` names a channel")
    ] = "default"


class CampaignCreate(CampaignFields):
    id: Annotated[
        StrictStr | None,
        coded("invalid_campaign_id", "`id` is 1 to 64 of a-z, 0-9, '-' and '_', starting with a letter or digit"),
    ] = Field(default=None, examples=["first-purchase-coupon"])


class CampaignUpdate(CampaignFields):
    """A draft's fields, replaced whole (an optional field left out goes back to its default),
    compare-and-set on the `version` read."""

    missing_codes = {**CampaignFields.missing_codes, "version": "invalid_version"}
    version: Version


class PricingUpdate(Body):
    unknown_field_code = "invalid_pricing"
    missing_codes = {"version": "invalid_version"}
    currency: StrictStr | None = None
    line_monthly_fee: Annotated[float | None, Field(ge=0)] = None
    line_included_messages: Annotated[StrictInt | None, Field(ge=0)] = None
    line_extra_message: Annotated[float | None, Field(ge=0)] = None
    email_unit: Annotated[float | None, Field(ge=0)] = None
    sms_segment: Annotated[float | None, Field(ge=0)] = None
    version: Version


# --- journeys ------------------------------------------------------------------------------
# The definition is checked by the domain (cdp.journeys.definition and .validation), which
# answers 400 invalid_journey with the JSON pointer into `definition` (`details.path`).
JourneyDocument = Annotated[
    Any,
    Field(
        description="the journey definition (its JSON Schema: GET /admin/v1/journeys/schema)",
        json_schema_extra={"type": "object"},
    ),
]


class JourneyCreate(Body):
    unknown_field_code = "unknown_journey_field"
    missing_codes = {"definition": "invalid_journey"}
    id: Annotated[
        StrictStr | None,
        coded("invalid_journey_id", "`id` is 1 to 64 of a-z, 0-9, '-' and '_', starting with a letter or digit"),
    ] = Field(default=None, examples=["cart-reminder"])
    definition: JourneyDocument


class JourneyUpdate(Body):
    """The draft, replaced whole, compare-and-set on the `revision` read."""

    unknown_field_code = "unknown_journey_field"
    missing_codes = {"definition": "invalid_journey", "revision": "invalid_revision"}
    definition: JourneyDocument
    revision: Annotated[StrictInt, Field(ge=1), coded("invalid_revision", "`revision` must be the revision you read")]


# --- access: service tokens ------------------------------------------------------------------
class ServiceTokenCreate(Body):
    unknown_field_code = "unknown_token_field"
    missing_codes = {"name": "invalid_token_name", "role": "invalid_role"}
    name: Annotated[StrictStr, coded("invalid_token_name", "`name` is 1 to 100 characters")] = Field(
        examples=["web shop backend"]
    )
    role: Annotated[
        Literal["viewer", "marketer", "admin"], coded("invalid_role", "`role` is one of viewer, marketer, admin")
    ] = Field(examples=["marketer"])
