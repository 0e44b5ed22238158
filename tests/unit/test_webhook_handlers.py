"""The shipped handlers: kubeOP's App mutator and Project validator, and the generic CRD defaulter."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from admission import dispatch
from admission.protocol import AdmissionRequest, Operation
from admission.registry import HandlerRegistry
from admission.resources import CUSTOM_KINDS as SERVED_KINDS
from admission.rules import build_registries
from admission.rules.kubeop_app import label_managed_by as label_managed_by_rule
from admission.rules.kubeop_project import require_existing_tenant as require_existing_tenant_rule
from admission.view import InMemoryClusterView
from tests.unit.test_guardrails_support import judged

pytestmark = pytest.mark.unit

label_managed_by = judged(label_managed_by_rule)
require_existing_tenant = judged(require_existing_tenant_rule)

TENANT = {
    "apiVersion": "paas.kubeop.io/v1alpha1",
    "kind": "Tenant",
    "metadata": {"name": "acme"},
    "spec": {"name": "Acme"},
}
VIEW = InMemoryClusterView.from_objects([TENANT])


def request(
    group: str,
    kind: str,
    obj: dict[str, Any] | None,
    operation: Operation = "CREATE",
    old: dict[str, Any] | None = None,
) -> AdmissionRequest:
    return AdmissionRequest.model_validate(
        {
            "uid": "u-1",
            "kind": {"group": group, "version": "v1", "kind": kind},
            "resource": {"group": group, "version": "v1", "resource": kind.lower() + "s"},
            "name": ((obj or old or {}).get("metadata") or {}).get("name", ""),
            "operation": operation,
            "object": obj,
            "oldObject": old,
        }
    )


def app(labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "web", "namespace": "kubeop-acme-web"}
    if labels is not None:
        metadata["labels"] = labels
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "App",
        "metadata": metadata,
        "spec": {"type": "Image", "image": "nginx:1.25", "unknownField": 1},
    }


def project(tenant_ref: Any = "acme", **metadata: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": "web"}
    if tenant_ref is not None:
        spec["tenantRef"] = tenant_ref
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Project",
        "metadata": {"name": "web", **metadata},
        "spec": spec,
    }


# -- App mutator ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "expected_labels"),
    [
        (None, {"app.kubeop.io/managed-by": "kubeop-admission"}),
        ({"team": "a"}, {"team": "a", "app.kubeop.io/managed-by": "kubeop-admission"}),
        ({"app.kubeop.io/managed-by": "kubeop-admission"}, {"app.kubeop.io/managed-by": "kubeop-admission"}),
        ({"app.kubeop.io/managed-by": "someone-else"}, {"app.kubeop.io/managed-by": "someone-else"}),
    ],
    ids=["labels_absent", "label_missing", "label_present", "user_value_kept"],
)
def test_app_mutator_adds_managed_by_label_only_when_missing(
    labels: dict[str, str] | None, expected_labels: dict[str, str]
) -> None:
    original = app(labels)
    verdict = label_managed_by(request("paas.kubeop.io", "App", original), VIEW)
    assert verdict.allowed
    result = jsonpatch.apply_patch(original, list(verdict.patch))
    assert result["metadata"]["labels"] == expected_labels
    assert result["spec"] == original["spec"]
    again = label_managed_by(request("paas.kubeop.io", "App", result), VIEW)
    assert again.patch == ()


# -- Project validator ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "operation", "old", "allowed", "message_parts"),
    [
        (project("acme"), "CREATE", None, True, []),
        (project(None), "CREATE", None, False, ["spec.tenantRef is required", "missing", "metadata.name"]),
        (project(""), "CREATE", None, False, ["spec.tenantRef is required", "''"]),
        (project(7), "CREATE", None, False, ["spec.tenantRef is required", "7"]),
        (
            project("ghost"),
            "CREATE",
            None,
            False,
            ['spec.tenantRef "ghost"', "referenced tenant does not exist", 'create Tenant "ghost" first'],
        ),
        (project("ghost"), "UPDATE", project("acme"), False, ["referenced tenant does not exist"]),
        (project("ghost", deletionTimestamp="2024-01-01T00:00:00Z"), "UPDATE", project("ghost"), True, []),
        (project("ghost"), "UPDATE", project("ghost"), True, []),
    ],
    ids=[
        "existing_tenant",
        "tenant_ref_missing",
        "tenant_ref_empty",
        "tenant_ref_not_a_string",
        "tenant_unknown",
        "update_moves_to_unknown_tenant",
        "update_while_deleting",
        "update_keeping_vanished_tenant",
    ],
)
def test_project_validator(
    obj: dict[str, Any], operation: Operation, old: dict[str, Any] | None, allowed: bool, message_parts: list[str]
) -> None:
    verdict = require_existing_tenant(request("paas.kubeop.io", "Project", obj, operation, old), VIEW)
    assert verdict.allowed is allowed
    for part in message_parts:
        assert part in verdict.message
    if not allowed:
        assert verdict.code == 403
        assert verdict.reason == "Forbidden"


def test_project_validator_warns_when_kept_tenant_vanished() -> None:
    verdict = require_existing_tenant(
        request("paas.kubeop.io", "Project", project("ghost"), "UPDATE", project("ghost")), VIEW
    )
    assert verdict.warnings == ('Tenant "ghost" of Project "web" no longer exists',)


def test_project_deny_message_does_not_list_other_tenants() -> None:
    view = InMemoryClusterView.from_objects([TENANT, {**TENANT, "metadata": {"name": "secret-customer"}}])
    verdict = require_existing_tenant(request("paas.kubeop.io", "Project", project("ghost")), view)
    assert "secret-customer" not in verdict.message
    assert "acme" not in verdict.message


# -- generic defaulter -------------------------------------------------------------------------------------


def test_served_kinds_match_the_crds_registry() -> None:
    from crds.registry import KINDS

    assert set(SERVED_KINDS) == {(info.group, info.kind) for info in KINDS}


@pytest.mark.parametrize(("group", "kind"), SERVED_KINDS, ids=[f"{k}.{g}" for g, k in SERVED_KINDS])
def test_defaulter_patch_equals_crds_defaulting(group: str, kind: str) -> None:
    from crds.defaults import with_defaults

    original = {
        "apiVersion": f"{group}/v1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "n"},
        "spec": {"fieldUnknownToModels": {"kept": True}},
    }
    pristine = copy.deepcopy(original)
    registries = build_registries()
    result = dispatch.mutate(request(group, kind, original), VIEW, registries.mutating)
    assert result.verdict.allowed
    patched_object = jsonpatch.apply_patch(original, list(result.verdict.patch))
    expected = with_defaults(group, kind, original)
    if (group, kind) == ("paas.kubeop.io", "App"):
        expected["metadata"]["labels"] = {"app.kubeop.io/managed-by": "kubeop-admission"}
    assert patched_object == expected
    assert patched_object["spec"]["fieldUnknownToModels"] == {"kept": True}
    assert original == pristine
    again = dispatch.mutate(request(group, kind, patched_object), VIEW, registries.mutating)
    assert again.verdict.patch == ()


def test_nested_defaults_fold_into_one_operation_per_new_subtree() -> None:
    from admission.rules.schema_defaults import merge_nested_defaults

    defaults = [
        (("spec", "ports"), {}),
        (("spec", "ports", "app"), 8000),
        (("spec", "autoscalers"), {}),
        (("spec", "autoscalers", "app"), {}),
        (("spec", "autoscalers", "app", "replicas"), {"minimum": 1}),
        (("spec", "autoscalers", "app", "replicas", "maximum"), 10),
        (("spec", "env"), []),
        (("spec", "existing", "child"), 1),
    ]
    assert merge_nested_defaults(defaults) == [
        (("spec", "ports"), {"app": 8000}),
        (("spec", "autoscalers"), {"app": {"replicas": {"minimum": 1, "maximum": 10}}}),
        (("spec", "env"), []),
        (("spec", "existing", "child"), 1),
    ]


def test_shop_defaults_are_set_and_user_values_kept() -> None:
    shop = {
        "apiVersion": "apps.shophub.local/v1",
        "kind": "Shop",
        "metadata": {"name": "s", "namespace": "n"},
        "spec": {"title": "T", "walletAddress": "0x1", "database": "mongodb"},
    }
    result = dispatch.mutate(request("apps.shophub.local", "Shop", shop), VIEW, build_registries().mutating)
    assert list(result.verdict.patch) == [{"op": "add", "path": "/spec/availability", "value": "standard"}]


def test_build_registries_wires_the_shipped_handlers() -> None:
    registries = build_registries()

    def names(registry: HandlerRegistry, group: str, kind: str, operation: Operation) -> list[str]:
        return [h.__name__ for h in registry.handlers_for(group, kind, operation)]

    # Schema defaults first, so every later mutator and every guardrail sees a complete object.
    assert names(registries.mutating, "paas.kubeop.io", "App", "CREATE") == [
        "default_custom_kind",
        "label_managed_by",
        "tenancy_labels",
    ]
    # The kind's model first among the validating rules, then the shape check (so no rule reads a field of the
    # wrong type), then kubeOP's own tenant check.
    assert names(registries.validating, "paas.kubeop.io", "Project", "UPDATE")[:3] == [
        "validate_custom_kind",
        "well_formed",
        "require_existing_tenant",
    ]
    for group, kind in (("", "Pod"), ("apps", "Deployment"), ("networking.k8s.io", "Ingress"), ("", "Service")):
        assert names(registries.validating, group, kind, "CREATE")[0] == "well_formed"
    assert "project_rules" in names(registries.validating, "paas.kubeop.io", "Project", "DELETE")
    assert names(registries.mutating, "", "Pod", "CREATE") == ["tenancy_labels"]
    assert {"allowed_registries", "pod_security"} <= set(names(registries.validating, "", "Pod", "CREATE"))
