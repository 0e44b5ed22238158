"""The controller's ClusterRole: the YAML is rendered from the code, and it covers every cache and child kind."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from controller.cli import RECONCILERS
from controller.config import ManagerConfig
from controller.manager import Manager, build_manager
from controller.rbac import (
    controller_cluster_role,
    controller_yaml_path,
    render_controller_yaml,
    render_tenant_owner_yaml,
    tenant_owner_cluster_role,
    tenant_owner_yaml_path,
)
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


def test_controller_cluster_role_file_matches_the_code() -> None:
    assert yaml.safe_load(controller_yaml_path().read_text()) == controller_cluster_role()
    assert controller_yaml_path().read_text() == render_controller_yaml()


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


def test_tenant_owner_cluster_role_file_matches_the_code_and_policies_are_read_only() -> None:
    assert tenant_owner_yaml_path().read_text() == render_tenant_owner_yaml()
    role = tenant_owner_cluster_role()
    writable = {r for rule in role["rules"] if "create" in rule["verbs"] for r in rule["resources"]}
    assert writable == {"projects", "registries", "dnsrecords", "certificates"}
