"""Tenancy guardrails against the real API server, as impersonated tenant users.

Two tenants share the control plane: an owner of `acme` works in acme's project namespace; an owner of
`globex` tries to reach into it. The webhook runs as a real process (the `platform` fixture) and answers from
its watched view, which trails the API server by a moment: steps that depend on an object just written retry
until the view has it (`until`), while denials are asserted on the exact guardrail message.

The controller is not running here, so the test creates each project namespace as the admin, with the
labels the controller would give it.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from tenantgate.devcluster import ControlPlane
from tenantgate.devcluster.platform import LocalPlatform
from tests.conftest import unique

TENANTGATE_GROUPS = [
    "paas.kubeop.io",
    "apps.shophub.local",
    "notify.shophub.local",
    "payments.shophub.local",
    "thismatters.github",
    "blindage.org",
]
KUBEOP = "paas.kubeop.io/v1alpha1"


pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Tenancy:
    acme: str
    globex: str
    alice: str  # owner of acme
    bob: str  # owner of globex
    acme_ns: str
    globex_ns: str


def until(
    attempt: Callable[[], subprocess.CompletedProcess[str]],
    done: Callable[[subprocess.CompletedProcess[str]], bool],
    timeout: float = 30,
) -> subprocess.CompletedProcess[str]:
    """Repeat `attempt` until `done(result)` or the timeout; return the last result (the view lags writes)."""
    deadline = time.monotonic() + timeout
    while True:
        result = attempt()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def _apply(
    cluster: ControlPlane, obj: Mapping[str, Any], user: str | None = None, *extra: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("apply", *extra, "-f", "-", stdin=json.dumps(obj), as_user=user, check=check)


def _create(
    cluster: ControlPlane, obj: Mapping[str, Any], user: str | None = None, *extra: str
) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("create", *extra, "-f", "-", stdin=json.dumps(obj), as_user=user, check=False)


def _ok(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == 0


def _denied_with(text: str) -> Callable[[subprocess.CompletedProcess[str]], bool]:
    return lambda result: result.returncode != 0 and text in result.stderr


def _namespace(name: str, tenant: str, project: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"app.kubeop.io/tenant": tenant, "app.kubeop.io/project": project}},
    }


@pytest.fixture(scope="module")
def tenancy(cluster: ControlPlane, platform: LocalPlatform) -> Iterator[Tenancy]:
    t = Tenancy(unique("acme"), unique("globex"), unique("alice"), unique("bob"), "", "")
    t = Tenancy(t.acme, t.globex, t.alice, t.bob, f"kubeop-{t.acme}-web", f"kubeop-{t.globex}-shop")
    role = unique("tenant-e2e")
    cluster_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": role},
        "rules": [
            {"apiGroups": TENANTGATE_GROUPS, "resources": ["*"], "verbs": ["*"]},
            {
                "apiGroups": [""],
                "resources": ["pods", "replicationcontrollers", "namespaces", "resourcequotas", "services"],
                "verbs": ["*"],
            },
            {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": ["*"]},
            {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "networkpolicies"], "verbs": ["*"]},
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": role},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user} for user in (t.alice, t.bob)
        ],
    }
    tenants = [
        {
            "apiVersion": KUBEOP,
            "kind": "Tenant",
            "metadata": {"name": t.acme},
            "spec": {
                "name": "Acme",
                "owners": [{"kind": "User", "name": t.alice}],
                "allowedRegistries": {"exact": [f"ghcr.io/{t.acme}"]},
                "allowedDomains": [f"*.{t.acme}.example"],
            },
        },
        {
            "apiVersion": KUBEOP,
            "kind": "Tenant",
            "metadata": {"name": t.globex},
            "spec": {"name": "Globex", "owners": [{"kind": "User", "name": t.bob}]},
        },
    ]
    for obj in (cluster_role, binding, *tenants):
        _apply(cluster, obj)
    for tenant, name, project, user in ((t.acme, "web", t.acme_ns, t.alice), (t.globex, "shop", t.globex_ns, t.bob)):
        proj = {
            "apiVersion": KUBEOP,
            "kind": "Project",
            "metadata": {"name": f"{tenant}-{name}"},
            "spec": {"tenantRef": tenant, "name": name},
        }
        created = until(lambda proj=proj, user=user: _apply(cluster, proj, user, check=False), _ok)
        assert created.returncode == 0, created.stderr
        _apply(cluster, _namespace(project, tenant, name))  # what the controller would create
    for ns in (t.acme_ns, t.globex_ns):  # pods need the namespace's default ServiceAccount
        until(lambda ns=ns: cluster.kubectl("get", "serviceaccount", "default", "-n", ns, check=False), _ok, 60)
    try:
        yield t
    finally:
        for ns in (t.acme_ns, t.globex_ns):
            cluster.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)
        for tenant, name in ((t.acme, "web"), (t.globex, "shop")):
            cluster.kubectl("delete", "projects.paas.kubeop.io", f"{tenant}-{name}", "--ignore-not-found", check=False)
        for tenant in (t.acme, t.globex):
            cluster.kubectl("delete", "tenants.paas.kubeop.io", tenant, "--ignore-not-found", check=False)
        cluster.kubectl("delete", "clusterrolebinding,clusterrole", role, "--ignore-not-found", check=False)


def _app(t: Tenancy, name: str = "web") -> dict[str, Any]:
    return {
        "apiVersion": KUBEOP,
        "kind": "App",
        "metadata": {"name": name, "namespace": t.acme_ns},
        "spec": {"type": "Image", "image": f"ghcr.io/{t.acme}/web:1.4", "host": f"web.{t.acme}.example"},
    }


def test_owner_creates_an_app_in_its_project_namespace_with_tenancy_labels(
    cluster: ControlPlane, tenancy: Tenancy
) -> None:
    result = until(lambda: _apply(cluster, _app(tenancy), tenancy.alice, check=False), _ok)
    assert result.returncode == 0, result.stderr
    got = json.loads(cluster.kubectl("get", "apps.paas.kubeop.io", "web", "-n", tenancy.acme_ns, "-o", "json").stdout)
    assert got["metadata"]["labels"] == {
        "app.kubeop.io/managed-by": "kubeop-admission",
        "app.kubeop.io/tenant": tenancy.acme,
        "app.kubeop.io/project": "web",
    }


def test_member_of_another_tenant_is_denied_in_acmes_namespace(cluster: ControlPlane, tenancy: Tenancy) -> None:
    shop = {
        "apiVersion": "apps.shophub.local/v1",
        "kind": "Shop",
        "metadata": {"name": "intruder", "namespace": tenancy.acme_ns},
        "spec": {"title": "Intruder", "walletAddress": ""},
    }
    result = until(lambda: _create(cluster, shop, tenancy.bob), _denied_with("is not an owner"))
    assert result.returncode != 0
    assert (
        f'metadata.namespace "{tenancy.acme_ns}" belongs to tenant "{tenancy.acme}", so only its members may '
        f'create Shop "intruder" there: user "{tenancy.bob}" is not an owner of tenant "{tenancy.acme}"'
    ) in result.stderr


def test_member_of_another_tenant_cannot_create_a_project_for_acme(cluster: ControlPlane, tenancy: Tenancy) -> None:
    project = {
        "apiVersion": KUBEOP,
        "kind": "Project",
        "metadata": {"name": f"{tenancy.acme}-stolen"},
        "spec": {"tenantRef": tenancy.acme, "name": "stolen"},
    }
    result = _create(cluster, project, tenancy.bob)
    assert result.returncode != 0
    assert f'spec.tenantRef "{tenancy.acme}": only owners of tenant "{tenancy.acme}" may create its Projects' in (
        result.stderr
    )


def _cronjob(t: Tenancy) -> dict[str, Any]:
    pod_spec = {
        "restartPolicy": "Never",
        "initContainers": [{"name": "fetch", "image": "docker.io/evil/x:1"}],
        "containers": [{"name": "job", "image": f"ghcr.io/{t.acme}/job:2"}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": t.acme_ns},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": pod_spec}}}},
    }


def _privileged_pod(t: Tenancy) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root", "namespace": t.acme_ns},
        "spec": {
            "containers": [{"name": "app", "image": f"ghcr.io/{t.acme}/app:1", "securityContext": {"privileged": True}}]
        },
    }


@pytest.mark.parametrize("dry_run", [False, True], ids=["apply", "dry-run-server"])
def test_disallowed_image_in_a_cronjob_init_container_is_denied(
    cluster: ControlPlane, tenancy: Tenancy, dry_run: bool
) -> None:
    extra = ("--dry-run=server",) if dry_run else ()
    result = _apply(cluster, _cronjob(tenancy), tenancy.alice, *extra, check=False)
    assert result.returncode != 0
    assert (
        f'spec.jobTemplate.spec.template.spec.initContainers[0].image "docker.io/evil/x:1" is not from an '
        f'allowed registry of tenant "{tenancy.acme}"; allowed: ghcr.io/{tenancy.acme}/'
    ) in result.stderr


@pytest.mark.parametrize("dry_run", [False, True], ids=["apply", "dry-run-server"])
def test_privileged_pod_is_denied(cluster: ControlPlane, tenancy: Tenancy, dry_run: bool) -> None:
    extra = ("--dry-run=server",) if dry_run else ()
    result = _apply(cluster, _privileged_pod(tenancy), tenancy.alice, *extra, check=False)
    assert result.returncode != 0
    assert "spec.containers[0].securityContext.privileged true: container app is privileged" in result.stderr


def test_privileged_replication_controller_is_denied_to_a_tenant_owner(cluster: ControlPlane, tenancy: Tenancy) -> None:
    pod = _privileged_pod(tenancy)
    controller = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "root-rc", "namespace": tenancy.acme_ns},
        "spec": {
            "replicas": 1,
            "selector": {"app": "root"},
            "template": {"metadata": {"labels": {"app": "root"}}, "spec": pod["spec"]},
        },
    }
    result = _apply(cluster, controller, tenancy.alice, check=False)
    assert result.returncode != 0, result.stdout
    assert "spec.template.spec.containers[0].securityContext.privileged true" in result.stderr
    gone = cluster.kubectl("get", "replicationcontroller", "root-rc", "-n", tenancy.acme_ns, check=False)
    assert gone.returncode != 0


def test_dry_run_admits_what_apply_admits(cluster: ControlPlane, tenancy: Tenancy) -> None:
    result = until(
        lambda: _apply(cluster, _app(tenancy, "preview"), tenancy.alice, "--dry-run=server", check=False), _ok
    )
    assert result.returncode == 0, result.stderr
    assert cluster.kubectl("get", "apps.paas.kubeop.io", "preview", "-n", tenancy.acme_ns, check=False).returncode != 0


def test_host_used_by_acme_is_denied_to_globex(cluster: ControlPlane, tenancy: Tenancy) -> None:
    created = until(lambda: _apply(cluster, _app(tenancy), tenancy.alice, check=False), _ok)
    assert created.returncode == 0, created.stderr
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "hijack", "namespace": tenancy.globex_ns},
        "spec": {"rules": [{"host": f"web.{tenancy.acme}.example"}]},
    }
    result = until(lambda: _create(cluster, ingress, tenancy.bob), _denied_with("in use by another tenant"))
    assert result.returncode != 0
    assert f'spec.rules[0].host "web.{tenancy.acme}.example" is in use by another tenant' in result.stderr
    assert tenancy.acme not in result.stderr.split("in use by another tenant")[1]


def test_relabelling_a_namespace_out_of_tenancy_is_denied(cluster: ControlPlane, tenancy: Tenancy) -> None:
    result = cluster.kubectl(
        "label", "namespace", tenancy.acme_ns, "app.kubeop.io/tenant-", as_user=tenancy.alice, check=False
    )
    assert result.returncode != 0
    assert (
        f'metadata.labels["app.kubeop.io/tenant"] "{tenancy.acme}": removing the label of Namespace '
        f'"{tenancy.acme_ns}" is reserved to tenantgate and platform admins'
    ) in result.stderr
    labels = json.loads(cluster.kubectl("get", "namespace", tenancy.acme_ns, "-o", "json").stdout)["metadata"]["labels"]
    assert labels["app.kubeop.io/tenant"] == tenancy.acme


def _registry(name: str, labels: Mapping[str, str], password_ref: str) -> dict[str, Any]:
    return {
        "apiVersion": KUBEOP,
        "kind": "Registry",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {"host": "ghcr.io", "username": "bot", "passwordRef": password_ref},
    }


@pytest.mark.parametrize(
    ("ref", "text"),
    [
        ("tenantgate-webhook-tls#tls.key", 'spec.passwordRef "tenantgate-webhook-tls#tls.key" names no namespace'),
        ("tenantgate-system/tenantgate-webhook-tls#tls.key", '"tenantgate-system" is not a namespace of tenant'),
        ("{acme_ns}/ghcr", "is not a namespace of tenant"),
    ],
    ids=["bare-name", "platform-namespace", "other-tenant"],
)
def test_a_registry_cannot_reach_secrets_outside_its_tenant(
    cluster: ControlPlane, tenancy: Tenancy, ref: str, text: str
) -> None:
    ref = ref.format(acme_ns=tenancy.acme_ns)
    registry = _registry(unique("steal"), {"app.kubeop.io/tenant": tenancy.globex}, ref)
    result = until(lambda: _create(cluster, registry, tenancy.bob), _denied_with("spec.passwordRef"))
    assert result.returncode != 0, result.stdout
    assert text in result.stderr
    assert f'allowed: <namespace>/<name> with a namespace of tenant "{tenancy.globex}"' in result.stderr
    own = _registry(unique("own"), {"app.kubeop.io/tenant": tenancy.globex}, f"{tenancy.globex_ns}/ghcr")
    admitted = until(lambda: _create(cluster, own, tenancy.bob, "--dry-run=server"), _ok)
    assert admitted.returncode == 0, admitted.stderr


def test_an_empty_tenant_label_does_not_take_a_registry_out_of_its_tenant(
    cluster: ControlPlane, tenancy: Tenancy
) -> None:
    """bob's empty label gets his tenant stamped, so his Registry's reference into acme is judged, and denied."""
    probe = _registry(unique("probe"), {"app.kubeop.io/tenant": ""}, f"{tenancy.acme_ns}/ghcr")
    result = until(lambda: _create(cluster, probe, tenancy.bob), _denied_with("spec.passwordRef"))
    assert result.returncode != 0, result.stdout
    assert (
        f'spec.passwordRef "{tenancy.acme_ns}/ghcr": namespace "{tenancy.acme_ns}" is not a namespace of tenant '
        f'"{tenancy.globex}"'
    ) in result.stderr


def test_an_empty_tenant_label_on_a_dns_record_is_replaced_by_the_writers_tenant(
    cluster: ControlPlane, tenancy: Tenancy
) -> None:
    record = {
        "apiVersion": KUBEOP,
        "kind": "DNSRecord",
        "metadata": {"name": unique("rec"), "labels": {"app.kubeop.io/tenant": ""}},
        "spec": {"host": f"api.{tenancy.globex}.example", "target": "192.0.2.1"},
    }
    result = until(lambda: _create(cluster, record, tenancy.bob, "--dry-run=server", "-o", "json"), _ok)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["metadata"]["labels"] == {"app.kubeop.io/tenant": tenancy.globex}


def test_a_user_who_owns_no_tenant_may_not_write_tenant_kinds(cluster: ControlPlane, tenancy: Tenancy) -> None:
    mallory = unique("mallory")
    role = unique("dns-writer")
    cluster.kubectl("create", "clusterrole", role, "--verb=create", "--resource=dnsrecords.paas.kubeop.io")
    cluster.kubectl("create", "clusterrolebinding", role, f"--clusterrole={role}", f"--user={mallory}")
    try:
        for labels in ({"app.kubeop.io/tenant": ""}, {}):
            record = {
                "apiVersion": KUBEOP,
                "kind": "DNSRecord",
                "metadata": {"name": unique("rec"), "labels": labels},
                "spec": {"host": f"pay.{tenancy.acme}.example", "target": "192.0.2.1"},
            }
            result = until(lambda record=record: _create(cluster, record, mallory), _denied_with("owns none"))
            assert result.returncode != 0, result.stdout
            assert f'must belong to a tenant, and user "{mallory}" owns none' in result.stderr
    finally:
        cluster.kubectl("delete", "clusterrolebinding,clusterrole", role, "--ignore-not-found", check=False)


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ({"externalIPs": ["10.0.0.10"]}, 'spec.externalIPs[0] "10.0.0.10": an external IP captures the traffic'),
        ({"type": "NodePort"}, 'spec.type "NodePort": a NodePort Service opens a port on every node'),
        ({"type": "LoadBalancer"}, 'spec.type "LoadBalancer": a LoadBalancer Service asks for an address outside'),
    ],
    ids=["external-ip", "node-port", "load-balancer"],
)
def test_services_that_reach_past_the_cluster_network_are_denied(
    cluster: ControlPlane, tenancy: Tenancy, spec: dict[str, Any], text: str
) -> None:
    """bob may not make globex's Service answer for an address other tenants' pods talk to (CVE-2020-8554)."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": unique("svc"), "namespace": tenancy.globex_ns},
        "spec": {"selector": {"app": "mitm"}, "ports": [{"port": 53, "protocol": "UDP"}], **spec},
    }
    result = until(lambda: _create(cluster, service, tenancy.bob), _denied_with(text))
    assert result.returncode != 0, result.stdout
    assert f'tenant "{tenancy.globex}" does not allow it' in result.stderr
    internal = {**service, "spec": {"selector": {"app": "mitm"}, "ports": [{"port": 53, "protocol": "UDP"}]}}
    admitted = _create(cluster, internal, tenancy.bob, "--dry-run=server")
    assert admitted.returncode == 0, admitted.stderr


@pytest.mark.parametrize("who", ["owner", "other-tenant"])
def test_pod_security_labels_of_a_tenant_namespace_are_not_the_tenants(
    cluster: ControlPlane, tenancy: Tenancy, who: str
) -> None:
    user = tenancy.alice if who == "owner" else tenancy.bob
    result = cluster.kubectl(
        "label",
        "namespace",
        tenancy.acme_ns,
        "pod-security.kubernetes.io/enforce=privileged",
        as_user=user,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    assert (
        f'metadata.labels["pod-security.kubernetes.io/enforce"] "privileged": adding the label of Namespace '
        f'"{tenancy.acme_ns}" is reserved to tenantgate and platform admins, because the API server enforces the '
        "tenant's pod security level with these labels"
    ) in result.stderr
    labels = json.loads(cluster.kubectl("get", "namespace", tenancy.acme_ns, "-o", "json").stdout)["metadata"]["labels"]
    assert "pod-security.kubernetes.io/enforce" not in labels


def test_an_owner_wires_event_webhooks_only_to_https_and_to_keys_of_its_own_tenant(
    cluster: ControlPlane, tenancy: Tenancy
) -> None:
    def set_hooks(*hooks: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        patch = json.dumps({"spec": {"eventWebhooks": list(hooks)}})
        return cluster.kubectl(
            "patch", "tenant", tenancy.acme, "--type=merge", "-p", patch, as_user=tenancy.alice, check=False
        )

    url = f"https://hooks.{tenancy.acme}.example/kubeop"
    stolen = until(
        lambda: set_hooks({"url": url, "secretRef": {"name": "events", "namespace": tenancy.globex_ns}}),
        _denied_with("secretRef"),
    )
    assert f'namespace "{tenancy.globex_ns}" is not a namespace of tenant "{tenancy.acme}"' in stolen.stderr
    platform_key = set_hooks({"url": url, "secretRef": {"name": "tenantgate-webhook-tls", "key": "tls.key"}})
    assert platform_key.returncode != 0
    assert "tenantgate's own namespace (platform admins only)" in platform_key.stderr
    plain = set_hooks({"url": f"http://hooks.{tenancy.acme}.example/kubeop"})
    assert plain.returncode != 0
    assert "plain http is not allowed; use https" in plain.stderr
    assert f"hooks.{tenancy.acme}.example" not in plain.stderr.split("denied the request:")[-1]
    own = set_hooks({"url": url, "secretRef": {"name": "events", "namespace": tenancy.acme_ns}})
    assert own.returncode == 0, own.stderr
