"""Template request bodies: each field's own code, before the domain reads the content."""

from __future__ import annotations

from typing import Any

import pytest
from cdp_api.errors import validation_error
from cdp_api.models import TemplateCreate, TemplatePreview, TemplateUpdate
from pydantic import ValidationError


def code(model: type[Any], body: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return validation_error([{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()]).code


@pytest.mark.parametrize(
    ("model", "body", "expected"),
    [
        (TemplateCreate, {"sms": {"text": "x"}}, "invalid_template_name"),
        (TemplateCreate, {"name": "", "sms": {"text": "x"}}, "invalid_template_name"),
        (TemplateCreate, {"name": "x", "id": 5}, "invalid_template_id"),
        (TemplateCreate, {"name": "x", "description": "d" * 2001}, "invalid_template_description"),
        (TemplateCreate, {"name": "x", "lines": {}}, "unknown_template_field"),
        (TemplateUpdate, {"name": "x"}, "invalid_version"),
        (TemplateUpdate, {"version": 0}, "invalid_version"),
        (TemplatePreview, {"channel": "fax"}, "invalid_channel"),
        (TemplatePreview, {"profile_id": ""}, "invalid_profile_id"),
        (TemplatePreview, {"sample": []}, "invalid_sample"),
        (TemplatePreview, {"event": "x"}, "invalid_event"),
        (TemplatePreview, {"version": 0}, "invalid_version"),
        (TemplatePreview, {"person": "x"}, "unknown_preview_field"),
    ],
)
def test_each_field_answers_its_code(model: type[Any], body: Any, expected: str) -> None:
    assert code(model, body) == expected


def test_content_of_any_shape_reaches_the_domain_which_names_the_pointer() -> None:
    # The channel fields are only "present or null" here: cdp.messaging.templates.model answers
    # invalid_template with the JSON pointer of what is wrong inside them.
    created = TemplateCreate.model_validate({"name": "x", "line": [1, 2], "sms": "text"})
    assert created.fields() == {"name": "x", "line": [1, 2], "sms": "text"}
