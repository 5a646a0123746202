"""Schemathesis over the admin API of the local stack, from its own OpenAPI document.

Every operation gets a bounded number of generated requests (CDP_FUZZ_EXAMPLES, 12 by default,
so the whole run stays around a minute or two on a loaded 2-core machine), sent over HTTP with
the admin token. Each answer must be no 5xx, a documented status with a documented content type,
and a body that matches its documented schema.

The fuzzer may store what it generates: the identity and tag rules and the pricing config are put back as they were,
and the segments and templates it creates are archived, so the rest of the e2e session is unaffected.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("CDP_FUZZ_EXAMPLES", "12"))
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)
RULES = ("/admin/v1/identity/rules", "/admin/v1/tags/rules", "/admin/v1/messaging/pricing")
CALLS: Counter[str] = Counter()


def _rules(stack_url: str) -> dict[str, dict[str, Any]]:
    return {path: requests.get(f"{stack_url}{path}", headers=AUTH, timeout=10).json() for path in RULES}


def _segment_ids(stack_url: str) -> set[str]:
    listed = requests.get(f"{stack_url}/admin/v1/segments", headers=AUTH, timeout=10).json()
    return {segment["id"] for segment in listed["segments"] if segment.get("status") != "archived"}


def _template_ids(stack_url: str) -> set[str]:
    listed = requests.get(f"{stack_url}/admin/v1/templates", headers=AUTH, params={"status": "active"}, timeout=10)
    return {template["id"] for template in listed.json()["templates"]}


@pytest.fixture(scope="module")
def admin_schema(stack_url: str) -> Iterator[Any]:
    rules, segments, templates = _rules(stack_url), _segment_ids(stack_url), _template_ids(stack_url)
    schema = schemathesis.openapi.from_url(f"{stack_url}/admin/v1/openapi.json")
    schema.config.update(base_url=stack_url)
    yield schema
    for path, document in rules.items():  # put back what the fuzzer may have replaced
        current = requests.get(f"{stack_url}{path}", headers=AUTH, timeout=10).json()
        restored = {**document, "version": current.get("version", 0)}
        answer = requests.put(f"{stack_url}{path}", json=restored, headers=AUTH, timeout=10)
        assert answer.status_code == 200, answer.text
    for segment_id in _segment_ids(stack_url) - segments:
        requests.delete(f"{stack_url}/admin/v1/segments/{segment_id}", headers=AUTH, timeout=10)
    for template_id in _template_ids(stack_url) - templates:
        requests.delete(f"{stack_url}/admin/v1/templates/{template_id}", headers=AUTH, timeout=10)
    operations = len(CALLS)
    print(f"\nadmin fuzz: {operations} operations, {sum(CALLS.values())} requests")


def test_admin_operations_answer_as_documented(admin_schema: Any) -> None:
    failures: dict[str, str] = {}
    operations = [result.ok() for result in admin_schema.get_all_operations()]
    documented = {f"{m.upper()} {p}" for p, ops in admin_schema.raw_schema["paths"].items() for m in ops}
    # The document itself is not fuzzed: loading it above is its test.
    assert {f"{o.method.upper()} {o.path}" for o in operations} == documented - {"GET /admin/v1/openapi.json"}
    for operation in operations:
        name = f"{operation.method.upper()} {operation.path}"

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case: Any) -> None:
            CALLS[f"{case.method} {case.operation.path}"] += 1
            case.call_and_validate(headers=AUTH, checks=CHECKS, timeout=30)

        try:
            answers_as_documented()
        except (Exception, BaseExceptionGroup) as exc:  # every operation runs; all failures are reported together
            failures[name] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{name}:\n{problem}" for name, problem in failures.items())
