"""The Mutating and Validating webhook configurations that route API server writes to tenantgate.

Generated from the registered rules: every (kind, operation) a rule judges is routed, and nothing else, so a kind
cannot be judged offline (`tenantgate review`) and slip past the webhook in a cluster. Built by one pure function
so that `tenantgate dev` (URL mode, `https://127.0.0.1:<port>`), the end-to-end tests
and the Helm chart's values describe the same routing. The shape answers one constraint: a webhook outage must
never block the control plane or tenantgate's own recovery. Hence system namespaces and tenantgate's own
namespace are excluded by `namespaceSelector`, requests from tenantgate's own identities and from the control
plane's controllers skip the webhook by `matchConditions`, and workloads are only routed from tenant namespaces.

Two routings, chosen by `RoutingOptions.single_call`:
- single call (the default): a write that has defaults goes to the mutating configuration only, at `/admit`,
  which defaults and then judges the result; what no default touches (deletions, Namespaces) goes to the
  validating configuration. Every write costs the API server one webhook call. `reinvocationPolicy: IfNeeded`
  brings the object back when a later mutating webhook changes it, so the stored object is the judged one.
- separate calls: defaults at `/mutate`, then every guardrail at `/validate` in the validating configuration,
  after all mutating webhooks have run; two calls per write. For platforms whose own mutating webhooks must
  be judged after a second change (reinvocation runs once).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from admission.protocol import OPERATIONS, Operation
from admission.registry import ANY, HandlerRegistry, Registries
from admission.resources import CUSTOM_KINDS, kind_key, resource_of, scope_of
from admission.rules import build_registries
from kube.client import ResourceType
from tenancy.labels import TENANT_LABEL

Rule = dict[str, Any]

MUTATING_NAME = "tenantgate-mutating"
VALIDATING_NAME = "tenantgate-validating"
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where the API server reaches the webhook: a URL (local runs) or an in-cluster Service."""

    url: str | None = None
    service_name: str | None = None
    service_namespace: str | None = None
    service_port: int = 443

    def client_config(self, path: str, ca_bundle: bytes) -> dict[str, Any]:
        config: dict[str, Any] = {"caBundle": base64.b64encode(ca_bundle).decode()}
        if self.url is not None:
            config["url"] = self.url.rstrip("/") + path
        else:
            config["service"] = {
                "name": self.service_name,
                "namespace": self.service_namespace,
                "path": path,
                "port": self.service_port,
            }
        return config


@dataclass(frozen=True)
class RoutingOptions:
    own_namespace: str = "tenantgate-system"
    # Identities whose writes skip admission: tenantgate's controller and webhook service accounts.
    own_usernames: Sequence[str] = field(
        default_factory=lambda: ("system:serviceaccount:tenantgate-system:tenantgate",)
    )
    timeout_seconds: int = 5
    single_call: bool = True
    """Judge a write in the mutating call (`/admit`) instead of a second, validating call (module docstring)."""


def _excluded_namespaces_selector(options: RoutingOptions) -> dict[str, Any]:
    return {
        "matchExpressions": [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": [*SYSTEM_NAMESPACES, options.own_namespace],
            }
        ]
    }


def _tenant_namespaces_selector(options: RoutingOptions) -> dict[str, Any]:
    selector = _excluded_namespaces_selector(options)
    selector["matchExpressions"].append({"key": TENANT_LABEL, "operator": "Exists"})
    return selector


def _cel_string_list(values: Sequence[str]) -> str:
    return "[" + ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values) + "]"


def _match_conditions(options: RoutingOptions) -> list[dict[str, str]]:
    return [
        {
            "name": "not-tenantgate-itself",
            "expression": f"!(request.userInfo.username in {_cel_string_list(options.own_usernames)})",
        },
        {
            # The control plane's own controllers (garbage collector, namespace deletion, replica sets) act on
            # objects that were already admitted; blocking them would only wedge clean-up.
            "name": "not-control-plane-controllers",
            "expression": "!request.userInfo.username.startsWith('system:serviceaccount:kube-system:')"
            " && request.userInfo.username != 'system:kube-controller-manager'",
        },
    ]


def _rule(
    groups: Sequence[str],
    versions: Sequence[str],
    resources: Sequence[str],
    operations: Sequence[str],
    scope: str = "*",
) -> dict[str, Any]:
    return {
        "apiGroups": list(groups),
        "apiVersions": list(versions),
        "resources": list(resources),
        "operations": list(operations),
        "scope": scope,
    }


def _webhook(
    name: str,
    endpoint: WebhookEndpoint,
    path: str,
    ca_bundle: bytes,
    rules: list[dict[str, Any]],
    namespace_selector: dict[str, Any],
    options: RoutingOptions,
    mutating: bool,
) -> dict[str, Any]:
    hook: dict[str, Any] = {
        "name": name,
        "admissionReviewVersions": ["v1"],
        "clientConfig": endpoint.client_config(path, ca_bundle),
        "rules": rules,
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "namespaceSelector": namespace_selector,
        "matchConditions": _match_conditions(options),
        "sideEffects": "None",
        "timeoutSeconds": options.timeout_seconds,
    }
    if mutating:
        hook["reinvocationPolicy"] = "IfNeeded"
    return hook


def routed_operations(registry: HandlerRegistry) -> dict[ResourceType, frozenset[Operation]]:
    """Each resource a registry's rules judge, with the operations they judge it for.

    Raises `UnroutableKind` for a rule registered for a kind the catalogue cannot route, and ValueError for a rule
    registered for any kind (`"*"`): routing must name what it sends, so shipped rules name their kinds.
    """
    routed: dict[ResourceType, set[Operation]] = {}
    for group, kind, operations in registry.registrations():
        if ANY in (group, kind):
            raise ValueError(f"the {registry.name} rules hold a rule for any kind ({group}/{kind}): name its kinds")
        routed.setdefault(resource_of(group, kind), set()).update(operations)
    return {resource: frozenset(operations) for resource, operations in routed.items()}


def _rules_for(
    routed: Mapping[ResourceType, frozenset[Operation]], wanted: Callable[[ResourceType], bool]
) -> list[Rule]:
    """Webhook rules for the routed resources `wanted` selects: one per (group, version, operations, scope)."""
    grouped: dict[tuple[str, str, tuple[str, ...], str], list[str]] = {}
    for resource, operations in routed.items():
        if wanted(resource):
            key = (
                resource.group,
                resource.version,
                tuple(o for o in OPERATIONS if o in operations),
                scope_of(resource),
            )
            grouped.setdefault(key, []).append(resource.plural)
    return [
        _rule([group], [version], sorted(plurals), operations, scope)
        for (group, version, operations, scope), plurals in sorted(grouped.items())
    ]


def _custom(resource: ResourceType) -> bool:
    return kind_key(resource) in CUSTOM_KINDS


def _tenant_workload(resource: ResourceType) -> bool:
    return kind_key(resource) not in CUSTOM_KINDS and resource.namespaced


def _cluster_builtin(resource: ResourceType) -> bool:
    return kind_key(resource) not in CUSTOM_KINDS and not resource.namespaced


def left_to_validating(
    validations: Mapping[ResourceType, frozenset[Operation]], mutations: Mapping[ResourceType, frozenset[Operation]]
) -> dict[ResourceType, frozenset[Operation]]:
    """What the validating configuration still routes when the mutating call judges too: the operations no
    default is registered for (deletions, kinds without defaults). Pure."""
    left = {resource: operations - mutations.get(resource, frozenset()) for resource, operations in validations.items()}
    return {resource: operations for resource, operations in left.items() if operations}


def webhook_configurations(
    endpoint: WebhookEndpoint,
    ca_bundle: bytes,
    options: RoutingOptions | None = None,
    registries: Registries | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (mutating, validating) configurations for `registries` (the shipped rules by default), ready to apply.

    tenantgate's own kinds are routed from every namespace but the excluded ones; built-in namespaced kinds from
    tenant namespaces only; built-in cluster-scoped kinds (Namespaces) everywhere. A webhook with no rules is left
    out (the API server rejects an empty `rules` list as routing nothing). With `options.single_call` each
    routed write reaches exactly one of the two configurations (module docstring).
    """
    options = options or RoutingOptions()
    registries = registries or build_registries()
    mutations = routed_operations(registries.mutating)
    validations = routed_operations(registries.validating)
    if options.single_call:
        validations = left_to_validating(validations, mutations)
        mutating_path = "/admit"
        custom_name, workloads_name = "guardrails.tenantgate.io", "tenant-workloads.tenantgate.io"
    else:
        mutating_path = "/mutate"
        custom_name, workloads_name = "defaults.tenantgate.io", "tenant-workloads.mutate.tenantgate.io"
    everywhere = _excluded_namespaces_selector(options)
    tenant_only = _tenant_namespaces_selector(options)
    labels = {"app.kubernetes.io/name": "tenantgate", "app.kubernetes.io/managed-by": "tenantgate"}
    mutating: dict[str, Any] = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": MUTATING_NAME, "labels": labels},
        "webhooks": [
            _webhook(
                custom_name,
                endpoint,
                mutating_path,
                ca_bundle,
                _rules_for(mutations, _custom),
                everywhere,
                options,
                mutating=True,
            ),
            _webhook(
                workloads_name,
                endpoint,
                mutating_path,
                ca_bundle,
                _rules_for(mutations, _tenant_workload),
                tenant_only,
                options,
                mutating=True,
            ),
        ],
    }
    validating: dict[str, Any] = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": VALIDATING_NAME, "labels": labels},
        "webhooks": [
            _webhook(
                "guardrails.tenantgate.io",
                endpoint,
                "/validate",
                ca_bundle,
                _rules_for(validations, _custom),
                everywhere,
                options,
                mutating=False,
            ),
            _webhook(
                "tenant-workloads.validate.tenantgate.io",
                endpoint,
                "/validate",
                ca_bundle,
                _rules_for(validations, _tenant_workload),
                tenant_only,
                options,
                mutating=False,
            ),
            _webhook(
                "namespaces.validate.tenantgate.io",
                endpoint,
                "/validate",
                ca_bundle,
                _rules_for(validations, _cluster_builtin),
                everywhere,
                options,
                mutating=False,
            ),
        ],
    }
    for configuration in (mutating, validating):
        configuration["webhooks"] = [hook for hook in configuration["webhooks"] if hook["rules"]]
    return mutating, validating
