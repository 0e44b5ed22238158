"""The chart's generated RBAC is minimal: every grant is used, and taking one away breaks a reconcile.

A control plane of its own keeps an audit log (level Metadata). The chart is installed and the webhook and the
controller run under its ServiceAccounts, with leader election as deployed; every example converges. The audit
log then says which (group, resource, verb) each identity used, and every grant of its generated roles must be
among them, or be one the API server checks inside another request (listed, with the reason). Then, live, a
sample of the controller's grants is removed one at a time and the reconcile that needs it is refused (403).
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.rbac import CONTROLLER_CLUSTER_ROLE, controller_cluster_role
from tenantgate.chart import CHART_DIR, CONTROLLER_ACCOUNT, NAMESPACE, WEBHOOK_ACCOUNT, webhook_roles
from tenantgate.devcluster import ControlPlane
from tenantgate.devcluster.audit import ApiCall, Grant, calls_by, unused_grants
from tenantgate.devcluster.platform import OWN_NAMESPACE, LocalPlatform
from tests.conftest import unique
from tests.e2e.discord_support import SAMPLE as DISCORD_SAMPLE
from tests.e2e.discord_support import token_secret, wait_ready
from tests.e2e.test_controller_support import TENANTGATE, apply, eventually, get_json, project
from tests.e2e.test_examples_e2e import EXAMPLES, converge_examples, documents
from tests.e2e.test_publishing_e2e import CM_CERTIFICATES, ENDPOINTS, play_cert_manager
from tests.e2e.test_publishing_e2e import install_third_party_crds as install_publishing_crds
from tests.e2e.test_shop_e2e import install_third_party_crds, shop
from tests.fakes.discord import ThreadedFakeDiscord
from tests.fakes.grafana import FakeGrafana, ServedGrafana

pytestmark = pytest.mark.e2e

CONTROLLER_USER = f"system:serviceaccount:{OWN_NAMESPACE}:{CONTROLLER_ACCOUNT}"
WEBHOOK_USER = f"system:serviceaccount:{OWN_NAMESPACE}:{WEBHOOK_ACCOUNT}"
WEB = "kubeop-acme-web"
SHOPHUB_SAMPLES = DISCORD_SAMPLE.parent
GRAFANA_PASSWORD = "audited-grafana-admin-password"

RBAC = "rbac.authorization.k8s.io"
CHECKED_INSIDE_ANOTHER_REQUEST: dict[Grant, str] = {
    (RBAC, "clusterroles", "bind"): "creating RoleBinding tenantgate-owners to the tenant-admin ClusterRole",
    **{
        (group, f"{plural}/finalizers", "update"): "blockOwnerDeletion under OwnerReferencesPermissionEnforcement"
        for group, plural in [
            ("paas.kubeop.io", "projects"),
            ("paas.kubeop.io", "registries"),
            ("paas.kubeop.io", "apps"),
            ("paas.kubeop.io", "dnsrecords"),
            ("paas.kubeop.io", "certificates"),
            ("notify.shophub.local", "discordchannels"),
            ("payments.shophub.local", "wallets"),
            ("apps.shophub.local", "shops"),
            ("thismatters.github", "djangos"),
            ("blindage.org", "djangos"),
        ]
    },
}
"""Grants the API server checks while authorising or admitting another request, which the log cannot show."""


def applier_paths(rules: list[dict[str, Any]]) -> dict[Grant, str]:
    """`get` and `delete` on the kinds the applier writes (rules granting create, patch and delete).

    One generic applier serves every child kind: it reads a child directly only while that kind's cache has not
    synced (a CRD installed after the controller started), and deletes the children a pass no longer builds.
    The test reaches the prune for every Raw App kind, the Flux kinds and the Project's namespaces; the unit test
    `test_controller_rbac` ties every owned kind to these verbs.
    """
    return {
        (group, resource, verb): "the applier's cold-cache read and its prune"
        for rule in rules
        if {"create", "patch", "delete"} <= set(rule["verbs"])
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in ("get", "delete")
    }


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlane, LocalPlatform]]:
    plane = ControlPlane(state_dir=tmp_path_factory.mktemp("audited"), audit=True).start()
    discord = ThreadedFakeDiscord().start()
    grafana = ServedGrafana(FakeGrafana(password=GRAFANA_PASSWORD)).start()
    outside = {
        "DISCORD_API_URL": discord.url,
        "GRAFANA_URL": grafana.url,
        "GRAFANA_ADMIN_USER": "admin",
        "GRAFANA_ADMIN_PASSWORD": GRAFANA_PASSWORD,
        "GRAFANA_PROMETHEUS_URL": "http://prometheus.test:9090",
        "GRAFANA_LOKI_URL": "http://loki.test:3100",
    }
    try:
        install_third_party_crds(plane)
        platform = LocalPlatform(plane, leader_election=True, controller_env=outside).install()
        try:
            apply(plane, *documents(EXAMPLES / "00-tenant-acme.yaml"), *documents(EXAMPLES / "10-project-web.yaml"))
            converge_examples(plane)
            beyond_the_examples(plane)
            notify_and_withdraw(plane)
            yield plane, platform
        finally:
            platform.stop()
    finally:
        grafana.stop()
        discord.stop()
        plane.stop()


RAW_EVERY_KIND = """
apiVersion: v1
kind: ConfigMap
metadata: {name: raw-config}
data: {a: "1"}
---
apiVersion: v1
kind: Secret
metadata: {name: raw-secret}
stringData: {a: "1"}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: raw-account}
---
apiVersion: v1
kind: Service
metadata: {name: raw-service}
spec: {selector: {app: raw}, ports: [{port: 80}]}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: raw-claim}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: Pod
metadata: {name: raw-pod}
spec: {containers: [{name: app, image: docker.io/library/nginx:1.25}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: raw-deployment}
spec:
  selector: {matchLabels: {app: raw-deployment}}
  template:
    metadata: {labels: {app: raw-deployment}}
    spec: {containers: [{name: app, image: docker.io/library/nginx:1.25}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: raw-statefulset}
spec:
  serviceName: raw-service
  selector: {matchLabels: {app: raw-statefulset}}
  template:
    metadata: {labels: {app: raw-statefulset}}
    spec: {containers: [{name: app, image: docker.io/library/nginx:1.25}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: raw-daemonset}
spec:
  selector: {matchLabels: {app: raw-daemonset}}
  template:
    metadata: {labels: {app: raw-daemonset}}
    spec: {containers: [{name: app, image: docker.io/library/nginx:1.25}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: raw-job}
spec:
  template:
    spec: {restartPolicy: Never, containers: [{name: app, image: docker.io/library/nginx:1.25}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: raw-cronjob}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec: {restartPolicy: Never, containers: [{name: app, image: docker.io/library/nginx:1.25}]}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: raw-hpa}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: raw-deployment}
  minReplicas: 1
  maxReplicas: 2
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: raw-pdb}
spec: {minAvailable: 1, selector: {matchLabels: {app: raw-deployment}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: raw-ingress}
spec:
  rules:
  - host: raw.acme.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: raw-service, port: {number: 80}}}}
"""
"""One document of every kind a Raw App may deliver (`RAW_KINDS`), each created, then pruned."""


def _raw_app(manifests: str) -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "App",
        "metadata": {"name": "raw-every-kind", "namespace": WEB},
        "spec": {"type": "Raw", "host": "raw.acme.example", "rawManifests": manifests},
    }


def _raw_children(plane: ControlPlane) -> set[str]:
    kinds = "configmaps,secrets,serviceaccounts,services,persistentvolumeclaims,pods,deployments,statefulsets,"
    kinds += "daemonsets,jobs,cronjobs,horizontalpodautoscalers,poddisruptionbudgets,ingresses"
    listed = json.loads(plane.kubectl("get", kinds, "-n", WEB, "-o", "json").stdout)["items"]
    return {
        f"{item['kind']}/{item['metadata']['name']}"
        for item in listed
        # Without its controller a PersistentVolumeClaim keeps its protection finalizer: deleted, it stays
        # terminating.
        if item["metadata"]["name"].startswith("raw-") and "deletionTimestamp" not in item["metadata"]
    }


def beyond_the_examples(plane: ControlPlane) -> None:
    """The paths the examples do not take: a Raw App delivering then pruning every kind it may, a Registry
    created and deleted (finalizer, pull secrets, ServiceAccounts), a Policy, a DNSRecord and a Certificate
    published through external-dns's and cert-manager's kinds then deleted, and a Project deleted."""
    apply(plane, _raw_app(RAW_EVERY_KIND))
    eventually(lambda: len(_raw_children(plane)) == 14, timeout=90, what="every Raw kind delivered")
    apply(plane, _raw_app(RAW_EVERY_KIND.split("---")[0]))
    eventually(
        lambda: _raw_children(plane) == {"ConfigMap/raw-config"},
        timeout=90,
        what="every other kind pruned",
    )

    plane.kubectl("create", "secret", "generic", "registry-password", "-n", WEB, "--from-literal=password=pw")
    registry = {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Registry",
        "metadata": {"name": "acme-ghcr", "labels": {"app.kubeop.io/tenant": "acme"}},
        "spec": {"host": "ghcr.io", "username": "bot", "passwordRef": f"{WEB}/registry-password#password"},
    }
    apply(plane, registry)

    def pull_secret_attached() -> bool:
        account = get_json(plane, "serviceaccount", "default", "-n", WEB) or {}
        return bool(account.get("imagePullSecrets"))

    eventually(pull_secret_attached, timeout=60, what="the Registry's pull secret on ServiceAccount default")
    plane.kubectl("delete", "registry", "acme-ghcr", "--timeout=60s")
    eventually(lambda: not pull_secret_attached(), timeout=60, what="the pull secret detached")

    policy = {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Policy",
        "metadata": {"name": "acme-egress"},
        "spec": {"egressAllowCIDRs": ["203.0.113.0/24"]},
    }
    apply(plane, policy)
    eventually(lambda: (get_json(plane, "policy", "acme-egress") or {}).get("status"), what="Policy status")

    mongo = {"database": "mongodb", "availability": "standard", "replicas": 1}
    apply(plane, *(shop(name, WEB, **mongo) for name in ("mongo-a", "mongo-b")))

    def shared_by_both() -> bool:
        role = get_json(plane, "role", "mongodb-database", "-n", WEB) or {}
        owners = {o["name"] for o in role.get("metadata", {}).get("ownerReferences") or []}
        return {"mongo-a", "mongo-b"} <= owners

    eventually(shared_by_both, timeout=60, what="Role mongodb-database shared by both MongoDB Shops")

    switching = {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "App",
        "metadata": {"name": "switching", "namespace": WEB},
        "spec": {"type": "Helm", "helm": {"chart": "oci://ghcr.io/acme/charts/web", "version": "1.2.0"}},
    }
    apply(plane, switching)
    eventually(lambda: get_json(plane, "helmreleases.helm.toolkit.fluxcd.io", "app-switching", "-n", WEB), what="Helm")
    switching["spec"] = {"type": "Git", "git": {"repo": "https://github.com/acme/site", "ref": "main"}}
    apply(plane, switching)
    eventually(
        lambda: (
            get_json(plane, "kustomizations.kustomize.toolkit.fluxcd.io", "app-switching", "-n", WEB)
            and not get_json(plane, "helmreleases.helm.toolkit.fluxcd.io", "app-switching", "-n", WEB)
        ),
        what="Helm pruned, Git delivered",
    )
    switching["spec"] = {"type": "Image", "image": "docker.io/library/nginx:1.25", "host": "switching.acme.example"}
    apply(plane, switching)
    eventually(
        lambda: not get_json(plane, "kustomizations.kustomize.toolkit.fluxcd.io", "app-switching", "-n", WEB),
        what="Git pruned",
    )

    publish_and_withdraw(plane)

    extra = project("gone", "acme")
    apply(plane, extra)
    eventually(lambda: get_json(plane, "namespace", "kubeop-acme-gone"), what="namespace kubeop-acme-gone")
    plane.kubectl("delete", "project", "gone", "--timeout=90s")


def publish_and_withdraw(plane: ControlPlane) -> None:
    """A tenant's DNSRecord and Certificate through the CRD backends (the test plays cert-manager), then deleted."""
    install_publishing_crds(plane)
    tenant = {"app.kubeop.io/tenant": "acme"}
    record = {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "DNSRecord",
        "metadata": {"name": "audited-dns", "labels": tenant},
        "spec": {"host": "audited.acme.example", "target": "10.0.0.10"},
    }
    certificate = {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Certificate",
        "metadata": {"name": "audited-tls", "labels": tenant},
        "spec": {"host": "audited.acme.example", "dnsRecordRef": "audited-dns"},
    }
    apply(plane, record, certificate)
    eventually(lambda: get_json(plane, CM_CERTIFICATES, "audited-tls", "-n", WEB), timeout=90, what="cert-manager kind")
    play_cert_manager(plane, "audited-tls", WEB)
    eventually(
        lambda: ((get_json(plane, "certificates.paas.kubeop.io", "audited-tls") or {}).get("status") or {}).get(
            "ready"
        ),
        timeout=60,
        what="Certificate ready",
    )
    plane.kubectl("delete", "certificates.paas.kubeop.io", "audited-tls", "--timeout=60s")
    plane.kubectl("delete", "dnsrecords.paas.kubeop.io", "audited-dns", "--timeout=60s")
    eventually(
        lambda: (
            not get_json(plane, ENDPOINTS, "audited-dns", "-n", WEB)
            and not get_json(plane, CM_CERTIFICATES, "audited-tls", "-n", WEB)
        ),
        timeout=60,
        what="DNSEndpoint and cert-manager Certificate deleted with their owners",
    )


def notify_and_withdraw(plane: ControlPlane) -> None:
    """shop-operator's DiscordChannel sample against the fake Discord (channel, webhook, Secret) and its generated
    Wallet (a key Secret), each then deleted. The Shops' dashboards went to the fake Grafana meanwhile."""
    apply(plane, token_secret(WEB))
    plane.kubectl("apply", "-n", WEB, "-f", str(DISCORD_SAMPLE))
    wait_ready(plane, WEB, "bike-parts-alerts", timeout=90)
    plane.kubectl("delete", "discordchannel", "bike-parts-alerts", "-n", WEB, "--timeout=60s")

    plane.kubectl("apply", "-n", WEB, "-f", str(SHOPHUB_SAMPLES / "wallet-generated.yaml"))
    eventually(lambda: get_json(plane, "secret", "wallet-3fa2c1-key", "-n", WEB), timeout=90, what="Wallet key")
    eventually(
        lambda: ((get_json(plane, "wallet", "wallet-3fa2c1", "-n", WEB) or {}).get("status") or {}).get("address"),
        what="Wallet address in status",
    )
    plane.kubectl("delete", "wallet", "wallet-3fa2c1", "-n", WEB, "--timeout=60s")


def _report(unused: set[Grant]) -> str:
    return "granted but never used: " + ", ".join(f"{g or 'core'}/{r}:{v}" for g, r, v in sorted(unused))


def test_every_grant_of_the_controller_role_is_used(audited: tuple[ControlPlane, LocalPlatform]) -> None:
    plane, _ = audited
    calls = calls_by(plane.audit_calls(), CONTROLLER_USER)
    rules = controller_cluster_role()["rules"]
    unused = unused_grants(rules, calls, {**CHECKED_INSIDE_ANOTHER_REQUEST, **applier_paths(rules)})
    assert not unused, _report(unused)
    pruned = {(c.group, c.resource) for c in calls if c.verb == "delete" and c.code == 200}
    assert {
        ("", "namespaces"),
        ("", "persistentvolumeclaims"),
        ("apps", "daemonsets"),
        ("batch", "cronjobs"),
        ("policy", "poddisruptionbudgets"),
        ("helm.toolkit.fluxcd.io", "helmreleases"),
        ("kustomize.toolkit.fluxcd.io", "kustomizations"),
    } <= pruned


def test_every_grant_of_the_webhook_roles_is_used(audited: tuple[ControlPlane, LocalPlatform]) -> None:
    plane, _ = audited
    calls = calls_by(plane.audit_calls(), WEBHOOK_USER)
    cluster_role, role = webhook_roles()
    assert not unused_grants(cluster_role["rules"], [c for c in calls if not c.namespace], {})
    namespaced = [c for c in calls if c.namespace == OWN_NAMESPACE]
    assert role["metadata"]["namespace"] == NAMESPACE
    unused = unused_grants(role["rules"], namespaced, {})
    assert not unused, _report(unused)


def test_no_identity_was_refused_while_the_examples_converged(audited: tuple[ControlPlane, LocalPlatform]) -> None:
    plane, _ = audited
    refused = [c for c in plane.audit_calls() if c.user in (CONTROLLER_USER, WEBHOOK_USER) and c.code == 403]
    assert refused == []


# ---- live: one grant removed at a time -----------------------------------------------------------------------


def _without(role: dict[str, Any], group: str, resource: str, verbs: set[str]) -> dict[str, Any]:
    """`role` with `verbs` on (group, resource) taken out, every other grant of the same rules kept."""
    trimmed = copy.deepcopy(role)
    rules: list[dict[str, Any]] = []
    for rule in trimmed["rules"]:
        if group in rule["apiGroups"] and resource in rule["resources"] and verbs & set(rule["verbs"]):
            others = [r for r in rule["resources"] if r != resource]
            if others:
                rules.append({**rule, "resources": others})
            kept = [v for v in rule["verbs"] if v not in verbs]
            if kept:
                rules.append({**rule, "resources": [resource], "verbs": kept})
        else:
            rules.append(rule)
    trimmed["rules"] = rules
    return trimmed


def _image_app(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "App",
        "metadata": {"name": name, "namespace": WEB},
        "spec": {"type": "Image", "image": "docker.io/library/nginx:1.25", "host": f"{name}.acme.example"},
    }


def _new_app(plane: ControlPlane) -> None:
    apply(plane, _image_app(unique("rbac")))


def _new_project(plane: ControlPlane) -> None:
    apply(plane, project(unique("rbac"), "acme"))


SAMPLE = [
    pytest.param(("", "services", {"create", "patch"}), _new_app, ("", "services", "patch"), id="services"),
    pytest.param(("apps", "deployments", {"create", "patch"}), _new_app, ("apps", "deployments", "patch"), id="deploy"),
    pytest.param(("paas.kubeop.io", "apps/status", {"patch"}), _new_app, ("paas.kubeop.io", "apps/status", "patch")),
    pytest.param(("events.k8s.io", "events", {"create"}), _new_app, ("events.k8s.io", "events", "create"), id="events"),
    pytest.param((RBAC, "clusterroles", {"bind"}), _new_project, (RBAC, "rolebindings", "patch"), id="bind"),
    pytest.param(("", "namespaces", {"create"}), _new_project, ("", "namespaces", "patch"), id="namespaces"),
]


@pytest.mark.parametrize(("removed", "trigger", "refused"), SAMPLE)
def test_removing_a_grant_makes_the_reconcile_that_needs_it_fail(
    audited: tuple[ControlPlane, LocalPlatform],
    removed: tuple[str, str, set[str]],
    trigger: Any,
    refused: Grant,
) -> None:
    plane, platform = audited
    full = controller_cluster_role()
    seen = len(plane.audit_calls())
    apply(plane, _without(full, *removed))
    try:
        trigger(plane)

        def refused_calls() -> list[ApiCall]:
            calls = calls_by(plane.audit_calls()[seen:], CONTROLLER_USER)
            return [c for c in calls if c.code == 403 and (c.group, c.resource, c.verb) == refused]

        eventually(refused_calls, timeout=45, what=f"a 403 on {refused} once {removed} is removed")
        # The audit log records the refusal before the controller has logged it: wait for its line too.
        eventually(
            lambda: "forbidden" in _log(platform.controller.log).lower(),
            timeout=30,
            what="the controller logging the refusal",
        )
    finally:
        apply(plane, full)
    assert platform.controller.running(), platform.controller.tail()


def _log(path: Path) -> str:
    return path.read_text(errors="replace")


def test_the_sample_restores_the_full_role(audited: tuple[ControlPlane, LocalPlatform]) -> None:
    plane, _ = audited
    live = json.loads(plane.kubectl("get", "clusterrole", CONTROLLER_CLUSTER_ROLE, "-o", "json").stdout)
    assert live["rules"] == controller_cluster_role()["rules"]


# ---- the certificate Job's identity (last: it re-points both configurations' caBundle at its own CA) ---------

CERTS_ACCOUNT = "tenantgate-certs"
CERTS_USER = f"system:serviceaccount:{OWN_NAMESPACE}:{CERTS_ACCOUNT}"


def test_every_grant_of_the_certificate_jobs_roles_is_used(
    audited: tuple[ControlPlane, LocalPlatform], tmp_path: Path
) -> None:
    """`tenantgate certs ensure` as the chart's Job runs it: issue (create), then reissue for another Service
    name (update), injecting the CA into both configurations each time."""
    plane, _ = audited
    rendered = plane.helm("template", "tenantgate", str(CHART_DIR), "--namespace", OWN_NAMESPACE).stdout
    ours = [
        doc
        for doc in yaml.safe_load_all(rendered)
        if doc and doc["metadata"]["name"] == CERTS_ACCOUNT and doc["kind"] not in ("Job", "CronJob")
    ]
    assert sorted(doc["kind"] for doc in ours) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ServiceAccount",
    ]
    apply(plane, *ours)
    kubeconfig = plane.service_account_kubeconfig(OWN_NAMESPACE, CERTS_ACCOUNT, tmp_path / "certs.kubeconfig")
    seen = len(plane.audit_calls())
    for service in ("tenantgate-webhook", "tenantgate-webhook-renamed"):
        subprocess.run(
            [
                str(TENANTGATE),
                "certs",
                "ensure",
                "--kubeconfig",
                str(kubeconfig),
                "--namespace",
                OWN_NAMESPACE,
                "--service",
                service,
                "--webhook-config",
                "tenantgate-mutating",
                "--webhook-config",
                "tenantgate-validating",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    calls = calls_by(plane.audit_calls()[seen:], CERTS_USER)
    assert [c for c in calls if c.code == 403] == []
    for role in ours:
        if role["kind"] in ("Role", "ClusterRole"):
            unused = unused_grants(role["rules"], calls, {})
            assert not unused, f"{role['kind']} {CERTS_ACCOUNT}: " + _report(unused)
