"""What each tenantgate identity asked the API server, read from its audit log, set against what its roles grant.

The generated RBAC is meant to be exactly what the code uses. Sufficiency shows when the processes run under it
and everything converges; minimality needs the other direction: every (group, resource, verb) a role grants
was used by its identity. The local control plane can keep an audit log (`ControlPlane(audit=True)`) at level
Metadata, which records each request's user, verb and object reference; these pure functions turn that log
into calls and compare them with a role's rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

AUDIT_POLICY: Final[dict[str, Any]] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata"}],
}
"""Every request at level Metadata (user, verb, object reference, response code; no bodies, so no secrets)."""


@dataclass(frozen=True)
class ApiCall:
    """One request as the audit log recorded it."""

    user: str
    verb: str
    group: str
    resource: str
    """The plural, with `/subresource` when the request was to one (`apps/status`)."""
    namespace: str
    code: int


Grant = tuple[str, str, str]
"""(apiGroup, resource, verb), the unit a role grants and a call uses."""


def parse_audit_log(lines: Iterable[str]) -> Iterator[ApiCall]:
    """The answered resource requests of an audit log (JSON lines); non-resource paths are skipped."""
    for line in lines:
        if not line.strip():
            continue
        event = json.loads(line)
        reference = event.get("objectRef")
        if not reference or not reference.get("resource") or not _answered(event):
            continue
        resource = reference["resource"]
        if reference.get("subresource"):
            resource = f"{resource}/{reference['subresource']}"
        yield ApiCall(
            user=event.get("user", {}).get("username", ""),
            verb=event["verb"],
            group=reference.get("apiGroup", ""),
            resource=resource,
            namespace=reference.get("namespace", ""),
            code=int(event.get("responseStatus", {}).get("code", 0)),
        )


def _answered(event: dict[str, Any]) -> bool:
    """Whether the event is the answer to its request: a watch streams for as long as it lasts, so its
    `ResponseStarted` counts; every other request counts once, at `ResponseComplete`."""
    stage = event.get("stage")
    return stage == "ResponseComplete" or (stage == "ResponseStarted" and event.get("verb") == "watch")


def used_grants(calls: Iterable[ApiCall]) -> set[Grant]:
    """The grants the calls needed: each call's own verb, and `create` for a server-side apply that created.

    A PATCH that creates its object (201) is authorised for both `patch` and `create`, but the log has one
    event with verb `patch`; its response code tells the creation apart. Calls that were refused (401, 403)
    used nothing.
    """
    used: set[Grant] = set()
    for call in calls:
        if call.code in (401, 403):
            continue
        used.add((call.group, call.resource, call.verb))
        if call.verb == "patch" and call.code == 201:
            used.add((call.group, call.resource, "create"))
    return used


def granted(rules: Iterable[Mapping[str, Any]]) -> set[Grant]:
    """Every (group, resource, verb) the rules grant, one rule's lists multiplied out."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def unused_grants(
    rules: Iterable[Mapping[str, Any]], calls: Iterable[ApiCall], needed_without_a_request: Mapping[Grant, str]
) -> set[Grant]:
    """What the rules grant that no call used and that is not needed by an authorisation check of its own.

    `needed_without_a_request` maps the grants the API server checks while handling another request (`bind`
    on the role a RoleBinding refers to, `update` on `<kind>/finalizers` for blockOwnerDeletion) to why.
    """
    return granted(rules) - used_grants(calls) - set(needed_without_a_request)


def calls_by(calls: Iterable[ApiCall], user: str) -> list[ApiCall]:
    return [call for call in calls if call.user == user]
