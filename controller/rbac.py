"""The ClusterRole tenant owners get in each of their project namespaces (through RoleBinding tenantgate-owners).

Kept as data here, the single source, and rendered to `deploy/rbac/tenant-admin-clusterrole.yaml` (a unit test
keeps the two equal), so the chart, the dev runner and the end-to-end tests install the same rules.

What an owner may do in a project namespace: run and configure workloads and the platform's own namespaced
kinds, read (but not change) the guardrails the platform put there: quota, limits and network policies. Binding
roles is allowed (RBAC's escalation check still limits an owner to permissions they hold themselves).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from controller.reconcilers.tenancy import TENANT_ADMIN_CLUSTER_ROLE

_ALL = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
_READ = ["get", "list", "watch"]

TENANT_ADMIN_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [""],
        "resources": [
            "pods",
            "pods/log",
            "pods/exec",
            "pods/portforward",
            "pods/attach",
            "services",
            "endpoints",
            "configmaps",
            "secrets",
            "serviceaccounts",
            "persistentvolumeclaims",
            "replicationcontrollers",
        ],
        "verbs": _ALL,
    },
    {"apiGroups": [""], "resources": ["events", "resourcequotas", "limitranges", "pods/status"], "verbs": _READ},
    {
        "apiGroups": ["apps"],
        "resources": [
            "deployments",
            "deployments/scale",
            "statefulsets",
            "statefulsets/scale",
            "replicasets",
            "daemonsets",
        ],
        "verbs": _ALL,
    },
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": _ALL},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": _ALL},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _ALL},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": _ALL},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": _READ},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": _READ},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": _ALL},
    {"apiGroups": ["paas.kubeop.io"], "resources": ["apps"], "verbs": _ALL},
    {"apiGroups": ["apps.shophub.local"], "resources": ["shops", "shops/scale"], "verbs": _ALL},
    {"apiGroups": ["notify.shophub.local"], "resources": ["discordchannels"], "verbs": _ALL},
    {"apiGroups": ["payments.shophub.local"], "resources": ["wallets"], "verbs": _ALL},
    {"apiGroups": ["thismatters.github", "blindage.org"], "resources": ["djangos"], "verbs": _ALL},
    {
        "apiGroups": [
            "paas.kubeop.io",
            "apps.shophub.local",
            "notify.shophub.local",
            "payments.shophub.local",
            "thismatters.github",
            "blindage.org",
        ],
        "resources": ["*/status"],
        "verbs": _READ,
    },
]


def tenant_admin_cluster_role() -> dict[str, Any]:
    """A fresh copy (callers may modify it; YAML rendering must not see shared lists as aliases)."""
    return copy.deepcopy(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {
                "name": TENANT_ADMIN_CLUSTER_ROLE,
                "labels": {"app.kubernetes.io/name": "tenantgate", "app.kubernetes.io/component": "tenant-admin"},
            },
            "rules": [{key: list(value) for key, value in rule.items()} for rule in TENANT_ADMIN_RULES],
        }
    )


def render_yaml() -> str:
    header = (
        "# Generated from controller/rbac.py (tenant_admin_cluster_role); keep the two equal.\n"
        "# Granted to a Tenant's spec.owners in each of its project namespaces by RoleBinding tenantgate-owners.\n"
    )
    return header + yaml.safe_dump(tenant_admin_cluster_role(), sort_keys=False)


def repository_yaml_path() -> Path:
    return Path(__file__).resolve().parent.parent / "deploy" / "rbac" / "tenant-admin-clusterrole.yaml"
