"""The journeys' erasure store (cdp.privacy.erase): a person's runs ended (reason `erased`) by the
journey event consumer, which stops their executions and tells `journey.exited`; then the run
items kept for the journeys' reports with the person's id and entry replaced, and the person's
lookup, wait and admission items deleted (layout: cdp.adapters.dynamodb.journey_runs)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.erasure import ERASED_MARK, ItemTable
from cdp.adapters.dynamodb.errors import CONDITIONAL_CHECK_FAILED, error_code, unavailable
from cdp.adapters.dynamodb.journey_runs import ENTRY_PREFIX, PERSON_PREFIX, WAITS_INDEX_PREFIX, run_key
from cdp.errors import StoreUnavailable
from cdp.journeys.runs import ACTIVE, ERASED
from cdp.privacy.erase import Person


def _s(value: str) -> dict[str, str]:
    return {"S": value}


# Ends the person's active runs (the journey event consumer's `end_person`); how many it ended.
EndPerson = Callable[[str], int]


class JourneyRunsErasure:
    name = "journey_runs"

    def __init__(self, client: Any, core_table: str, end_person: EndPerson) -> None:
        self._t = ItemTable(client, core_table)
        self._end_person = end_person

    def _lookups(self, profile_id: str) -> list[dict[str, Any]]:
        return list(
            self._t.query(
                "listing a person's journey runs to erase",
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": _s(PERSON_PREFIX + profile_id)},
                ConsistentRead=True,
            )
        )

    def _waits(self, profile_id: str) -> list[dict[str, Any]]:
        return list(
            self._t.query(
                "listing a person's journey waits to erase",
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": _s(WAITS_INDEX_PREFIX + profile_id)},
            )
        )

    def _admissions(self, profile_id: str, journeys: set[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for journey_id in sorted(journeys):
            found.extend(
                self._t.query(
                    "listing a person's journey admissions to erase",
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": _s(f"{ENTRY_PREFIX}{journey_id}#{profile_id}")},
                    ConsistentRead=True,
                )
            )
        return found

    def erase(self, person: Person, *, limit: int) -> tuple[int, bool]:
        removed = 0
        for profile_id in person.profile_ids:
            lookups = self._lookups(profile_id)
            if any(item.get("status", {}).get("S") == ACTIVE for item in lookups):
                self._end_person(profile_id)  # stops executions, records the exits (idempotent)
            for item in lookups:
                self._anonymize(item["run_id"]["S"], profile_id)
            journeys = {item["journey_id"]["S"] for item in lookups}
            doomed = [*self._waits(profile_id), *self._admissions(profile_id, journeys), *lookups]
            self._t.delete_keys([{"pk": item["pk"], "sk": item["sk"]} for item in doomed], "erasing journey items")
            removed += len(doomed)
        return removed, True

    def _anonymize(self, run_id: str, profile_id: str) -> None:
        """The run stays for the journey's reports: whose it was and what it entered with go."""
        try:
            self._t.client.update_item(
                TableName=self._t.table,
                Key=run_key(run_id),
                UpdateExpression="SET profile_id = :erased, #status = if_not_exists(#status, :exited) "
                "REMOVE entry, entered_as, waiting",
                ConditionExpression="attribute_exists(pk) AND (profile_id = :mine OR profile_id = :erased)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":erased": _s(ERASED_MARK),
                    ":mine": _s(profile_id),
                    ":exited": _s("exited"),
                },
            )
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return  # gone, or someone else's since a merge moved it: not this person's to change
            raise unavailable(exc, "erasing a journey run") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "erasing a journey run") from exc

    def remaining(self, person: Person) -> int:
        left = 0
        for profile_id in person.profile_ids:
            lookups = self._lookups(profile_id)
            journeys = {item["journey_id"]["S"] for item in lookups}
            left += len(lookups) + len(self._waits(profile_id)) + len(self._admissions(profile_id, journeys))
        return left


class LambdaEndPerson:
    """EndPerson through the journey event consumer, invoked and waited for."""

    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function = function_name

    def __call__(self, profile_id: str) -> int:
        payload = json.dumps({"end_person": {"profile_id": profile_id, "reason": ERASED}}).encode()
        try:
            response = self._client.invoke(FunctionName=self._function, Payload=payload)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "ending a person's journey runs") from exc
        answer = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError") or not isinstance(answer, dict) or "ended" not in answer:
            raise StoreUnavailable("the journey event consumer did not end the person's runs")
        return int(answer["ended"])
