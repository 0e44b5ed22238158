"""The webhook configurations route exactly what the design says, and nothing that could wedge the cluster."""

from __future__ import annotations

import base64

import pytest

from admission.configuration import (
    TENANTGATE_GROUPS,
    RoutingOptions,
    WebhookEndpoint,
    webhook_configurations,
)

pytestmark = pytest.mark.unit

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def all_hooks() -> list[dict[str, object]]:
    mutating, validating = webhook_configurations(WebhookEndpoint(url="https://127.0.0.1:9443"), CA)
    return [*mutating["webhooks"], *validating["webhooks"]]


def test_url_mode_points_each_hook_at_its_path() -> None:
    mutating, validating = webhook_configurations(WebhookEndpoint(url="https://127.0.0.1:9443/"), CA)
    assert {h["clientConfig"]["url"] for h in mutating["webhooks"]} == {"https://127.0.0.1:9443/mutate"}
    assert {h["clientConfig"]["url"] for h in validating["webhooks"]} == {"https://127.0.0.1:9443/validate"}


def test_service_mode_names_the_service() -> None:
    endpoint = WebhookEndpoint(service_name="tenantgate-webhook", service_namespace="tenantgate-system")
    mutating, _ = webhook_configurations(endpoint, CA)
    assert mutating["webhooks"][0]["clientConfig"]["service"] == {
        "name": "tenantgate-webhook",
        "namespace": "tenantgate-system",
        "path": "/mutate",
        "port": 443,
    }


def test_ca_bundle_is_base64_of_the_pem() -> None:
    for hook in all_hooks():
        assert base64.b64decode(hook["clientConfig"]["caBundle"]) == CA  # type: ignore[index]


@pytest.mark.parametrize("hook", all_hooks(), ids=lambda h: str(h["name"]))
def test_every_hook_fails_closed_fast_and_without_side_effects(hook: dict[str, object]) -> None:
    assert hook["failurePolicy"] == "Fail"
    assert hook["sideEffects"] == "None"
    assert hook["timeoutSeconds"] == 5
    assert hook["admissionReviewVersions"] == ["v1"]


@pytest.mark.parametrize("hook", all_hooks(), ids=lambda h: str(h["name"]))
def test_system_and_own_namespaces_are_never_routed(hook: dict[str, object]) -> None:
    expressions = hook["namespaceSelector"]["matchExpressions"]  # type: ignore[index]
    excluded = next(e for e in expressions if e["key"] == "kubernetes.io/metadata.name")
    assert excluded["operator"] == "NotIn"
    assert set(excluded["values"]) == {"kube-system", "kube-public", "kube-node-lease", "tenantgate-system"}


def test_own_namespace_is_configurable() -> None:
    options = RoutingOptions(own_namespace="platform", own_usernames=("system:serviceaccount:platform:tg",))
    mutating, _ = webhook_configurations(WebhookEndpoint(url="https://x"), CA, options)
    hook = mutating["webhooks"][0]
    assert "platform" in hook["namespaceSelector"]["matchExpressions"][0]["values"]
    assert "'system:serviceaccount:platform:tg'" in hook["matchConditions"][0]["expression"]


def test_own_identity_and_control_plane_controllers_skip_admission() -> None:
    for hook in all_hooks():
        expressions = " ".join(c["expression"] for c in hook["matchConditions"])  # type: ignore[attr-defined]
        assert "system:serviceaccount:tenantgate-system:tenantgate" in expressions
        assert "system:serviceaccount:kube-system:" in expressions


def test_workloads_are_routed_only_from_tenant_namespaces() -> None:
    for hook in all_hooks():
        if "tenant-workloads" not in str(hook["name"]):
            continue
        keys = {e["key"]: e["operator"] for e in hook["namespaceSelector"]["matchExpressions"]}  # type: ignore[index]
        assert keys["app.kubeop.io/tenant"] == "Exists"
        resources = {r for rule in hook["rules"] for r in rule["resources"]}  # type: ignore[attr-defined]
        assert {"pods", "deployments", "cronjobs", "ingresses", "networkpolicies", "resourcequotas"} <= resources


def test_tenantgate_kinds_are_defaulted_and_validated_in_every_group() -> None:
    mutating, validating = webhook_configurations(WebhookEndpoint(url="https://x"), CA)
    assert mutating["webhooks"][0]["rules"][0]["apiGroups"] == list(TENANTGATE_GROUPS)
    assert mutating["webhooks"][0]["reinvocationPolicy"] == "IfNeeded"
    assert "DELETE" in validating["webhooks"][0]["rules"][0]["operations"]
