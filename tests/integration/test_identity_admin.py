"""Identity administration through the admin_api handler on moto: rules, merge ledgers, unmerge requests."""

from __future__ import annotations

import json
from typing import Any

from cdp.adapters.dynamodb.identity_rules import DynamoIdentityRules
from cdp.identity.merge import MergeLedger

from tests.integration.conftest import ADMIN_TOKEN, Stack, api_event, response_json

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}


def call(
    stack: Stack, method: str, path: str, body: Any = None, *, resource: str | None = None, **params: str
) -> tuple[int, Any]:
    event = api_event(
        method,
        path,
        resource=resource,
        headers=BEARER,
        body=json.dumps(body) if body is not None else None,
        path_parameters=params or None,
    )
    response = stack.invoke("admin_api", event)
    return response["statusCode"], response_json(response)


def test_rules_start_at_the_defaults_and_change_with_compare_and_set(stack: Stack) -> None:
    status, rules = call(stack, "GET", "/admin/v1/identity/rules")
    assert status == 200
    assert rules["version"] == 0
    assert rules["max_per_type"]["member_id"] == 1 and rules["max_per_type"]["email"] == 5
    assert "test@test.com" in rules["blocked_values"]

    changed = {**rules, "max_per_type": {**rules["max_per_type"], "email": 8}, "blocked_values": ["N/A ", "0900000000"]}
    status, stored = call(stack, "PUT", "/admin/v1/identity/rules", changed)
    assert status == 200, stored
    assert stored["version"] == 1
    assert stored["max_per_type"]["email"] == 8
    assert stored["blocked_values"] == ["0900000000", "n/a"]
    assert DynamoIdentityRules(stack.client("dynamodb"), stack.core_table).get().max_per_type["email"] == 8

    # A writer holding the old version is refused instead of overwriting
    status, error = call(stack, "PUT", "/admin/v1/identity/rules", changed)
    assert (status, error["error"]) == (409, "rules_version_conflict")


def test_invalid_rules_are_a_400_naming_the_problem(stack: Stack) -> None:
    cases = [
        ({"max_per_type": {"member_id": 0}}, "invalid_max_per_type"),
        ({"max_per_type": {"fax": 1}}, "unknown_identifier_type"),
        ({"priority": ["email"]}, "invalid_priority"),
        ({"blocked_values": "null"}, "invalid_blocked_values"),
        ({"colour": "blue"}, "unknown_rule_field"),
        ({"version": -1}, "invalid_version"),
    ]
    for body, code in cases:
        status, error = call(stack, "PUT", "/admin/v1/identity/rules", body)
        assert (status, error["error"]) == (400, code), body


def test_unmerge_requests_are_checked_before_a_workflow_starts(stack: Stack) -> None:
    store = stack.runtime.module("event_processor").build()._store
    ledger = MergeLedger("m_test", "p_survivor", "p_loser", "merging", "e-1", "2026-11-23T00:00:00.000Z")
    assert store.put_ledger(ledger, expected_status=None)

    unmerge = "/admin/v1/profiles/{id}/unmerge"
    status, error = call(stack, "POST", "/admin/v1/profiles/p_survivor/unmerge", {}, resource=unmerge, id="p_survivor")
    assert (status, error["error"]) == (400, "missing_merge_id")
    status, error = call(
        stack, "POST", "/admin/v1/profiles/p_survivor/unmerge", {"mergeId": "m_nope"}, resource=unmerge, id="p_survivor"
    )
    assert (status, error["error"]) == (404, "merge_not_found")
    status, error = call(
        stack, "POST", "/admin/v1/profiles/p_other/unmerge", {"mergeId": "m_test"}, resource=unmerge, id="p_other"
    )
    assert (status, error["error"]) == (400, "merge_not_of_profile")
    status, error = call(
        stack, "POST", "/admin/v1/profiles/p_survivor/unmerge", {"mergeId": "m_test"}, resource=unmerge, id="p_survivor"
    )
    assert (status, error["error"]) == (409, "merge_not_finished")

    status, found = call(stack, "GET", "/admin/v1/merges/m_test", resource="/admin/v1/merges/{id}", id="m_test")
    assert status == 200 and found["status"] == "merging" and found["loser"] == "p_loser"
    status, listed = call(
        stack, "GET", "/admin/v1/profiles/p_survivor/merges", resource="/admin/v1/profiles/{id}/merges", id="p_survivor"
    )
    assert status == 200 and [m["merge_id"] for m in listed["merges"]] == ["m_test"]


def test_unmerge_of_a_refused_merge_or_one_already_undone_starts_nothing(stack: Stack) -> None:
    store = stack.runtime.module("event_processor").build()._store
    refused = MergeLedger(
        "m_refused", "p_a", "p_b", "rejected", "e-1", "2026-11-23T00:00:00.000Z", reason="max_member_id"
    )
    undone = MergeLedger("m_undone", "p_a", "p_c", "unmerged", "e-2", "2026-11-23T00:00:00.000Z")
    assert store.put_ledger(refused, expected_status=None) and store.put_ledger(undone, expected_status=None)
    unmerge = "/admin/v1/profiles/{id}/unmerge"

    status, error = call(
        stack, "POST", "/admin/v1/profiles/p_a/unmerge", {"mergeId": "m_refused"}, resource=unmerge, id="p_a"
    )
    assert (status, error["error"]) == (409, "merge_rejected")
    status, body = call(
        stack, "POST", "/admin/v1/profiles/p_a/unmerge", {"mergeId": "m_undone"}, resource=unmerge, id="p_a"
    )
    assert (status, body["status"]) == (200, "unmerged")
