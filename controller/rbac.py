"""The ClusterRoles tenantgate ships: the one tenant owners get in each of their project namespaces (through
RoleBinding tenantgate-owners), and the controller's own.

Kept as data here, the single source: `tenantgate chart` renders them into the Helm chart
(`deploy/chart/templates/generated-rbac.yaml`, a unit test keeps it fresh), and the dev runner and the end-to-end
tests install the chart or these functions' output, so all install the same rules.

What an owner may do in a project namespace: run and configure workloads and the platform's own namespaced
kinds, read (but not change) the guardrails the platform put there: quota, limits and network policies. Binding
roles is allowed (RBAC's escalation check still limits an owner to permissions they hold themselves).
"""

from __future__ import annotations

import copy
from typing import Any

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


def _cluster_role(name: str, component: str, rules: list[dict[str, list[str]]]) -> dict[str, Any]:
    """A fresh ClusterRole (callers may modify it; YAML rendering must not see shared lists as aliases)."""
    return copy.deepcopy(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {
                "name": name,
                "labels": {"app.kubernetes.io/name": "tenantgate", "app.kubernetes.io/component": component},
            },
            "rules": [{key: list(value) for key, value in rule.items()} for rule in rules],
        }
    )


def tenant_admin_cluster_role() -> dict[str, Any]:
    return _cluster_role(TENANT_ADMIN_CLUSTER_ROLE, "tenant-admin", TENANT_ADMIN_RULES)


TENANT_OWNER_CLUSTER_ROLE = "tenantgate-tenant-owner"
TENANT_OWNER_RULES: list[dict[str, list[str]]] = [
    {"apiGroups": ["paas.kubeop.io"], "resources": ["tenants", "policies"], "verbs": _READ},
    {
        "apiGroups": ["paas.kubeop.io"],
        "resources": ["projects", "registries", "dnsrecords", "certificates"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
]
"""The cluster-scoped kinds a tenant's owners write; bound per tenant by a ClusterRoleBinding to its owners.

Cluster-wide on paper: admission narrows every write to the owner's own tenant (Projects with its tenantRef, its
Registries, DNSRecords and Certificates). Tenants and Policies (egress exceptions) are read-only: platform admins
write them."""


def tenant_owner_cluster_role() -> dict[str, Any]:
    return _cluster_role(TENANT_OWNER_CLUSTER_ROLE, "tenant-owner", TENANT_OWNER_RULES)


# ---- the controller ----------------------------------------------------------------------------------------

_CHILD = ["get", "list", "watch", "create", "patch", "delete"]
"""What the applier needs on a child kind: the owned cache (list, watch), a read when the cache is cold (get),
server-side apply (patch, plus create when the apply creates the object) and pruning (delete)."""

_CACHED = ["list", "watch"]
"""What an informer needs: the controller reads its primaries from caches alone."""

CONTROLLER_CLUSTER_ROLE = "tenantgate-controller"

CONTROLLER_RULES: list[dict[str, Any]] = [
    # Primaries: only ever read from their caches (list, watch; never a GET), status written by merge patch;
    # Projects, Registries, DNSRecords, Certificates, DiscordChannels and Shops (Grafana) also carry a finalizer.
    {"apiGroups": ["paas.kubeop.io"], "resources": ["tenants", "policies", "apps"], "verbs": _CACHED},
    {
        "apiGroups": ["paas.kubeop.io"],
        "resources": ["projects", "registries", "dnsrecords", "certificates"],
        "verbs": [*_CACHED, "patch"],
    },
    {"apiGroups": ["apps.shophub.local"], "resources": ["shops"], "verbs": [*_CACHED, "patch"]},
    {"apiGroups": ["notify.shophub.local"], "resources": ["discordchannels"], "verbs": [*_CACHED, "patch"]},
    {"apiGroups": ["payments.shophub.local"], "resources": ["wallets"], "verbs": _CACHED},
    {"apiGroups": ["thismatters.github", "blindage.org"], "resources": ["djangos"], "verbs": _CACHED},
    {
        "apiGroups": ["paas.kubeop.io"],
        "resources": [
            "tenants/status",
            "projects/status",
            "policies/status",
            "registries/status",
            "apps/status",
            "dnsrecords/status",
            "certificates/status",
        ],
        "verbs": ["patch"],
    },
    {"apiGroups": ["apps.shophub.local"], "resources": ["shops/status"], "verbs": ["patch"]},
    {"apiGroups": ["notify.shophub.local"], "resources": ["discordchannels/status"], "verbs": ["patch"]},
    {"apiGroups": ["thismatters.github", "blindage.org"], "resources": ["djangos/status"], "verbs": ["patch"]},
    {"apiGroups": ["payments.shophub.local"], "resources": ["wallets/status"], "verbs": ["patch"]},
    # blockOwnerDeletion on children needs this where OwnerReferencesPermissionEnforcement is enabled.
    {
        "apiGroups": ["paas.kubeop.io"],
        "resources": [
            "projects/finalizers",
            "registries/finalizers",
            "apps/finalizers",
            "dnsrecords/finalizers",
            "certificates/finalizers",
        ],
        "verbs": ["update"],
    },
    {"apiGroups": ["apps.shophub.local"], "resources": ["shops/finalizers"], "verbs": ["update"]},
    {"apiGroups": ["notify.shophub.local"], "resources": ["discordchannels/finalizers"], "verbs": ["update"]},
    {"apiGroups": ["thismatters.github", "blindage.org"], "resources": ["djangos/finalizers"], "verbs": ["update"]},
    {"apiGroups": ["payments.shophub.local"], "resources": ["wallets/finalizers"], "verbs": ["update"]},
    # Built-in children. Namespaces, quotas, limits and network policies are the Project's; ConfigMaps and
    # Secrets are also read cluster-wide (Shop and Django follow the ones their pods use); ServiceAccounts are
    # patched by Registries (imagePullSecrets). The workload kinds are also what a Raw App may deliver
    # (controller.reconcilers.app_raw.RAW_KINDS), so the controller holds no wildcard.
    {
        "apiGroups": [""],
        "resources": [
            "namespaces",
            "limitranges",
            "resourcequotas",
            "configmaps",
            "secrets",
            "services",
            "serviceaccounts",
            "persistentvolumeclaims",
            "pods",
        ],
        "verbs": _CHILD,
    },
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets"], "verbs": _CHILD},
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": _CHILD},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": _CHILD},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _CHILD},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "networkpolicies"], "verbs": _CHILD},
    # RoleBinding tenantgate-owners (Project) and the MongoDB Shops' shared Role and RoleBinding. Creating that
    # Role needs the rights it grants (secrets get; pods get, patch, delete), which the rules above hold.
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": _CHILD},
    # Binding the tenant-admin role without holding all of its rights.
    {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["clusterroles"],
        "verbs": ["bind"],
        "resourceNames": [TENANT_ADMIN_CLUSTER_ROLE],
    },
    # Third-party children: databases (Shop), monitoring (Shop, optional), Flux delivery (App), external-dns
    # (DNSRecord) and cert-manager (Certificate).
    {"apiGroups": ["postgresql.cnpg.io"], "resources": ["clusters"], "verbs": _CHILD},
    {"apiGroups": ["mongodbcommunity.mongodb.com"], "resources": ["mongodbcommunity"], "verbs": _CHILD},
    {
        "apiGroups": ["monitoring.coreos.com"],
        "resources": ["servicemonitors", "alertmanagerconfigs"],
        "verbs": _CHILD,
    },
    {
        "apiGroups": ["source.toolkit.fluxcd.io"],
        "resources": ["helmrepositories", "gitrepositories"],
        "verbs": _CHILD,
    },
    {"apiGroups": ["helm.toolkit.fluxcd.io"], "resources": ["helmreleases"], "verbs": _CHILD},
    {"apiGroups": ["kustomize.toolkit.fluxcd.io"], "resources": ["kustomizations"], "verbs": _CHILD},
    {"apiGroups": ["externaldns.k8s.io"], "resources": ["dnsendpoints"], "verbs": _CHILD},
    {"apiGroups": ["cert-manager.io"], "resources": ["certificates"], "verbs": _CHILD},
    # The engine: leader election and Events.
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create"]},
]


def controller_cluster_role() -> dict[str, Any]:
    """The controller's ClusterRole (bound to its ServiceAccount by a ClusterRoleBinding)."""
    return _cluster_role(CONTROLLER_CLUSTER_ROLE, "controller", CONTROLLER_RULES)
