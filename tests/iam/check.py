"""Check recorded AWS calls against each function's synthesized IAM policy.

Policies come from the CDK template (every AWS::IAM::Policy attached to the function's role), with
Ref / Fn::GetAtt / Fn::Join / Fn::Sub resolved to the local stack's names and ARNs. Evaluation is
@cloud-copilot/iam-simulate (Node; every condition operator, and it validates each request: the
action exists, the ARN is of a resource type the action takes, the context keys belong to it).

Requests that cannot differ in outcome are evaluated once: a resource or condition value only
matters through which of the policy's patterns it matches, so values with the same matches share
one simulation (e.g. every `PROFILE#<id>` key against `PROFILE#*`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from infra.local.aws_calls import ACCOUNT, IamRequest, Recorder
from infra.local.config import REGION

ROOT = Path(__file__).resolve().parents[2]
SIMULATOR = Path(__file__).with_name("simulate.cjs")
_FUNCTION_PATH = re.compile(r"/(?P<name>[a-z_]+)/Function/Resource$")
_SECRET_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")
ALLOWED = "Allowed"

Statement = dict[str, Any]


class PolicyResolver:
    """Template values -> local strings; what cannot exist locally becomes an ARN that matches nothing."""

    def __init__(self, template: Mapping[str, Any], names: Mapping[str, str], arns: Mapping[str, str]) -> None:
        self._resources = template.get("Resources", {})
        self._names, self._arns = dict(names), dict(arns)
        for logical_id, resource in self._resources.items():
            if resource["Type"] == "AWS::SecretsManager::Secret" and logical_id in self._arns:
                # Ref of a secret is its ARN with a random 6-character suffix, different per provisioning.
                wildcard = _SECRET_SUFFIX.sub("-??????", self._arns[logical_id])
                self._arns[logical_id] = self._names[logical_id] = wildcard

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref")):
            return {key: self.resolve(item) for key, item in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self._ref(argument)
        if function == "Fn::GetAtt":
            return self._get_att(*argument)
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(str(self.resolve(part)) for part in parts)
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(index)]
        if function == "Fn::Split":
            separator, source = argument
            return str(self.resolve(source)).split(separator)
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            resolved = {key: self.resolve(item) for key, item in variables.items()}
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(resolved.get(m[1]) or self._sub(m[1])), text)
        raise ValueError(f"unsupported intrinsic {function}")

    def _sub(self, name: str) -> str:
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self._get_att(logical_id, attribute)
        return self._ref(name)

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        return self._names.get(name) or self._arns.get(name) or self._unresolved(name)

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn" and logical_id in self._arns:
            return self._arns[logical_id]
        if attribute == "StreamArn" and logical_id in self._arns:
            return f"{self._arns[logical_id]}/stream/*"
        if attribute == "Name" and logical_id in self._names:
            return self._names[logical_id]
        return self._unresolved(f"{logical_id}.{attribute}")

    @staticmethod
    def _unresolved(what: str) -> str:
        # e.g. log groups: not created locally, and no recorded call names them.
        return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:unresolved/{what}"


POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")


def function_policies(template: Mapping[str, Any], resolver: PolicyResolver) -> dict[str, list[Statement]]:
    """functions/<folder> -> the resolved statements of every policy attached to its role."""
    resources = template.get("Resources", {})
    by_role: dict[str, list[Statement]] = {}
    for resource in resources.values():
        # A role whose inline policy outgrows IAM's size limit gets CDK's overflow managed policies.
        if resource["Type"] not in POLICY_TYPES:
            continue
        statements = resolver.resolve(resource["Properties"]["PolicyDocument"]["Statement"])
        for role in resource["Properties"].get("Roles", []):
            by_role.setdefault(role["Ref"], []).extend(statements)
    found: dict[str, list[Statement]] = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        match = _FUNCTION_PATH.search(resource.get("Metadata", {}).get("aws:cdk:path", ""))
        role = resource["Properties"].get("Role", {}).get("Fn::GetAtt", [None])[0]
        if match and role:
            found[match["name"]] = by_role.get(role, [])
    return found


@cache
def _pattern(text: str, case_sensitive: bool = True) -> re.Pattern[str]:
    body = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in text)
    return re.compile(f"^{body}$", 0 if case_sensitive else re.IGNORECASE)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def action_matches(statement: Statement, action: str) -> bool:
    return any(_pattern(pattern, case_sensitive=False).match(action) for pattern in _strings(statement.get("Action")))


@dataclass
class Denial:
    function: str
    action: str
    resource: str
    context: dict[str, Any]
    call: str
    result: str
    statements: list[Statement]
    same_outcome: int  # recorded requests this one stands for

    def describe(self) -> str:
        lines = [
            f"{self.function}: {self.action} on {self.resource} {json.dumps(self.context)} "
            f"({self.call}; {self.result}; {self.same_outcome} recorded request(s) alike)",
        ]
        considered = [s for s in self.statements if action_matches(s, self.action)] or self.statements
        label = "statements for this action" if considered is not self.statements else "no statement has this action"
        lines.append(f"    {label}:")
        lines.extend(f"      {json.dumps(statement)}" for statement in considered)
        return "\n".join(lines)


@dataclass
class Report:
    calls: int = 0
    requests: int = 0  # distinct (function, action, resource, condition values)
    actions: list[str] = field(default_factory=list)  # distinct "function action"
    simulations: int = 0
    denials: list[Denial] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # unmapped calls, unknown functions, invalid requests

    @property
    def failed(self) -> bool:
        return bool(self.denials or self.problems)

    def as_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "requests": self.requests,
            "simulations": self.simulations,
            "actions": self.actions,
            "denials": [d.describe() for d in self.denials],
            "problems": self.problems,
        }


class _Signature:
    """Which of a function's policy patterns a value matches: values alike evaluate alike."""

    def __init__(self, statements: list[Statement]) -> None:
        self.resources = sorted({p for s in statements for p in _strings(s.get("Resource"))})
        self.conditions: dict[str, list[str]] = {}
        for statement in statements:
            for block in (statement.get("Condition") or {}).values():
                for key, values in block.items():
                    self.conditions.setdefault(key.lower(), []).extend(_strings(values))

    def of(self, request: IamRequest) -> tuple[Any, ...]:
        resource = tuple(bool(_pattern(p).match(request.resource)) for p in self.resources)
        context = []
        for key, value in request.context:
            patterns = self.conditions.get(key.lower(), [])
            values = value if isinstance(value, tuple) else (value,)
            shapes = frozenset(tuple(bool(_pattern(p).match(v)) for p in patterns) for v in values)
            context.append((key, isinstance(value, tuple), shapes))
        return (request.function, request.action.lower(), resource, tuple(context))


def check(recorder: Recorder, *, node: str | None = None) -> Report:
    report = Report(
        calls=recorder.calls,
        requests=len(recorder.requests),
        actions=sorted({f"{r.function} {r.action}" for r in recorder.requests}),
        problems=list(recorder.problems),
    )
    report.problems.extend(
        f"{function}: {call} could not be mapped to IAM requests (add or fix its mapping in infra/local/aws_calls.py)"
        for function, call in sorted(recorder.unmapped)
    )
    if not recorder.requests:
        return report
    if recorder.template is None:
        report.problems.append("AWS calls were recorded but no provisioned stack was noted")
        return report
    policies = function_policies(recorder.template, PolicyResolver(recorder.template, recorder.names, recorder.arns))
    signatures = {function: _Signature(statements) for function, statements in policies.items()}
    groups: dict[tuple[Any, ...], list[IamRequest]] = {}
    for request in sorted(recorder.requests, key=lambda r: (r.function, r.action, r.resource, r.context)):
        if request.function not in policies:
            report.problems.append(f"{request.function}: not a function of the template ({request.call})")
            continue
        groups.setdefault(signatures[request.function].of(request), []).append(request)
    representatives = [members[0] for members in groups.values()]
    report.simulations = len(representatives)
    results = simulate(
        {function: {"Version": "2012-10-17", "Statement": statements} for function, statements in policies.items()},
        representatives,
        node=node,
    )
    for request, members, result in zip(representatives, groups.values(), results, strict=True):
        if result["errors"]:
            report.problems.append(
                f"{request.function}: {request.action} on {request.resource} {request.context_dict()} "
                f"({request.call}) is not a valid request: {json.dumps(result['errors'])}"
            )
        elif result["result"] != ALLOWED:
            report.denials.append(
                Denial(
                    function=request.function,
                    action=request.action,
                    resource=request.resource,
                    context=request.context_dict(),
                    call=request.call,
                    result=result["result"],
                    statements=policies[request.function],
                    same_outcome=len(members),
                )
            )
    return report


def node_path() -> str:
    """Where `@cloud-copilot/iam-simulate` is installed: the repository's node_modules unless overridden."""
    return os.environ.get("CDP_IAM_SIMULATE_NODE_PATH") or str(ROOT / "node_modules")


def simulate(
    policies: Mapping[str, Any], requests: Iterable[IamRequest], *, node: str | None = None
) -> list[dict[str, Any]]:
    binary = node or shutil.which("node")
    if binary is None:
        raise RuntimeError("the IAM check needs Node.js (the CDK CLI's runtime) on PATH")
    payload = {
        "policies": policies,
        "requests": [
            {
                "id": index,
                "policy": request.function,
                "action": request.action,
                "resource": request.resource,
                "context": request.context_dict(),
            }
            for index, request in enumerate(requests)
        ],
    }
    completed = subprocess.run(
        [binary, str(SIMULATOR)],
        input=json.dumps(payload).encode(),
        capture_output=True,
        env={**os.environ, "NODE_PATH": node_path()},
        check=False,
        timeout=300,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            "IAM simulation failed (is @cloud-copilot/iam-simulate installed? `npm install`):\n"
            + completed.stderr.decode(errors="replace")
        )
    results: list[dict[str, Any]] = json.loads(completed.stdout)
    return sorted(results, key=lambda result: result["id"])
