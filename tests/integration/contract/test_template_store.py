"""TemplateStore: FakeTemplateStore and DynamoTemplateStore behave alike."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from cdp.adapters.dynamodb.templates import DynamoTemplateStore
from cdp.messaging.templates.model import STATUS_ACTIVE, STATUS_ARCHIVED, Template, TemplateVersion, parse_content

from tests.fakes import FakeTemplateStore
from tests.integration.contract.conftest import ADAPTER, IMPLEMENTATIONS, Aws, unique

AT = "2026-05-01T00:00:00.000Z"
LATER = "2026-05-02T00:00:00.000Z"
CONTENT = {
    "line": {"messages": [{"type": "text", "text": "嗨 {{ traits.first_name | default: '朋友' }}"}]},
    "email": {"subject": "Spring", "html": "<p>Hi</p>"},
}


@pytest.fixture(params=IMPLEMENTATIONS)
def store(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    if request.param == ADAPTER:
        return DynamoTemplateStore(moto_stack.dynamodb, moto_stack.core_table)
    return FakeTemplateStore()


def new(template_id: str) -> tuple[Template, TemplateVersion]:
    content = parse_content(CONTENT)
    template = Template(template_id, "Spring 春季", 1, tuple(content.channels), AT, AT, description="d")
    return template, TemplateVersion(template_id, 1, content, AT)


def test_create_then_read_the_record_and_its_first_version(store: Any) -> None:
    template, first = new(unique("tpl"))
    assert store.create(template, first) is True
    assert store.create(*new(template.template_id)) is False
    assert store.get(template.template_id) == template
    assert store.version(template.template_id, 1) == first
    assert store.version(template.template_id, 2) is None and store.version(template.template_id, 0) is None
    assert store.versions(template.template_id) == [(1, AT)]
    assert store.get(unique("tpl")) is None


def test_a_new_version_is_written_once_and_only_over_the_version_read(store: Any) -> None:
    template, first = new(unique("tpl"))
    store.create(template, first)
    content = parse_content({"sms": {"text": "v2"}})
    second = TemplateVersion(template.template_id, 2, content, LATER)
    revised = dataclasses.replace(template, latest_version=2, channels=("sms",), updated_at=LATER)
    assert store.replace(revised, expected_version=1, expected_status=STATUS_ACTIVE, new_version=second) is True
    # A second editor who also read version 1 loses, and version 2 stays as first written.
    rival = TemplateVersion(template.template_id, 2, parse_content({"sms": {"text": "rival"}}), LATER)
    assert store.replace(revised, expected_version=1, expected_status=STATUS_ACTIVE, new_version=rival) is False
    assert store.version(template.template_id, 2) == second
    assert store.version(template.template_id, 1) == first
    assert store.get(template.template_id) == revised
    assert store.versions(template.template_id) == [(1, AT), (2, LATER)]


def test_archiving_is_a_conditional_record_change(store: Any) -> None:
    template, first = new(unique("tpl"))
    store.create(template, first)
    archived = dataclasses.replace(template, status=STATUS_ARCHIVED, archived_at=LATER, updated_at=LATER)
    assert store.replace(archived, expected_version=1, expected_status=STATUS_ACTIVE, new_version=None) is True
    assert store.replace(archived, expected_version=1, expected_status=STATUS_ACTIVE, new_version=None) is False
    assert store.get(template.template_id) == archived
    assert store.version(template.template_id, 1) == first  # versions stay readable


def test_templates_are_listed_by_id(store: Any) -> None:
    ids = sorted(unique("list") for _ in range(3))
    for template_id in reversed(ids):
        store.create(*new(template_id))
    listed = [t.template_id for t in store.templates() if t.template_id in ids]
    assert listed == ids
