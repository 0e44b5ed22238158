"""The Mutating and Validating webhook configurations that route API server writes to tenantgate.

Built by one pure function so that `tenantgate dev` (URL mode, `https://127.0.0.1:<port>`), the end-to-end tests
and the Helm chart's values describe the same routing. The shape answers one constraint: a webhook outage must
never block the control plane or tenantgate's own recovery. Hence system namespaces and tenantgate's own
namespace are excluded by `namespaceSelector`, requests from tenantgate's own identities and from the control
plane's controllers skip the webhook by `matchConditions`, and workloads are only routed from tenant namespaces.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MUTATING_NAME = "tenantgate-mutating"
VALIDATING_NAME = "tenantgate-validating"
TENANT_LABEL = "app.kubeop.io/tenant"
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")

# The API groups tenantgate serves (API.md Part A).
TENANTGATE_GROUPS = (
    "apps.shophub.local",
    "notify.shophub.local",
    "payments.shophub.local",
    "paas.kubeop.io",
    "thismatters.github",
    "blindage.org",
)

# Workload-bearing resources that guardrails inspect in tenant namespaces: (group, version, resources).
WORKLOAD_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("", "v1", ("pods", "services", "resourcequotas", "limitranges", "persistentvolumeclaims")),
    ("apps", "v1", ("deployments", "statefulsets", "daemonsets", "replicasets")),
    ("batch", "v1", ("jobs", "cronjobs")),
    ("networking.k8s.io", "v1", ("ingresses", "networkpolicies")),
)


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


def _workload_rules(operations: Sequence[str]) -> list[dict[str, Any]]:
    return [
        _rule([group], [version], resources, operations, "Namespaced") for group, version, resources in WORKLOAD_RULES
    ]


def webhook_configurations(
    endpoint: WebhookEndpoint, ca_bundle: bytes, options: RoutingOptions | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (mutating, validating) configurations, ready to `kubectl apply`."""
    options = options or RoutingOptions()
    own_kinds = _rule(TENANTGATE_GROUPS, ["*"], ["*"], ["CREATE", "UPDATE"])
    own_kinds_with_delete = _rule(TENANTGATE_GROUPS, ["*"], ["*"], ["CREATE", "UPDATE", "DELETE"])
    everywhere = _excluded_namespaces_selector(options)
    tenant_only = _tenant_namespaces_selector(options)
    labels = {"app.kubernetes.io/name": "tenantgate", "app.kubernetes.io/managed-by": "tenantgate"}
    mutating = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": MUTATING_NAME, "labels": labels},
        "webhooks": [
            _webhook(
                "defaults.tenantgate.io",
                endpoint,
                "/mutate",
                ca_bundle,
                [own_kinds],
                everywhere,
                options,
                mutating=True,
            ),
            _webhook(
                "tenant-workloads.mutate.tenantgate.io",
                endpoint,
                "/mutate",
                ca_bundle,
                _workload_rules(["CREATE", "UPDATE"]),
                tenant_only,
                options,
                mutating=True,
            ),
        ],
    }
    validating = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": VALIDATING_NAME, "labels": labels},
        "webhooks": [
            _webhook(
                "guardrails.tenantgate.io",
                endpoint,
                "/validate",
                ca_bundle,
                [own_kinds_with_delete],
                everywhere,
                options,
                mutating=False,
            ),
            _webhook(
                "tenant-workloads.validate.tenantgate.io",
                endpoint,
                "/validate",
                ca_bundle,
                _workload_rules(["CREATE", "UPDATE", "DELETE"]),
                tenant_only,
                options,
                mutating=False,
            ),
            _webhook(
                "namespaces.validate.tenantgate.io",
                endpoint,
                "/validate",
                ca_bundle,
                [_rule([""], ["v1"], ["namespaces"], ["CREATE", "UPDATE", "DELETE"], "Cluster")],
                everywhere,
                options,
                mutating=False,
            ),
        ],
    }
    return mutating, validating
