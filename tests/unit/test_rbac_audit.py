"""Reading the API server's audit log into calls, and setting the calls against a role's grants."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tenantgate.devcluster.audit import ApiCall, granted, parse_audit_log, unused_grants, used_grants

pytestmark = pytest.mark.unit

CONTROLLER = "system:serviceaccount:tenantgate-system:tenantgate"


def event(verb: str, resource: str, code: int = 200, stage: str = "ResponseComplete", **ref: str) -> str:
    reference: dict[str, Any] = {"resource": resource, **ref}
    return json.dumps(
        {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "stage": stage,
            "verb": verb,
            "user": {"username": CONTROLLER, "groups": ["system:serviceaccounts"]},
            "objectRef": reference,
            "responseStatus": {"metadata": {}, "code": code},
        }
    )


def test_a_log_becomes_calls_with_subresources_and_without_non_resource_paths() -> None:
    lines = [
        event("patch", "apps", 200, apiGroup="paas.kubeop.io", subresource="status", namespace="ns", name="web"),
        event("watch", "namespaces", stage="ResponseStarted"),
        event("get", "apps", stage="ResponseStarted", apiGroup="paas.kubeop.io"),
        json.dumps({"stage": "ResponseComplete", "verb": "get", "requestURI": "/readyz", "user": {"username": "x"}}),
        "",
    ]
    assert list(parse_audit_log(lines)) == [
        ApiCall(CONTROLLER, "patch", "paas.kubeop.io", "apps/status", "ns", 200),
        ApiCall(CONTROLLER, "watch", "", "namespaces", "", 200),
    ]


def test_an_apply_that_created_its_object_used_create_and_a_refused_call_used_nothing() -> None:
    calls = [
        ApiCall(CONTROLLER, "patch", "", "services", "ns", 201),
        ApiCall(CONTROLLER, "patch", "apps", "deployments", "ns", 200),
        ApiCall(CONTROLLER, "delete", "", "secrets", "ns", 403),
    ]
    assert used_grants(calls) == {
        ("", "services", "patch"),
        ("", "services", "create"),
        ("apps", "deployments", "patch"),
    }


def test_rules_multiply_out_into_grants() -> None:
    rules = [{"apiGroups": ["a", "b"], "resources": ["xs", "xs/status"], "verbs": ["get", "patch"]}]
    assert len(granted(rules)) == 8
    assert ("b", "xs/status", "patch") in granted(rules)


def test_a_grant_no_call_used_is_reported_unless_checked_inside_another_request() -> None:
    rules = [
        {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"]},
    ]
    calls = [ApiCall(CONTROLLER, verb, "", "services", "", 200) for verb in ("list", "watch", "patch")]
    bind = ("rbac.authorization.k8s.io", "clusterroles", "bind")
    assert unused_grants(rules, calls, {bind: "RoleBinding"}) == {("", "services", "get")}
    assert unused_grants(rules, calls, {}) == {("", "services", "get"), bind}
