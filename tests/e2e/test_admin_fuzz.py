"""Schemathesis over the admin API of the local stack, from its own OpenAPI document.

Generated requests rarely find a stored profile, segment or template, so a second test walks every
operation once with real data (a person, a merge, a segment with LINE friends, a template, a link,
imports, query jobs, campaigns) and checks each successful answer against its documented schema.

Every operation gets a bounded number of generated requests (CDP_FUZZ_EXAMPLES, 12 by default,
so the whole run stays around a minute or two on a loaded 2-core machine), sent over HTTP with
the admin token. Each answer must be no 5xx, a documented status with a documented content type,
and a body that matches its documented schema.

The fuzzer may store what it generates: the identity and tag rules, the messaging policy, the
auto-replies and the pricing config are put back as they were, and the segments and templates it
creates are archived, so the rest of the e2e session is unaffected.
"""

from __future__ import annotations

import json
import os
import time
import uuid
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

from tests.e2e.conftest import ADMIN_TOKEN, HTTP_TIMEOUT_SECONDS, Stack, unique
from tests.e2e.test_line_binding import LOGIN_CHANNEL_ID, fake
from tests.fixtures.line_events import follow, user_id, user_source

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("CDP_FUZZ_EXAMPLES", "12"))
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)
LINE_TOKEN = {"Authorization": "Bearer local-dev-access-token"}  # the stack's channel (infra/local/config.py)
RICH_MENU = {
    "size": {"width": 2500, "height": 843},
    "selected": False,
    "name": "tour",
    "chatBarText": "Menu",
    "areas": [{"bounds": {"x": 0, "y": 0, "width": 2500, "height": 843}, "action": {"type": "uri", "uri": "https://example.com/"}}],
}  # fmt: skip
RULES = (
    "/admin/v1/identity/rules",
    "/admin/v1/tags/rules",
    "/admin/v1/messaging/policy",
    "/admin/v1/auto-replies",
    "/admin/v1/messaging/pricing",
)
RETENTION = "/admin/v1/privacy/retention"  # its PUT takes `days` per kind, not the GET's answer
CALLS: Counter[str] = Counter()
ANSWERED: Counter[str] = Counter()  # successful (2xx/3xx) answers per operation: their schemas were checked


def _rules(stack_url: str) -> dict[str, dict[str, Any]]:
    return {path: requests.get(f"{stack_url}{path}", headers=AUTH, timeout=10).json() for path in RULES}


def _retention_days(stack_url: str) -> dict[str, int]:
    kinds = requests.get(f"{stack_url}{RETENTION}", headers=AUTH, timeout=10).json()["kinds"]
    return {kind: value["days"] for kind, value in kinds.items() if value["configurable"]}


def _segment_ids(stack_url: str) -> set[str]:
    listed = requests.get(f"{stack_url}/admin/v1/segments", headers=AUTH, timeout=10).json()
    return {segment["segment_id"] for segment in listed["segments"] if segment.get("status") != "archived"}


def _template_ids(stack_url: str) -> set[str]:
    listed = requests.get(f"{stack_url}/admin/v1/templates", headers=AUTH, params={"status": "active"}, timeout=10)
    return {template["id"] for template in listed.json()["templates"]}


@pytest.fixture(scope="module")
def admin_schema(stack_url: str) -> Iterator[Any]:
    rules, segments, templates = _rules(stack_url), _segment_ids(stack_url), _template_ids(stack_url)
    retention = _retention_days(stack_url)
    schema = schemathesis.openapi.from_url(f"{stack_url}/admin/v1/openapi.json")
    schema.config.update(base_url=stack_url)
    yield schema
    for path, document in rules.items():  # put back what the fuzzer may have replaced
        current = requests.get(f"{stack_url}{path}", headers=AUTH, timeout=10).json()
        restored = {**document, "version": current.get("version", 0)}
        answer = requests.put(f"{stack_url}{path}", json=restored, headers=AUTH, timeout=10)
        assert answer.status_code == 200, answer.text
    version = requests.get(f"{stack_url}{RETENTION}", headers=AUTH, timeout=10).json()["version"]
    answer = requests.put(
        f"{stack_url}{RETENTION}", json={"version": version, "days": retention}, headers=AUTH, timeout=10
    )
    assert answer.status_code == 200, answer.text
    for segment_id in _segment_ids(stack_url) - segments:
        requests.delete(f"{stack_url}/admin/v1/segments/{segment_id}", headers=AUTH, timeout=10)
    for template_id in _template_ids(stack_url) - templates:
        requests.delete(f"{stack_url}/admin/v1/templates/{template_id}", headers=AUTH, timeout=10)
    operations = len(CALLS)
    print(f"\nadmin fuzz: {operations} operations, {sum(CALLS.values())} requests")
    print(f"successful answers checked against their schema: {len(ANSWERED)} operations, {sum(ANSWERED.values())}")
    print("no successful answer:", ", ".join(sorted(set(CALLS) - set(ANSWERED))) or "none")


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
            response = case.call_and_validate(headers=AUTH, checks=CHECKS, timeout=30)
            if response.status_code < 400:
                ANSWERED[f"{case.method} {case.operation.path}"] += 1

        try:
            answers_as_documented()
        except (Exception, BaseExceptionGroup) as exc:  # every operation runs; all failures are reported together
            failures[name] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{name}:\n{problem}" for name, problem in failures.items())


class Tour:
    """Calls the admin API and checks each answer (a success) against the document."""

    def __init__(self, stack: Stack, schema: Any) -> None:
        self.stack, self.schema = stack, schema
        self.checked: Counter[str] = Counter()

    def __call__(self, method: str, path: str, expected: int = 200, *, body: Any = None, **options: Any) -> Any:
        values = options.pop("at", {})
        options.setdefault("allow_redirects", False)
        headers = {**AUTH, **options.pop("headers", {})}
        response = self.stack.http.request(
            method,
            self.stack.url(path.format(**values)),
            json=body,
            headers=headers,
            timeout=HTTP_TIMEOUT_SECONDS,
            **options,
        )
        assert response.status_code == expected, f"{method} {path}: {response.status_code} {response.text[:500]}"
        self.schema[path][method].validate_response(response)
        self.checked[f"{method} {path}"] += 1
        return response.json() if "json" in response.headers.get("Content-Type", "") else response


def _finished(tour: Tour, path: str, ids: dict[str, str], *, done: tuple[str, ...]) -> Any:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = tour("GET", path, at=ids)
        if answer["status"] in done:
            return answer
        time.sleep(0.2)
    pytest.fail(f"{path} {ids} did not finish")


def test_every_operation_answers_success_as_documented(admin_schema: Any, stack: Stack, line_api_url: str) -> None:
    tour = Tour(stack, admin_schema)
    tour("GET", "/admin/v1/docs")

    # A person with traits, an order, consent and tags, and an anonymous visitor merged into them
    member, browser, email = unique("M"), unique("browser"), f"{unique('amy')}@example.com"
    traits = {"name": "Amy Chen", "email": email, "first_name": "Amy"}
    assert stack.segment("identify", {"userId": member, "traits": traits}).status_code == 200
    order = {"userId": member, "event": "Order Completed", "properties": {"order_id": unique("o"), "revenue": 500}}
    assert stack.segment("track", order).status_code == 200
    assert stack.segment("page", {"anonymousId": browser, "name": "Home"}).status_code == 200
    stack.drain()
    assert stack.segment("identify", {"userId": member, "anonymousId": browser}).status_code == 200
    stack.drain()
    lookup = {"params": {"type": "member_id", "value": member}}
    profile_id = tour("GET", "/admin/v1/profiles/lookup", **lookup)["profile_id"]
    ids = {"profile_id": profile_id}
    tour("POST", "/admin/v1/profiles/{profile_id}/consent", 202, at=ids, body={"channel": "email", "granted": True})
    tour("POST", "/admin/v1/profiles/{profile_id}/tags", 202, at=ids, body={"add": ["vip"], "remove": ["cold"]})
    stack.drain()
    tour("GET", "/admin/v1/profiles/{profile_id}", at=ids)
    tour("GET", "/admin/v1/profiles/{profile_id}/timeline", at=ids, params={"limit": "2"})
    assert tour("GET", "/admin/v1/profiles/{profile_id}/consent", at=ids)["history"][-1]["granted"] is True
    exported = tour("POST", "/admin/v1/profiles/{profile_id}/export", 202, at=ids)
    job = {**ids, "job_id": exported["job_id"]}
    assert _finished(tour, "/admin/v1/profiles/{profile_id}/export/{job_id}", job, done=("done", "failed"))["files"]
    merges = tour("GET", "/admin/v1/profiles/{profile_id}/merges", at=ids)["merges"]
    assert merges, "the visitor was merged into the member"
    merge = {"merge_id": merges[0]["merge_id"]}
    tour("GET", "/admin/v1/merges/{merge_id}", at=merge)
    tour("POST", "/admin/v1/profiles/{profile_id}/unmerge", 202, at=ids, body={"mergeId": merge["merge_id"]})
    stack.drain()
    tour("POST", "/admin/v1/profiles/{profile_id}/unmerge", 200, at=ids, body={"mergeId": merge["merge_id"]})

    # Rules and policy, saved as they are
    for path in RULES:
        current = tour("GET", path)
        tour("PUT", path, body=current)
    tour("GET", "/admin/v1/ingest/rejections", params={"limit": "5"})
    retention = tour("GET", RETENTION)
    days = {kind: value["days"] for kind, value in retention["kinds"].items() if value["configurable"]}
    tour("PUT", RETENTION, body={"version": retention["version"], "days": days})

    # LINE binding
    line_user = user_id(unique("tour"))
    tour("POST", "/admin/v1/line/link-token", 201, body={"lineUserId": line_user, "memberId": member})
    token = fake(line_api_url, "id-tokens", {"userId": line_user, "channelId": LOGIN_CHANNEL_ID})["idToken"]
    tour("POST", "/admin/v1/line/login", body={"idToken": token, "memberId": member})

    # A segment of LINE friends (enough for a LINE audience), its members, history, exports
    segment = {"segment_id": unique("tour").lower()}
    rule = {"reachable": {"channel": "line"}}
    tour("POST", "/admin/v1/segments", 201, body={"id": segment["segment_id"], "name": "Friends", "rule": rule})
    time.sleep(1.1)  # the stack's evaluators keep definitions for 1 s
    base = int(time.time() * 1000)
    friends = [follow(source=user_source(f"U{uuid.uuid4().hex}"), timestamp=base + i) for i in range(52)]
    assert stack.line(friends).status_code == 200
    stack.drain()
    tour("GET", "/admin/v1/segments")
    tour("GET", "/admin/v1/segments/schema")  # the rule builder's schema
    tour("GET", "/admin/v1/segments/{segment_id}", at=segment)
    tour("GET", "/admin/v1/segments/{segment_id}/members", at=segment, params={"limit": "2"})
    tour("POST", "/admin/v1/segments/{segment_id}/recompute", 202, at=segment)
    stack.drain()
    tour("GET", "/admin/v1/segments/{segment_id}/history", at=segment)
    friend = tour("GET", "/admin/v1/segments/{segment_id}/members", at=segment)["members"][0]["profile_id"]
    tour("GET", "/admin/v1/profiles/{profile_id}/segments", at={"profile_id": friend})
    export = "/admin/v1/segments/{segment_id}/exports/line-audience"
    tour("POST", export, 201, at=segment, body={"description": "tour"})
    tour("POST", export, 201, at=segment, body={"sync": True})
    tour("POST", export, 200, at=segment, body={"sync": False})
    tour("POST", "/admin/v1/segments/{segment_id}/exports/hashed-csv", 201, at=segment)
    revised = {"name": "LINE friends", "version": 1}
    tour("PUT", "/admin/v1/segments/{segment_id}", at=segment, body=revised)

    # Its rich menu: linked, read, resynced, unlinked
    menu = requests.post(f"{line_api_url}/v2/bot/richmenu", json=RICH_MENU, headers=LINE_TOKEN, timeout=30)
    assert menu.status_code == 200, menu.text
    rich_menu = {"rich_menu_id": menu.json()["richMenuId"]}
    image = requests.post(
        f"{line_api_url}/v2/bot/richmenu/{rich_menu['rich_menu_id']}/content",
        data=b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        headers={**LINE_TOKEN, "Content-Type": "image/png"},
        timeout=30,
    )
    assert image.status_code == 200, image.text
    tour("PUT", "/admin/v1/segments/{segment_id}/rich-menu", 202, at=segment, body=rich_menu)
    tour("GET", "/admin/v1/segments/{segment_id}/rich-menu", at=segment)
    tour("POST", "/admin/v1/segments/{segment_id}/rich-menu/sync", 202, at=segment)
    tour("DELETE", "/admin/v1/segments/{segment_id}/rich-menu", 202, at=segment)

    # Archive queries, at once and as jobs
    preview = {"rule": {"tag": {"name": "vip"}}, "sample": 5}
    tour("POST", "/admin/v1/segments/preview", body=preview)
    job = tour("POST", "/admin/v1/segments/preview", 202, body=preview, headers={"Prefer": "respond-async"})
    _finished(tour, "/admin/v1/jobs/{job_id}", {"job_id": job["job_id"]}, done=("done", "failed"))
    tour("GET", "/admin/v1/profiles/search", params={"identifier": f"member_id:{member}"})
    tour("GET", "/admin/v1/profiles/search", params={"name_prefix": "Amy"})
    tour("GET", "/admin/v1/profiles/search", 202, params={"tag": "vip"}, headers={"Prefer": "respond-async"})
    tour("GET", "/admin/v1/reports/data-health")
    tour("GET", "/admin/v1/reports/customer-groups")
    # The analytics reports (the member's order is today's): each once, one as a job
    tour("GET", "/admin/v1/reports/overview")
    tour("GET", "/admin/v1/reports/trend", params={"interval": "week", "by": "name", "event": "Order Completed"})
    tour("GET", "/admin/v1/reports/funnel", params={"step": ["Page Viewed", "Order Completed"], "window_days": "3"})
    tour("GET", "/admin/v1/reports/retention", params={"period": "month", "periods": "3"})
    tour("GET", "/admin/v1/reports/distribution", params={"field": "properties.revenue", "event": "Order Completed"})
    tour("GET", "/admin/v1/reports/distribution", params={"field": "traits.first_name"})
    tour("GET", "/admin/v1/reports/friends", params={"tz": "America/New_York"})
    job = tour("GET", "/admin/v1/reports/friends", 202, headers={"Prefer": "respond-async"})
    finished = _finished(tour, "/admin/v1/jobs/{job_id}", {"job_id": job["job_id"]}, done=("done", "failed"))
    assert finished["status"] == "done" and finished["result"]["report"] == "friends", finished

    # Links
    link = {"code": unique("tour")}
    tour("POST", "/admin/v1/links", 201, body={"url": "https://shop.example.com/", "src": "line", **link})
    tour("GET", "/admin/v1/links/{code}", at=link)
    assert link["code"] in {item["code"] for item in tour("GET", "/admin/v1/links")["links"]}  # newest first
    tour("GET", "/admin/v1/links/{code}/qr.svg", at=link)
    tour("POST", "/admin/v1/links/{code}/personal", at=link, body={"profile_id": profile_id, "channel": "email"})

    # Templates
    template = {"template_id": unique("tour").lower()}
    content = {
        "line": {
            "messages": [
                {"type": "text", "text": "Hi {{ traits.first_name | default: 'there' }} https://shop.example.com/"}
            ]
        },
        "email": {"subject": "Hi {{ traits.first_name }}", "html": "<p>Hi</p>"},
        "sms": {"text": "Hi {{ traits.first_name }}"},
    }
    tour("POST", "/admin/v1/templates", 201, body={"id": template["template_id"], "name": "Tour", **content})
    tour("GET", "/admin/v1/templates", params={"status": "active"})
    tour("GET", "/admin/v1/templates/{template_id}", at=template)
    tour("PUT", "/admin/v1/templates/{template_id}", at=template, body={"sms": {"text": "Hello"}, "version": 1})
    tour("POST", "/admin/v1/templates/{template_id}/render", at=template, body={"profile_id": profile_id})
    tour("POST", "/admin/v1/templates/{template_id}/render", at=template, body={"sample": {"traits": {}}})
    tour("DELETE", "/admin/v1/templates/{template_id}", at=template)
    tour("POST", "/admin/v1/templates/{template_id}/restore", at=template)

    # Campaigns to the friends segment, narrowed to one friend of this tour (the stack is shared),
    # with the template's first version (it has LINE content); transactional: no quiet hours.
    cohort = unique("tour").lower()
    tour("POST", "/admin/v1/profiles/{profile_id}/tags", 202, at={"profile_id": friend}, body={"add": [cohort]})
    stack.drain()
    draft = {
        "name": "Tour",
        **segment,
        **template,
        "template_version": 1,
        "channels": ["line", "email"],
        "purpose": "transactional",
        "rule": {"tag": {"name": cohort}},
    }
    later = {"kind": "at", "at": "2099-01-01T09:00", "time_zone": "Asia/Taipei"}
    timed = {"campaign_id": tour("POST", "/admin/v1/campaigns", 201, body={**draft, "schedule": later})["campaign_id"]}
    tour("GET", "/admin/v1/campaigns")
    tour("GET", "/admin/v1/campaigns/{campaign_id}", at=timed)
    edit = {**draft, "schedule": later, "name": "Tour, edited", "version": 1}
    assert tour("PUT", "/admin/v1/campaigns/{campaign_id}", at=timed, body=edit)["version"] == 2
    figures = tour("POST", "/admin/v1/campaigns/{campaign_id}/preflight", at=timed)
    assert (figures["targeted"], figures["sending"]) == (1, {"line": 1, "email": 0}), figures
    # The same preflight as a job (what an audience too big for one request gets), polled to done.
    job = tour(
        "POST", "/admin/v1/campaigns/{campaign_id}/preflight", 202, at=timed, headers={"Prefer": "respond-async"}
    )
    done = _finished(tour, "/admin/v1/jobs/{job_id}", {"job_id": job["job_id"]}, done=("done", "failed"))
    assert done["kind"] == "campaign_preflight" and done["result"]["targeted"] == 1, done
    assert tour("POST", "/admin/v1/campaigns/{campaign_id}/send", 202, at=timed)["status"] == "scheduled"
    assert tour("POST", "/admin/v1/campaigns/{campaign_id}/pause", at=timed)["status"] == "paused"
    assert tour("POST", "/admin/v1/campaigns/{campaign_id}/resume", at=timed)["status"] == "scheduled"
    assert tour("POST", "/admin/v1/campaigns/{campaign_id}/cancel", at=timed)["status"] == "cancelled"
    assert tour("DELETE", "/admin/v1/campaigns/{campaign_id}", at=timed)["deleted"] is True
    now = {"campaign_id": tour("POST", "/admin/v1/campaigns", 201, body=draft)["campaign_id"]}
    assert tour("POST", "/admin/v1/campaigns/{campaign_id}/send", 202, at=now)["status"] == "sending"
    stack.drain()
    assert tour("GET", "/admin/v1/campaigns/{campaign_id}", at=now)["runs_detail"][0]["enqueued"] == 1
    deadline = time.monotonic() + 60  # the report reads the archive, which trails the table
    while (report := tour("GET", "/admin/v1/campaigns/{campaign_id}/report", at=now))["sent_total"] < 1:
        assert time.monotonic() < deadline, json.dumps(report)
        time.sleep(1)
        stack.drain()
    assert report["sent"] == {"line": 1}, report
    results = tour("GET", "/admin/v1/reports/messaging")
    mine = [item for item in results["campaigns"] if item["id"] == now["campaign_id"]]
    assert [(item["name"], item["sent"]) for item in mine] == [("Tour", 1)], results

    # Journeys: the definition's schema, a draft sending the template, edited with its revision,
    # deleted (never published)
    tour("GET", "/admin/v1/journeys/schema")
    definition = {
        "name": "Tour",
        "entry": {"type": "event", "event": "Tour Started", "key": "tour_id"},
        "start": "hello",
        "nodes": {"hello": {"type": "send", **template, "next": "done"}, "done": {"type": "exit"}},
        "reentry": {"mode": "per_key"},
    }
    journey = {"journey_id": tour("POST", "/admin/v1/journeys", 201, body={"definition": definition})["journey_id"]}
    tour("GET", "/admin/v1/journeys")
    tour("GET", "/admin/v1/journeys/{journey_id}", at=journey)
    edited = {"definition": {**definition, "name": "Tour, edited"}, "revision": 1}
    assert tour("PUT", "/admin/v1/journeys/{journey_id}", at=journey, body=edited)["revision"] == 2
    # What a marketer sees of it: the (empty) report, where the member is, a dry run of the draft
    assert tour("GET", "/admin/v1/journeys/{journey_id}/report", at=journey)["runs"]["total"] == 0
    tour("GET", "/admin/v1/journeys/{journey_id}/runs", at=journey, params={"profileId": profile_id})
    entry = {"event": "Tour Started", "properties": {"tour_id": unique("tour")}}
    dry = tour(
        "POST", "/admin/v1/journeys/{journey_id}/test", at=journey, body={"profile_id": profile_id, "entry": entry}
    )
    assert [step["node"] for step in dry["path"]] == ["hello", "done"] and dry["dry_run"] is True
    assert tour("DELETE", "/admin/v1/journeys/{journey_id}", at=journey)["deleted"] is True
    # Another journey through its lifecycle: published (version 1, its state machine), paused,
    # resumed, archived
    live = {"journey_id": tour("POST", "/admin/v1/journeys", 201, body={"definition": definition})["journey_id"]}
    assert tour("POST", "/admin/v1/journeys/{journey_id}/publish", at=live)["published"]["version"] == 1
    tour("GET", "/admin/v1/journeys/{journey_id}/versions/{version}", at={**live, "version": "1"})
    assert tour("POST", "/admin/v1/journeys/{journey_id}/pause", at=live)["status"] == "paused"
    assert tour("POST", "/admin/v1/journeys/{journey_id}/resume", at=live)["status"] == "published"
    assert tour("POST", "/admin/v1/journeys/{journey_id}/archive", at=live)["status"] == "archived"
    tour("DELETE", "/admin/v1/segments/{segment_id}", at=segment)
    tour("DELETE", "/admin/v1/templates/{template_id}", at=template)

    # Member imports: inline (with a rejected row), and presigned
    csv_file = f"member_id,email,name\r\n{unique('csv')},{unique('c')}@example.com,Bo\r\n,,nobody\r\n"
    csv_headers = {"Content-Type": "text/csv"}
    imported = tour("POST", "/admin/v1/imports/members", 202, data=csv_file.encode(), headers=csv_headers)
    upload = {"import_id": imported["import_id"]}
    _finished(tour, "/admin/v1/imports/{import_id}", upload, done=("completed", "failed"))
    tour("GET", "/admin/v1/imports/{import_id}/rejected", 303, at=upload)
    presigned = tour("POST", "/admin/v1/imports/members", 201, body={"upload": "presigned"})
    put = requests.put(presigned["upload"]["url"], data=csv_file.encode(), headers=csv_headers, timeout=10)
    assert put.status_code == 200, put.text
    tour("POST", "/admin/v1/imports/{import_id}/start", 202, at={"import_id": presigned["import_id"]})

    # The audit log holds the tour's writes and downloads (route templates as routes.py names them)
    started = tour("GET", "/admin/v1/audit", params={"action": "POST /admin/v1/imports/{id}/start", "limit": "1"})
    assert started["records"][0]["targets"] == {"id": presigned["import_id"]}
    # Access: who is calling, and a service token created, listed and revoked
    assert tour("GET", "/admin/v1/me")["role"] == "admin"
    created = tour("POST", "/admin/v1/tokens", 201, body={"name": unique("tour"), "role": "viewer"})
    assert created["token"]["id"] in {t["id"] for t in tour("GET", "/admin/v1/tokens")["tokens"]}
    revoked = tour("DELETE", "/admin/v1/tokens/{token_id}", at={"token_id": created["token"]["id"]})
    assert revoked["active"] is False
    # Erase: a person of the tour's own, erased, the record read until done, the suppression lifted
    leaving = unique("erase-me")
    assert stack.segment("identify", {"userId": leaving, "traits": {"name": "Leaving"}}).status_code == 200
    stack.drain()
    gone = {
        "profile_id": tour("GET", "/admin/v1/profiles/lookup", params={"type": "member_id", "value": leaving})[
            "profile_id"
        ]
    }
    erasing = tour("POST", "/admin/v1/profiles/{profile_id}/erase", 202, at=gone)
    deadline = time.monotonic() + 180
    while erasing["status"] == "running" and time.monotonic() < deadline:
        stack.drain()  # the workflow waits for the streams to settle
        erasing = tour("GET", "/admin/v1/profiles/{profile_id}/erase", at=gone)
    assert erasing["status"] == "erased", erasing
    lifted = tour("DELETE", "/admin/v1/profiles/{profile_id}/erase/suppression", at=gone)
    assert lifted["lifted"] >= 1

    documented = {f"{m.upper()} {p}" for p, ops in admin_schema.raw_schema["paths"].items() for m in ops}
    assert documented - {"GET /admin/v1/openapi.json"} - set(tour.checked) == set()
