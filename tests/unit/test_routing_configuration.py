"""The webhook configurations route exactly what the design says, and nothing that could wedge the cluster."""

from __future__ import annotations

import base64

import pytest

from admission.configuration import RoutingOptions, WebhookEndpoint, routed_operations, webhook_configurations
from admission.protocol import Operation
from admission.registry import ANY, Registries
from admission.resources import CUSTOM_RESOURCES, UnroutableKind, resource_of
from admission.rules import build_registries
from admission.verdict import allowed
from crds.registry import groups

pytestmark = pytest.mark.unit

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def all_hooks() -> list[dict[str, object]]:
    """Every webhook of both routings (single call and separate calls)."""
    hooks: list[dict[str, object]] = []
    for single_call in (True, False):
        options = RoutingOptions(single_call=single_call)
        mutating, validating = webhook_configurations(WebhookEndpoint(url="https://127.0.0.1:9443"), CA, options)
        hooks += [*mutating["webhooks"], *validating["webhooks"]]
    return hooks


SEPARATE = RoutingOptions(single_call=False)


@pytest.mark.parametrize(("options", "mutating_path"), [(RoutingOptions(), "/admit"), (SEPARATE, "/mutate")])
def test_url_mode_points_each_hook_at_its_path(options: RoutingOptions, mutating_path: str) -> None:
    mutating, validating = webhook_configurations(WebhookEndpoint(url="https://127.0.0.1:9443/"), CA, options)
    assert {h["clientConfig"]["url"] for h in mutating["webhooks"]} == {f"https://127.0.0.1:9443{mutating_path}"}
    assert {h["clientConfig"]["url"] for h in validating["webhooks"]} == {"https://127.0.0.1:9443/validate"}


def test_service_mode_names_the_service() -> None:
    endpoint = WebhookEndpoint(service_name="tenantgate-webhook", service_namespace="tenantgate-system")
    mutating, _ = webhook_configurations(endpoint, CA)
    assert mutating["webhooks"][0]["clientConfig"]["service"] == {
        "name": "tenantgate-webhook",
        "namespace": "tenantgate-system",
        "path": "/admit",
        "port": 443,
    }


def test_ca_bundle_is_base64_of_the_pem() -> None:
    for hook in all_hooks():
        assert base64.b64decode(hook["clientConfig"]["caBundle"]) == CA  # type: ignore[index]


@pytest.mark.parametrize("hook", all_hooks(), ids=lambda h: f"{h['name']}{h['clientConfig']['url']}")  # type: ignore[index]
def test_every_hook_fails_closed_fast_and_without_side_effects(hook: dict[str, object]) -> None:
    assert hook["failurePolicy"] == "Fail"
    assert hook["sideEffects"] == "None"
    assert hook["timeoutSeconds"] == 5
    assert hook["admissionReviewVersions"] == ["v1"]


@pytest.mark.parametrize("hook", all_hooks(), ids=lambda h: f"{h['name']}{h['clientConfig']['url']}")  # type: ignore[index]
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
    workload_hooks = [hook for hook in all_hooks() if "tenant-workloads" in str(hook["name"])]
    assert len(workload_hooks) == 4  # mutating and validating, in both routings
    for hook in workload_hooks:
        keys = {e["key"]: e["operator"] for e in hook["namespaceSelector"]["matchExpressions"]}  # type: ignore[index]
        assert keys["app.kubeop.io/tenant"] == "Exists"
    for single_call in (True, False):
        mutating, validating = webhook_configurations(
            WebhookEndpoint(url="https://x"), CA, RoutingOptions(single_call=single_call)
        )
        workloads = [h for h in (*mutating["webhooks"], *validating["webhooks"]) if "tenant-workloads" in h["name"]]
        resources = {r for hook in workloads for rule in hook["rules"] for r in rule["resources"]}
        assert {"pods", "deployments", "cronjobs", "ingresses", "networkpolicies", "resourcequotas"} <= resources


def test_tenantgate_kinds_are_defaulted_and_validated_in_every_group() -> None:
    mutating, validating = webhook_configurations(WebhookEndpoint(url="https://x"), CA)
    defaults, guardrails = mutating["webhooks"][0], validating["webhooks"][0]
    assert {g for rule in defaults["rules"] for g in rule["apiGroups"]} == set(groups())
    assert {r for rule in defaults["rules"] for r in rule["resources"]} == {r.plural for r in CUSTOM_RESOURCES}
    assert defaults["reinvocationPolicy"] == "IfNeeded"
    assert any("DELETE" in rule["operations"] for rule in guardrails["rules"])


def routes(hooks: list[dict[str, object]]) -> set[tuple[str, str, str, str]]:
    """(group, version, resource, operation) of every request the hooks send to the webhook."""
    return {
        (group, version, resource, operation)
        for hook in hooks
        for rule in hook["rules"]  # type: ignore[attr-defined]
        for group in rule["apiGroups"]
        for version in rule["apiVersions"]
        for resource in rule["resources"]
        for operation in rule["operations"]
    }


def registered(registries: Registries) -> dict[str, set[tuple[str, str, str, str]]]:
    found: dict[str, set[tuple[str, str, str, str]]] = {"mutating": set(), "validating": set()}
    for name, registry in (("mutating", registries.mutating), ("validating", registries.validating)):
        for group, kind, operations in registry.registrations():
            resource = resource_of(group, kind)
            found[name] |= {(resource.group, resource.version, resource.plural, op) for op in operations}
    return found


def test_separate_calls_route_every_registered_rule_and_every_route_has_a_rule() -> None:
    registries = build_registries()
    mutating, validating = webhook_configurations(WebhookEndpoint(url="https://x"), CA, SEPARATE, registries)
    wanted = registered(registries)
    assert routes(mutating["webhooks"]) == wanted["mutating"]
    assert routes(validating["webhooks"]) == wanted["validating"]


def test_a_single_call_routes_every_write_to_exactly_one_configuration() -> None:
    registries = build_registries()
    mutating, validating = webhook_configurations(WebhookEndpoint(url="https://x"), CA, registries=registries)
    wanted = registered(registries)
    admitted, validated = routes(mutating["webhooks"]), routes(validating["webhooks"])
    assert admitted == wanted["mutating"]
    assert admitted.isdisjoint(validated), "a write routed twice costs two calls"
    assert admitted | validated == wanted["mutating"] | wanted["validating"], "every judged write is routed"
    # What is left to the validating call is what no default is registered for: deletions and Namespaces.
    assert {operation for _, _, resource, operation in validated if resource != "namespaces"} == {"DELETE"}
    assert ("", "v1", "namespaces", "CREATE") in validated
    assert ("", "v1", "pods", "CREATE") in admitted
    assert ("", "v1", "pods", "CREATE") not in validated


def test_a_single_call_keeps_the_names_users_see_in_refusals() -> None:
    mutating, _ = webhook_configurations(WebhookEndpoint(url="https://x"), CA)
    assert [h["name"] for h in mutating["webhooks"]] == ["guardrails.tenantgate.io", "tenant-workloads.tenantgate.io"]
    assert all(h["reinvocationPolicy"] == "IfNeeded" for h in mutating["webhooks"])


@pytest.mark.parametrize("single_call", [True, False])
def test_every_route_reaches_a_rule_that_judges_it(single_call: bool) -> None:
    registries = build_registries()
    options = RoutingOptions(single_call=single_call)
    mutating, validating = webhook_configurations(WebhookEndpoint(url="https://x"), CA, options, registries)
    by_plural = {(r.group, r.plural): r for r in map(lambda key: resource_of(*key), _kinds(registries))}
    for hooks, registry in ((mutating, registries.mutating), (validating, registries.validating)):
        for group, _version, plural, operation in routes(hooks["webhooks"]):
            resource = by_plural[(group, plural)]
            op: Operation = operation  # type: ignore[assignment]
            assert registry.handlers_for(resource.group, resource.kind, op), (plural, operation)


def _kinds(registries: Registries) -> set[tuple[str, str]]:
    return {(g, k) for reg in (registries.mutating, registries.validating) for g, k, _ in reg.registrations()}


@pytest.mark.parametrize("single_call", [True, False])
def test_replication_controllers_are_routed_for_their_pod_template(single_call: bool) -> None:
    mutating, validating = webhook_configurations(
        WebhookEndpoint(url="https://x"), CA, RoutingOptions(single_call=single_call)
    )
    judged_by = mutating if single_call else validating
    assert ("", "v1", "replicationcontrollers", "CREATE") in routes(judged_by["webhooks"])


def test_a_rule_for_a_kind_without_a_route_fails_generation() -> None:
    registries = build_registries()
    registries.validating.add("example.com", "Widget", ("CREATE",), lambda request, view: allowed())
    with pytest.raises(UnroutableKind, match=r"Widget\.example\.com"):
        webhook_configurations(WebhookEndpoint(url="https://x"), CA, registries=registries)


def test_a_rule_for_any_kind_cannot_be_routed() -> None:
    registries = build_registries()
    registries.validating.add(ANY, ANY, ("CREATE",), lambda request, view: allowed())
    with pytest.raises(ValueError, match="name its kinds"):
        routed_operations(registries.validating)


def test_a_route_without_rules_is_left_out() -> None:
    mutating, validating = webhook_configurations(WebhookEndpoint(url="https://x"), CA, registries=Registries())
    assert mutating["webhooks"] == []
    assert validating["webhooks"] == []
