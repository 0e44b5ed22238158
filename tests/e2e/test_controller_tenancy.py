"""The tenancy reconcilers against a real control plane, driven through `tenantgate controller`.

Tenant owners act through impersonation; children, ownership, RBAC, quotas, drift repair, deletion, a crash in
the middle of converging fifty Projects, and a steady state that writes nothing are all checked on the API
server itself.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tenantgate.devcluster import ControlPlane
from tests.conftest import unique
from tests.e2e.test_controller_support import (
    LEASE_NAMESPACE,
    TENANT_USERS_GROUP,
    ControllerProcess,
    apply,
    eventually,
    get_json,
    install_platform,
    project,
    tenant,
)

pytestmark = pytest.mark.e2e

MANAGED = "app.kubernetes.io/managed-by=tenantgate"


@pytest.fixture(scope="module")
def controller(cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    install_platform(cluster, LEASE_NAMESPACE)
    process = ControllerProcess(cluster, LEASE_NAMESPACE, unique("tenancy"), tmp_path_factory.mktemp("controller"))
    process.start()
    eventually(process.is_leader, timeout=60, what="leadership")
    yield process
    code = process.stop()
    assert code == 0, process.log_tail()


def project_ready(cluster: ControlPlane, name: str) -> dict[str, Any] | None:
    obj = get_json(cluster, "project", name)
    status = (obj or {}).get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    if status.get("ready") is True and conditions.get("Ready", {}).get("status") == "True":
        return obj
    return None


def children(cluster: ControlPlane, namespace: str) -> dict[str, dict[str, Any]]:
    listed = get_json(cluster, "limitrange,resourcequota,networkpolicy,rolebinding", "-n", namespace, "-l", MANAGED)
    return {f"{i['kind']}/{i['metadata']['name']}": i for i in (listed or {}).get("items", [])}


def settled(cluster: ControlPlane) -> bool:
    """No Project is being deleted and no managed namespace is terminating (earlier tests' cleanup is over)."""
    projects = get_json(cluster, "projects") or {}
    namespaces = get_json(cluster, "namespaces", "-l", MANAGED) or {}
    deleting = [
        o for o in projects.get("items", []) + namespaces.get("items", []) if o["metadata"].get("deletionTimestamp")
    ]
    return not deleting


def quiet_for(controller: ControllerProcess, seconds: float) -> bool:
    """No write for `seconds`: the steady state is reached."""
    start = controller.writes()
    time.sleep(seconds)
    return controller.writes() == start


def cleanup(cluster: ControlPlane, *names: str, kind: str = "project") -> None:
    cluster.kubectl("delete", kind, *names, "--wait=false", "--ignore-not-found", check=False)


def test_owner_creates_tenant_and_project_and_gets_a_guarded_namespace(
    cluster: ControlPlane, controller: ControllerProcess
) -> None:
    alice, bob, name = unique("alice"), unique("bob"), unique("acme")
    groups = (TENANT_USERS_GROUP,)
    apply(cluster, tenant(name, owners=[{"kind": "User", "name": alice}]), as_user=alice, as_groups=groups)
    apply(cluster, project("web-" + name, name, "web"), as_user=alice, as_groups=groups)
    namespace = f"kubeop-{name}-web"
    ready = eventually(lambda: project_ready(cluster, "web-" + name), what="Project Ready")
    assert ready["status"]["namespace"] == namespace

    ns = get_json(cluster, "namespace", namespace)
    assert ns is not None
    labels = ns["metadata"]["labels"]
    assert labels["app.kubeop.io/tenant"] == name
    assert labels["app.kubeop.io/project"] == "web"
    assert labels["app.kubernetes.io/managed-by"] == "tenantgate"
    assert labels["tenantgate.io/owner"] == ready["metadata"]["uid"]
    assert "tenantgate.io/project-namespace" in ready["metadata"]["finalizers"]

    built = eventually(lambda: (c := children(cluster, namespace)) and len(c) == 5 and c, what="five children")
    assert set(built) == {
        "LimitRange/kubeop-defaults",
        "ResourceQuota/kubeop-quota",
        "NetworkPolicy/kubeop-ingress",
        "NetworkPolicy/kubeop-egress",
        "RoleBinding/tenantgate-owners",
    }
    for child in built.values():
        [reference] = child["metadata"]["ownerReferences"]
        assert reference["uid"] == ready["metadata"]["uid"]
        assert reference["controller"] is True
        assert reference["blockOwnerDeletion"] is True
    assert built["RoleBinding/tenantgate-owners"]["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": alice}
    ]

    create = ("create", "deployment", "app", "--image=nginx:1.25", "-n", namespace)
    allowed = cluster.kubectl(*create, as_user=alice, as_groups=groups, check=False)
    assert allowed.returncode == 0, allowed.stderr
    denied = cluster.kubectl(*create[:2], "other", *create[3:], as_user=bob, as_groups=groups, check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr

    tenant_status = eventually(
        lambda: (
            ((get_json(cluster, "tenant", name) or {}).get("status") or {}).get("namespaces") == [namespace]
            and ((get_json(cluster, "tenant", name) or {}).get("status") or {}).get("usage", {}).get("hard")
            and get_json(cluster, "tenant", name)
        ),
        what="Tenant status lists the namespace, its project and the quota in use",
    )
    assert tenant_status["status"]["ready"] is True
    assert tenant_status["status"]["projects"] == ["web-" + name]
    assert tenant_status["status"]["usage"]["hard"]["pods"] == "10"  # kubeOP's default project quota
    cleanup(cluster, "web-" + name)
    cleanup(cluster, name, kind="tenant")


def test_project_quota_change_updates_the_resource_quota(cluster: ControlPlane, controller: ControllerProcess) -> None:
    name = unique("quota")
    apply(cluster, tenant(name), project(name, name, "app"))
    namespace = f"kubeop-{name}-app"
    eventually(lambda: project_ready(cluster, name), what="Project Ready")
    hard = {"pods": "25", "requests.cpu": "2", "requests.memory": "2Gi"}
    apply(cluster, project(name, name, "app", quota={"hard": hard}))

    def quota_hard() -> bool:
        quota = get_json(cluster, "resourcequota", "kubeop-quota", "-n", namespace)
        return bool(quota and quota["spec"]["hard"] == hard)

    eventually(quota_hard, what="ResourceQuota follows spec.quota.hard")
    cleanup(cluster, name)
    cleanup(cluster, name, kind="tenant")


def test_tenant_defaults_reach_every_project(cluster: ControlPlane, controller: ControllerProcess) -> None:
    name = unique("defaults")
    names = [f"{name}-{i}" for i in range(3)]
    apply(cluster, tenant(name), *(project(p, name, f"p{i}") for i, p in enumerate(names)))
    for p in names:
        eventually(lambda p=p: project_ready(cluster, p), what=f"Project {p} Ready")
    defaults = {"projectDefaults": {"hard": {"pods": "7"}, "limitRange": {"default": {"cpu": "300m"}}}}
    apply(cluster, tenant(name, quota=defaults))

    def all_updated() -> bool:
        for i in range(3):
            namespace = f"kubeop-{name}-p{i}"
            quota = get_json(cluster, "resourcequota", "kubeop-quota", "-n", namespace)
            limits = get_json(cluster, "limitrange", "kubeop-defaults", "-n", namespace)
            if not quota or quota["spec"]["hard"] != {"pods": "7"}:
                return False
            if not limits or limits["spec"]["limits"][0].get("default") != {"cpu": "300m"}:
                return False
        return True

    eventually(all_updated, what="every project's quota and limits follow the tenant")
    cleanup(cluster, *names)
    cleanup(cluster, name, kind="tenant")


def test_a_child_deleted_or_edited_by_hand_is_repaired(cluster: ControlPlane, controller: ControllerProcess) -> None:
    name = unique("drift")
    apply(cluster, tenant(name), project(name, name, "app"))
    namespace = f"kubeop-{name}-app"
    eventually(lambda: project_ready(cluster, name) and len(children(cluster, namespace)) == 4, what="children")
    before = get_json(cluster, "networkpolicy", "kubeop-ingress", "-n", namespace)
    assert before is not None
    cluster.kubectl("delete", "networkpolicy", "kubeop-ingress", "-n", namespace)

    def recreated() -> bool:
        after = get_json(cluster, "networkpolicy", "kubeop-ingress", "-n", namespace)
        return bool(after and after["metadata"]["uid"] != before["metadata"]["uid"])

    eventually(recreated, what="deleted NetworkPolicy recreated")
    cluster.kubectl(
        "patch",
        "resourcequota",
        "kubeop-quota",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"hard": {"pods": "1000"}}}),
    )
    eventually(
        lambda: (
            (get_json(cluster, "resourcequota", "kubeop-quota", "-n", namespace) or {})
            .get("spec", {})
            .get("hard", {})
            .get("pods")
            == "10"
        ),
        what="edited ResourceQuota restored",
    )
    cleanup(cluster, name)
    cleanup(cluster, name, kind="tenant")


def test_deleting_a_project_deletes_its_namespace(cluster: ControlPlane, controller: ControllerProcess) -> None:
    name = unique("bye")
    apply(cluster, tenant(name), project(name, name, "app"))
    namespace = f"kubeop-{name}-app"
    eventually(lambda: project_ready(cluster, name), what="Project Ready")
    cluster.kubectl("delete", "project", name, "--wait=false")
    eventually(lambda: get_json(cluster, "namespace", namespace) is None, timeout=90, what="namespace gone")
    eventually(lambda: get_json(cluster, "project", name) is None, what="Project gone")
    assert get_json(cluster, "tenant", name) is not None, "nothing but the namespace goes with the Project"
    cleanup(cluster, name, kind="tenant")


def test_registry_pull_secret_follows_the_tenants_namespaces(
    cluster: ControlPlane, controller: ControllerProcess
) -> None:
    name = unique("reg")
    password = "s3cret-" + name
    apply(cluster, tenant(name), project(f"{name}-a", name, "a"))
    eventually(lambda: project_ready(cluster, f"{name}-a"), what="Project Ready")
    cluster.kubectl(
        "create", "secret", "generic", f"{name}-pw", "-n", f"kubeop-{name}-a", f"--from-literal=password={password}"
    )
    apply(cluster, registry_object(name, name, f"kubeop-{name}-a/{name}-pw"))
    secret_name = f"kubeop-registry-{name}"

    def attached(namespace: str) -> bool:
        secret = get_json(cluster, "secret", secret_name, "-n", namespace)
        account = get_json(cluster, "serviceaccount", "default", "-n", namespace)
        if not secret or not account:
            return False
        names = [e.get("name") for e in account.get("imagePullSecrets") or []]
        return secret["type"] == "kubernetes.io/dockerconfigjson" and secret_name in names

    eventually(lambda: attached(f"kubeop-{name}-a"), timeout=90, what="pull secret attached in the first namespace")
    secret = get_json(cluster, "secret", secret_name, "-n", f"kubeop-{name}-a")
    assert secret is not None
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert config["auths"]["ghcr.io"]["password"] == password
    assert password not in controller.log_path.read_text(), "the password is never logged"

    cluster.kubectl(
        "patch",
        "serviceaccount",
        "default",
        "-n",
        f"kubeop-{name}-a",
        "--type=json",
        "-p",
        json.dumps([{"op": "add", "path": "/imagePullSecrets/-", "value": {"name": "theirs"}}]),
    )
    apply(cluster, project(f"{name}-b", name, "b"))
    eventually(lambda: attached(f"kubeop-{name}-b"), timeout=90, what="pull secret follows a new namespace")
    status = eventually(lambda: ((get_json(cluster, "registry", name) or {}).get("status") or {}).get("conditions"))
    assert status[0]["status"] == "True"

    cluster.kubectl("delete", "registry", name, "--wait=false")

    def detached() -> bool:
        account = get_json(cluster, "serviceaccount", "default", "-n", f"kubeop-{name}-a")
        names = [e.get("name") for e in (account or {}).get("imagePullSecrets") or []]
        return names == ["theirs"] and get_json(cluster, "registry", name) is None

    eventually(detached, what="our entry removed, the other kept, the Registry gone")
    cleanup(cluster, f"{name}-a", f"{name}-b")
    cleanup(cluster, name, kind="tenant")


def registry_object(name: str, tenant_name: str, password_ref: str) -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Registry",
        "metadata": {"name": name, "labels": {"app.kubeop.io/tenant": tenant_name}},
        "spec": {"host": "ghcr.io", "username": "bot", "passwordRef": password_ref},
    }


def registry_ready_condition(cluster: ControlPlane, name: str) -> dict[str, Any] | None:
    conditions = ((get_json(cluster, "registry", name) or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), None)


def test_registry_never_reads_a_secret_outside_its_tenant(cluster: ControlPlane, controller: ControllerProcess) -> None:
    """Written without admission in the way (as an admin could), a Registry still cannot copy a platform Secret."""
    name = unique("steal")
    platform_secret = f"{name}-platform"
    cluster.kubectl(
        "create", "secret", "generic", platform_secret, "-n", LEASE_NAMESPACE, "--from-literal=tls.key=PRIVATE-" + name
    )
    apply(cluster, tenant(name), project(f"{name}-a", name, "a"))
    eventually(lambda: project_ready(cluster, f"{name}-a"), what="Project Ready")
    outcomes = {}
    for suffix, ref in (
        ("bare", f"{platform_secret}#tls.key"),
        ("platform", f"{LEASE_NAMESPACE}/{platform_secret}#tls.key"),
        ("absent", f"{LEASE_NAMESPACE}/{name}-no-such-secret#tls.key"),
    ):
        apply(cluster, registry_object(f"{name}-{suffix}", name, ref))
        condition = eventually(
            lambda n=f"{name}-{suffix}": registry_ready_condition(cluster, n), what=f"Registry {suffix} status"
        )
        assert condition["status"] == "False"
        assert condition["reason"] == "PasswordRefOutsideTenant"
        outcomes[suffix] = condition["message"].replace(platform_secret, "S").replace(f"{name}-no-such-secret", "S")
        pulled = get_json(cluster, "secret", f"kubeop-registry-{name}-{suffix}", "-n", f"kubeop-{name}-a")
        assert pulled is None, "nothing is copied into the tenant's namespace"
    assert outcomes["platform"] == outcomes["absent"], "the status does not tell whether the Secret exists"
    assert "names no namespace" in outcomes["bare"]
    assert "PRIVATE-" not in controller.log_path.read_text()
    cluster.kubectl("delete", "registry", *(f"{name}-{s}" for s in outcomes), "--wait=false")
    cluster.kubectl("delete", "secret", platform_secret, "-n", LEASE_NAMESPACE)
    cleanup(cluster, f"{name}-a")
    cleanup(cluster, name, kind="tenant")


def _pod(name: str, namespace: str, **security: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "registry.example/app:1"}
    if security:
        container["securityContext"] = security
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [container]},
    }


def test_pod_security_admission_refuses_privileged_pods_without_any_webhook(
    cluster: ControlPlane, controller: ControllerProcess
) -> None:
    """No tenantgate webhook is installed here: the API server's own Pod Security Admission is the floor."""
    owner, name = unique("alice"), unique("psa")
    groups = (TENANT_USERS_GROUP,)
    apply(cluster, tenant(name, owners=[{"kind": "User", "name": owner}]), project(name, name, "app"))
    namespace = f"kubeop-{name}-app"
    eventually(lambda: project_ready(cluster, name), what="Project Ready")

    def level() -> str | None:
        labels = ((get_json(cluster, "namespace", namespace) or {}).get("metadata") or {}).get("labels") or {}
        return labels.get("pod-security.kubernetes.io/enforce")

    assert level() == "baseline"
    labels = (get_json(cluster, "namespace", namespace) or {})["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"
    assert labels["pod-security.kubernetes.io/warn"] == labels["pod-security.kubernetes.io/audit"] == "baseline"
    eventually(
        lambda: get_json(cluster, "rolebinding", "tenantgate-owners", "-n", namespace), what="the owners' RoleBinding"
    )

    privileged = json.dumps(_pod("root", namespace, privileged=True))
    for user in (owner, None):  # the tenant's owner, and the cluster admin
        refused = cluster.kubectl(
            "create", "-f", "-", stdin=privileged, as_user=user, as_groups=groups if user else (), check=False
        )
        assert refused.returncode != 0, refused.stdout
        assert 'violates PodSecurity "baseline:latest": privileged' in refused.stderr
    plain = cluster.kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(_pod("plain", namespace)))
    assert plain.returncode == 0

    annotated = tenant(name, owners=[{"kind": "User", "name": owner}])
    annotated["metadata"]["annotations"] = {"tenantgate.io/pod-security": "restricted"}
    apply(cluster, annotated)
    eventually(lambda: level() == "restricted", what="the namespace follows the Tenant's level")
    refused = cluster.kubectl(
        "create", "--dry-run=server", "-f", "-", stdin=json.dumps(_pod("plain", namespace)), check=False
    )
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in refused.stderr
    cleanup(cluster, name)
    cleanup(cluster, name, kind="tenant")


def test_policy_cidrs_reach_every_projects_egress(cluster: ControlPlane, controller: ControllerProcess) -> None:
    name = unique("pol")
    apply(cluster, tenant(name), project(name, name, "app"))
    eventually(lambda: project_ready(cluster, name), what="Project Ready")
    policy = {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Policy",
        "metadata": {"name": name},
        "spec": {"egressAllowCIDRs": ["203.0.113.0/24"]},
    }
    apply(cluster, policy)
    namespace = f"kubeop-{name}-app"

    def allowed() -> bool:
        egress = get_json(cluster, "networkpolicy", "kubeop-egress", "-n", namespace)
        return "203.0.113.0/24" in json.dumps(egress)

    eventually(allowed, what="Policy CIDR in kubeop-egress")
    ready = eventually(lambda: ((get_json(cluster, "policy", name) or {}).get("status") or {}).get("conditions"))
    assert ready[0]["reason"] == "Applied"
    cluster.kubectl("delete", "policy", name)
    eventually(lambda: not allowed(), what="CIDR gone with the Policy")
    cleanup(cluster, name)
    cleanup(cluster, name, kind="tenant")


def test_a_policy_labelled_for_one_tenant_leaves_another_tenants_egress_unchanged(
    cluster: ControlPlane, controller: ControllerProcess
) -> None:
    mine, theirs = unique("pola"), unique("polb")
    apply(cluster, tenant(mine), project(mine, mine, "app"), tenant(theirs), project(theirs, theirs, "app"))
    eventually(lambda: project_ready(cluster, mine) and project_ready(cluster, theirs), what="both Projects Ready")

    def egress(name: str) -> dict[str, Any] | None:
        return get_json(cluster, "networkpolicy", "kubeop-egress", "-n", f"kubeop-{name}-app")

    before = eventually(lambda: egress(theirs), what="their kubeop-egress")
    policy = {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Policy",
        "metadata": {"name": mine, "labels": {"app.kubeop.io/tenant": mine}},
        "spec": {"egressAllowCIDRs": ["198.51.100.0/24"]},
    }
    apply(cluster, policy)
    eventually(lambda: "198.51.100.0/24" in json.dumps(egress(mine)), what="the CIDR in our kubeop-egress")
    after = egress(theirs)
    assert after is not None
    assert after["spec"] == before["spec"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], "not even rewritten"
    cluster.kubectl("delete", "policy", mine)
    cleanup(cluster, mine, theirs)
    cleanup(cluster, mine, theirs, kind="tenant")


def test_kubeop_minimal_flow_reaches_ready(cluster: ControlPlane, controller: ControllerProcess) -> None:
    apply(cluster, tenant("acme"), project("web", "acme"))
    ready = eventually(lambda: project_ready(cluster, "web"), what="Project web Ready")
    assert ready["status"]["namespace"] == "kubeop-acme-web"
    condition = next(c for c in ready["status"]["conditions"] if c["type"] == "Ready")
    assert (condition["reason"], condition["message"]) == ("Bootstrapped", "Project namespace ready")
    assert condition["observedGeneration"] == ready["metadata"]["generation"]
    acme = eventually(
        lambda: (
            ((get_json(cluster, "tenant", "acme") or {}).get("status") or {}).get("ready")
            and get_json(cluster, "tenant", "acme")
        )
    )
    assert next(c for c in acme["status"]["conditions"] if c["type"] == "Ready")["status"] == "True"
    columns = cluster.kubectl("get", "project", "web").stdout
    assert "kubeop-acme-web" in columns
    assert "True" in columns
    cleanup(cluster, "web")
    cleanup(cluster, "acme", kind="tenant")


WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION"})


def apiserver_writes(cluster: ControlPlane) -> dict[tuple[str, str, str], float]:
    """`apiserver_request_total` of write verbs by (verb, resource, subresource), leases excluded."""
    totals: dict[tuple[str, str, str], float] = {}
    for line in cluster.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, _, value = line[len("apiserver_request_total{") :].rpartition("} ")
        labels = dict(part.split("=", 1) for part in labels_text.split(",") if "=" in part)
        labels = {k: v.strip('"') for k, v in labels.items()}
        if labels.get("verb") in WRITE_VERBS and labels.get("resource") != "leases":
            key = (labels["verb"], labels.get("resource", ""), labels.get("subresource", ""))
            totals[key] = totals.get(key, 0.0) + float(value)
    return totals


def test_crash_restart_converges_fifty_projects_then_idles_without_writes(
    cluster: ControlPlane, controller: ControllerProcess
) -> None:
    name = unique("fleet")
    names = [f"{name}-{i:02d}" for i in range(50)]
    apply(cluster, tenant(name, owners=[{"kind": "Group", "name": f"{name}-admins"}]))
    apply(cluster, *(project(p, name, f"p{i:02d}") for i, p in enumerate(names)))
    eventually(lambda: sum(1 for p in names[:10] if project_ready(cluster, p)) >= 3, what="some progress")
    controller.restart_after_crash(unique("tenancy-restarted"))  # mid-convergence; the Lease is not released
    eventually(controller.is_leader, timeout=60, what="the restarted controller takes the Lease")

    def all_ready() -> bool:
        listed = get_json(cluster, "projects")
        ready = [
            p
            for p in (listed or {}).get("items", [])
            if p["metadata"]["name"] in names and (p.get("status") or {}).get("ready") is True
        ]
        return len(ready) == len(names)

    eventually(all_ready, timeout=240, interval=2, what="all fifty Projects Ready")

    namespaces = get_json(cluster, "namespaces", "-l", f"app.kubeop.io/tenant={name}")
    assert namespaces is not None
    assert sorted(n["metadata"]["name"] for n in namespaces["items"]) == sorted(
        f"kubeop-{name}-p{i:02d}" for i in range(50)
    )
    uids = {p["metadata"]["name"]: p["metadata"]["uid"] for p in get_json(cluster, "projects")["items"]}  # type: ignore[index]
    everything = get_json(cluster, "limitrange,resourcequota,networkpolicy,rolebinding", "-A", "-l", MANAGED)
    assert everything is not None
    mine = [i for i in everything["items"] if i["metadata"]["namespace"].startswith(f"kubeop-{name}-")]
    assert len(mine) == 50 * 5, "exactly five children per project: no duplicates, nothing missing"
    valid = set(uids.values())
    for item in mine:
        assert item["metadata"]["labels"]["tenantgate.io/owner"] in valid, f"orphan {item['metadata']}"
        assert len(item["metadata"]["ownerReferences"]) == 1

    eventually(lambda: settled(cluster), timeout=120, interval=1, what="no Project or namespace being deleted")
    eventually(lambda: quiet_for(controller, 5), timeout=120, interval=0, what="writes settle")
    before = controller.writes()
    server_before = apiserver_writes(cluster)
    reconciles_before = controller.sum_metric("tenantgate_controller_reconcile_total")
    time.sleep(60)
    assert controller.writes() == before, "steady state must make zero writes"
    # The API server's own count agrees: no write request of any client in the idle minute (Lease renewals aside).
    server_after = apiserver_writes(cluster)
    assert {k: v - server_before.get(k, 0) for k, v in server_after.items() if v != server_before.get(k, 0)} == {}
    assert controller.errors() == [], controller.log_tail()
    reconciles = controller.sum_metric("tenantgate_controller_reconcile_total") - reconciles_before
    assert reconciles < 60, f"{reconciles} reconciles in an idle minute"
    cleanup(cluster, *names)
    cleanup(cluster, name, kind="tenant")
