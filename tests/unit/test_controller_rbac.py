"""The controller's ClusterRole: the YAML is rendered from the code, and it covers every cache and child kind."""

from __future__ import annotations

from typing import Any

import pytest

from controller.cli import RECONCILERS
from controller.config import ManagerConfig
from controller.manager import Manager, build_manager
from controller.rbac import controller_cluster_role, tenant_owner_cluster_role
from controller.reconcilers.app_raw import RAW_KINDS
from crds.registry import by_kind
from kube.client import BUILTINS, Connection

pytestmark = pytest.mark.unit

THIRD_PARTY_PLURALS = {
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "CronJob": "cronjobs",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "Cluster": "clusters",
    "MongoDBCommunity": "mongodbcommunity",
    "ServiceMonitor": "servicemonitors",
    "AlertmanagerConfig": "alertmanagerconfigs",
    "HelmRepository": "helmrepositories",
    "HelmRelease": "helmreleases",
    "GitRepository": "gitrepositories",
    "Kustomization": "kustomizations",
    "DNSEndpoint": "dnsendpoints",
    "Certificate": "certificates",
}


def plural(api_version: str, kind: str) -> str:
    if (api_version, kind) in BUILTINS:
        return BUILTINS[(api_version, kind)].plural
    ours = by_kind(api_version.rpartition("/")[0], kind)
    return ours.plural if ours is not None else THIRD_PARTY_PLURALS[kind]


def every_reconciler() -> Manager:
    return build_manager(ManagerConfig(health_port=None), RECONCILERS, Connection("http://127.0.0.1:1", False))


def allows(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(
        group in rule["apiGroups"]
        and resource in rule["resources"]
        and verb in rule["verbs"]
        and "resourceNames" not in rule
        for rule in rules
    )


def test_role_has_no_wildcards() -> None:
    for rule in controller_cluster_role()["rules"]:
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"]


def test_every_cache_of_every_reconciler_can_be_listed_and_watched() -> None:
    manager = every_reconciler()
    rules = controller_cluster_role()["rules"]
    keys = {(api_version, kind) for (api_version, kind, *_rest) in manager._informers}
    assert ("paas.kubeop.io/v1alpha1", "App") in keys
    for api_version, kind in keys:
        group, resource = api_version.rpartition("/")[0], plural(api_version, kind)
        for verb in ("list", "watch"):
            assert allows(rules, group, resource, verb), f"{verb} {resource}.{group}"


def test_every_owned_child_kind_can_be_applied_and_pruned() -> None:
    manager = every_reconciler()
    rules = controller_cluster_role()["rules"]
    owned = set(manager._owned) | set(RAW_KINDS)
    for api_version, kind in owned:
        group, resource = api_version.rpartition("/")[0], plural(api_version, kind)
        for verb in ("get", "create", "patch", "delete"):
            assert allows(rules, group, resource, verb), f"{verb} {resource}.{group}"


def test_primaries_status_and_finalizers() -> None:
    rules = controller_cluster_role()["rules"]
    for group, resource in [
        ("paas.kubeop.io", "apps"),
        ("paas.kubeop.io", "projects"),
        ("paas.kubeop.io", "dnsrecords"),
        ("paas.kubeop.io", "certificates"),
        ("apps.shophub.local", "shops"),
        ("blindage.org", "djangos"),
        ("thismatters.github", "djangos"),
    ]:
        assert allows(rules, group, f"{resource}/status", "patch")
        assert allows(rules, group, f"{resource}/finalizers", "update")
    bind = [r for r in rules if r["verbs"] == ["bind"]]
    assert bind == [
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["clusterroles"],
            "verbs": ["bind"],
            "resourceNames": ["tenantgate-tenant-admin"],
        }
    ]


def test_tenant_owners_write_their_cluster_scoped_kinds_and_policies_are_read_only() -> None:
    role = tenant_owner_cluster_role()
    writable = {r for rule in role["rules"] if "create" in rule["verbs"] for r in rule["resources"]}
    assert writable == {"projects", "registries", "dnsrecords", "certificates"}


# What the code declares, verb by verb; the role must grant exactly this (the converse of the tests above).
FINALIZER_KINDS = {
    ("paas.kubeop.io", "projects"),
    ("paas.kubeop.io", "registries"),
    ("paas.kubeop.io", "dnsrecords"),
    ("paas.kubeop.io", "certificates"),
    ("notify.shophub.local", "discordchannels"),
    ("apps.shophub.local", "shops"),
}
"""Primaries whose reconciler adds and removes a finalizer (a merge patch on the object itself)."""
ENGINE = {
    ("coordination.k8s.io", "leases", "get"),
    ("coordination.k8s.io", "leases", "create"),
    ("coordination.k8s.io", "leases", "update"),
    ("events.k8s.io", "events", "create"),
    ("rbac.authorization.k8s.io", "clusterroles", "bind"),
}
"""Leader election (`controller.leader`), Events (`controller.events`), binding the tenant-admin role."""


def declared_grants() -> set[tuple[str, str, str]]:
    manager = every_reconciler()
    grants: set[tuple[str, str, str]] = set(ENGINE)
    for api_version, kind, *_rest in manager._informers:
        grants |= {(api_version.rpartition("/")[0], plural(api_version, kind), v) for v in ("list", "watch")}
    for api_version, kind in set(manager._owned) | set(RAW_KINDS):
        group, resource = api_version.rpartition("/")[0], plural(api_version, kind)
        grants |= {(group, resource, v) for v in ("get", "list", "watch", "create", "patch", "delete")}
    primaries = {
        (c.primary.api_version.rpartition("/")[0], plural(c.primary.api_version, c.primary.kind))
        for c in manager.controllers.values()
    }
    for group, resource in primaries:
        grants.add((group, f"{resource}/status", "patch"))
    owners = primaries - {("paas.kubeop.io", "tenants"), ("paas.kubeop.io", "policies")}
    grants |= {(group, f"{resource}/finalizers", "update") for group, resource in owners}
    grants |= {(group, resource, "patch") for group, resource in FINALIZER_KINDS}
    return grants


def test_the_role_grants_exactly_what_the_code_declares() -> None:
    granted = {
        (group, resource, verb)
        for rule in controller_cluster_role()["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    declared = declared_grants()
    assert granted - declared == set(), "granted, but nothing in the code needs it"
    assert declared - granted == set(), "needed by the code, but not granted"
