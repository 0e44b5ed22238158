"""The attack matrix: a hostile member of tenant B against tenant A and the platform, through the real API server.

Tenant B's owner (a user in B's owner group, bound by the project's own RBAC: ClusterRole
`tenantgate-tenant-owner` for the cluster-scoped kinds, and the controller's `tenantgate-owners` RoleBinding to
`tenantgate-tenant-admin` in B's namespace) and B's CI ServiceAccount (bound by B's owner to the same role in B's
namespace) try every family of escape: writes into A's namespace, claiming A's tenancy or hosts, references into
A's namespace, privileged pods and foreign registries through every workload kind and container list, quota and
egress escapes, RBAC escalation, tenantgate's own configuration, and updates of admitted objects into forbidden
states. Two more actors reach what the tenant roles do not: B's `netops` ServiceAccount, to which a platform
admin delegated NetworkPolicies and B's Namespace (so tenantgate, not RBAC, defends the egress baseline and the
Pod Security labels), and the owner of tenant C, which has no allowed domains (so A's allowed domains are
reserved against it). Every attack must be denied, and each case says by whom: tenantgate's admission webhook,
RBAC, Pod Security Admission or the schema (and, where several rules could, which words the refusal carries).
The chart's default routing makes one webhook call per write, in the mutating phase, so where tenantgate and
Pod Security Admission or the API server's own validation would both refuse, tenantgate answers first.
Every legitimate twin (the same shape inside B's own namespace, or with B's own names) must be admitted.

Writes are server-side dry runs, so the cases do not disturb each other and admission still runs in full
(tenantgate's webhooks declare `sideEffects: None`). Cases that admission decides are also run through
`tenantgate review --cluster` as the same user, which must give the same verdict: offline review says what the
cluster will say.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pytest
import yaml

from tenantgate.cli import build_parser
from tenantgate.devcluster import ControlPlane
from tenantgate.devcluster.platform import LocalPlatform
from tenantgate.review import run_review
from tests.conftest import unique

pytestmark = pytest.mark.e2e

KUBEOP = "paas.kubeop.io/v1alpha1"
Expect = Literal["tenantgate", "rbac", "schema", "psa", "admitted"]
Actor = Literal["owner", "ci", "delegate", "loose"]
Manifest = dict[str, Any]
POLICY_NAMESPACE = "tenantgate-system"
EGRESS_BASELINE = "10.0.0.0/8"
ENFORCE = "pod-security.kubernetes.io/enforce"


@dataclass(frozen=True)
class World:
    a: str  # the victim tenant
    b: str  # the attacker's tenant
    a_ns: str
    b_ns: str
    owner: tuple[str, tuple[str, ...]]  # B's owner: user and groups
    ci: tuple[str, tuple[str, ...]]  # B's CI ServiceAccount
    a_owner: tuple[str, tuple[str, ...]]
    delegate: tuple[str, tuple[str, ...]]
    """B's `netops` ServiceAccount, to which a platform admin delegated NetworkPolicies and B's Namespace."""
    loose: tuple[str, tuple[str, ...]]
    """The owner of tenant C, which has no spec.allowedDomains."""
    c: str
    shared: str
    """A domain both A and B list in spec.allowedDomains: only the hostname collision rules separate them."""
    b_ns_labels: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Case:
    """One write by an actor and who must decide it."""

    family: str
    name: str
    actor: Actor
    build: Callable[[World], Manifest]
    expect: Expect
    verb: Literal["apply", "create", "replace"] = "apply"
    reviewable: bool = True
    """False for UPDATE cases: offline review has no stored old object to compare with."""
    tags: tuple[str, ...] = field(default=())
    says: str = ""
    """Part of the refusal that names the rule, where several rules could refuse the same manifest."""

    @property
    def id(self) -> str:
        return f"{self.family}:{self.name}:{self.actor}"


# ---- manifests ---------------------------------------------------------------------------------------------


def meta(name: str, namespace: str | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if namespace:
        body["namespace"] = namespace
    if labels:
        body["labels"] = labels
    return body


def container(w: World, tenant: str, **extra: Any) -> dict[str, Any]:
    return {"name": "app", "image": f"ghcr.io/{tenant}/app:1.0", **extra}


def privileged(w: World) -> dict[str, Any]:
    return container(w, w.b, securityContext={"privileged": True})


def image(reference: str, name: str = "app") -> dict[str, Any]:
    return {"name": name, "image": reference}


def pod_spec(w: World, tenant: str, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [container(w, tenant)]}
    spec.update(extra)
    return spec


def workload(kind: str, name: str, namespace: str, spec: dict[str, Any]) -> Manifest:
    template = {"metadata": {"labels": {"app": name}}, "spec": spec}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta(name, namespace), "spec": spec}
    if kind == "ReplicationController":
        return {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": meta(name, namespace),
            "spec": {"replicas": 1, "selector": {"app": name}, "template": template},
        }
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        body: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}, "template": template}
        if kind == "StatefulSet":
            body["serviceName"] = name
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta(name, namespace), "spec": body}
    job_template = {"template": {**template, "spec": {**spec, "restartPolicy": "Never"}}}
    if kind == "Job":
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(name, namespace), "spec": job_template}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta(name, namespace),
        "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": job_template}},
    }


REGISTRY_ATTACKS = ("foreign registry", "A's registry", "foreign init image")

WORKLOAD_KINDS = (
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "ReplicationController",
)


def simple(kind: str, name: str, namespace: str, tenant: str) -> Manifest:
    """A valid, harmless object of `kind` for the tenant `tenant`."""
    host = f"{name}.{tenant}.example"
    builders: dict[str, Callable[[], Manifest]] = {
        "Service": lambda: {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(name, namespace),
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
        },
        "ConfigMap": lambda: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, namespace)},
        "Secret": lambda: {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta(name, namespace),
            "stringData": {"k": "v"},
        },
        "ServiceAccount": lambda: {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(name, namespace)},
        "PersistentVolumeClaim": lambda: {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta(name, namespace),
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
        "Ingress": lambda: ingress(name, namespace, host),
        "Role": lambda: {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta(name, namespace),
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
        },
        "App": lambda: app(name, namespace, tenant, host),
        "Shop": lambda: {
            "apiVersion": "apps.shophub.local/v1",
            "kind": "Shop",
            "metadata": meta(name, namespace),
            "spec": shop_spec(f"ghcr.io/{tenant}/shop:1.0"),
        },
        "Django": lambda: {
            "apiVersion": "thismatters.github/v1alpha",
            "kind": "Django",
            "metadata": meta(name, namespace),
            "spec": {
                "host": host,
                "image": f"ghcr.io/{tenant}/django",
                "version": "1.0",
                "clusterIssuer": "letsencrypt",
                "commands": {
                    "app": {"command": ["gunicorn"]},
                    "worker": {"command": ["celery"]},
                    "beat": {"command": ["celery"]},
                },
            },
        },
        "DjangoBlindage": lambda: {
            "apiVersion": "blindage.org/v2",
            "kind": "Django",
            "metadata": meta(name, namespace),
            "spec": {"image": f"ghcr.io/{tenant}/django:1.0"},
        },
        "DiscordChannel": lambda: {
            "apiVersion": "notify.shophub.local/v1",
            "kind": "DiscordChannel",
            "metadata": meta(name, namespace),
            "spec": {"guildId": "1", "name": name, "botTokenRef": {"name": "bot"}},
        },
        "Wallet": lambda: {
            "apiVersion": "payments.shophub.local/v1",
            "kind": "Wallet",
            "metadata": meta(name, namespace),
            "spec": {"network": "ethereum"},
        },
    }
    if kind in WORKLOAD_KINDS:
        return workload(kind, name, namespace, {"containers": [{"name": "app", "image": f"ghcr.io/{tenant}/app:1"}]})
    return builders[kind]()


NAMESPACED_KINDS = (
    *WORKLOAD_KINDS,
    "Service",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "PersistentVolumeClaim",
    "Ingress",
    "Role",
    "App",
    "Shop",
    "Django",
    "DjangoBlindage",
    "DiscordChannel",
    "Wallet",
)


def shop_spec(image: str, **extra: Any) -> dict[str, Any]:
    return {"title": "Shop", "walletAddress": "0x52908400098527886E0F7030069857D2E4169EE7", "image": image, **extra}


def ingress(name: str, namespace: str, *hosts: str, tls: bool = False) -> Manifest:
    spec: dict[str, Any] = {
        "rules": [
            {
                "host": host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "web", "port": {"number": 80}}},
                        }
                    ]
                },
            }
            for host in hosts
        ]
    }
    if tls:
        spec["tls"] = [{"hosts": list(hosts), "secretName": f"{name}-tls"}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta(name, namespace), "spec": spec}


def app(name: str, namespace: str, tenant: str, host: str, image: str | None = None) -> Manifest:
    return {
        "apiVersion": KUBEOP,
        "kind": "App",
        "metadata": meta(name, namespace),
        "spec": {"type": "Image", "image": image or f"ghcr.io/{tenant}/web:1.4", "host": host},
    }


def cluster_kind(kind: str, name: str, label_tenant: str, **spec: Any) -> Manifest:
    return {
        "apiVersion": KUBEOP,
        "kind": kind,
        "metadata": {"name": name, "labels": {"app.kubeop.io/tenant": label_tenant}},
        "spec": spec,
    }


# ---- the cases ---------------------------------------------------------------------------------------------


def _cases() -> list[Case]:
    cases: list[Case] = []

    def pair(
        family: str,
        name: str,
        attack: Callable[[World], Manifest],
        expect: Expect,
        twin: Callable[[World], Manifest] | None,
        actors: tuple[Actor, ...] = ("owner",),
        **extra: Any,
    ) -> None:
        for actor in actors:
            cases.append(Case(family, name, actor, attack, expect, **extra))
        if twin is not None:
            twin_extra = {k: v for k, v in extra.items() if k != "says"}
            cases.append(Case(family, f"{name} (twin)", actors[0], twin, "admitted", **twin_extra))

    # 1. writes into A's namespace: RBAC has no binding for B there.
    for kind in NAMESPACED_KINDS:
        pair(
            "foreign-namespace",
            kind,
            lambda w, kind=kind: simple(kind, "intruder", w.a_ns, w.b),
            "rbac",
            lambda w, kind=kind: simple(kind, "own", w.b_ns, w.b),
            actors=("owner", "ci"),
        )

    # 2. claiming A's tenancy.
    pair(
        "tenancy",
        "Project for tenant A",
        lambda w: {
            "apiVersion": KUBEOP,
            "kind": "Project",
            "metadata": meta(f"{w.b}-in-a"),
            "spec": {"tenantRef": w.a, "name": "side"},
        },
        "tenantgate",
        lambda w: {
            "apiVersion": KUBEOP,
            "kind": "Project",
            "metadata": meta(f"{w.b}-side"),
            "spec": {"tenantRef": w.b, "name": "side"},
        },
    )
    for kind, spec in (
        ("DNSRecord", lambda w: {"host": f"rec.{w.b}.example", "target": "10.0.0.1"}),
        ("Certificate", lambda w: {"host": f"cert.{w.b}.example"}),
        ("Registry", lambda w: {"host": "ghcr.io", "username": "u", "passwordRef": f"{w.b_ns}/regcred"}),
    ):
        pair(
            "tenancy",
            f"{kind} labelled for tenant A",
            lambda w, kind=kind, spec=spec: cluster_kind(kind, f"{w.b}-{kind.lower()}-a", w.a, **spec(w)),
            "tenantgate",
            lambda w, kind=kind, spec=spec: cluster_kind(kind, f"{w.b}-{kind.lower()}", w.b, **spec(w)),
        )
    pair(
        "tenancy",
        "Policy widening egress",
        lambda w: {
            "apiVersion": KUBEOP,
            "kind": "Policy",
            "metadata": meta(f"{w.b}-open"),
            "spec": {"egressAllowCIDRs": ["0.0.0.0/0"]},
        },
        "rbac",
        None,
    )
    pair(
        "tenancy",
        "Tenant A rewritten",
        lambda w: {
            "apiVersion": KUBEOP,
            "kind": "Tenant",
            "metadata": meta(w.a),
            "spec": {"name": "mine", "owners": [{"kind": "Group", "name": f"{w.b}-admins"}]},
        },
        "rbac",
        None,
        reviewable=False,
    )
    pair(
        "tenancy",
        "a new Tenant",
        lambda w: {
            "apiVersion": KUBEOP,
            "kind": "Tenant",
            "metadata": meta(f"{w.b}-shadow"),
            "spec": {"name": "shadow", "owners": [{"kind": "Group", "name": f"{w.b}-admins"}]},
        },
        "rbac",
        None,
    )
    pair(
        "tenancy",
        "a Namespace labelled for A",
        lambda w: {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": meta(f"kubeop-{w.a}-stolen", labels={"app.kubeop.io/tenant": w.a}),
        },
        "rbac",
        None,
    )

    # 3. A's hosts.
    host_attacks: tuple[tuple[str, Callable[[World, str], Manifest]], ...] = (
        ("Ingress rule", lambda w, h: ingress("hosts", w.b_ns, h)),
        ("Ingress TLS", lambda w, h: ingress("hosts-tls", w.b_ns, h, tls=True)),
        ("App", lambda w, h: app("hosts-app", w.b_ns, w.b, h)),
        (
            "Django",
            lambda w, h: {
                **simple("Django", "hosts-dj", w.b_ns, w.b),
                "spec": {**simple("Django", "x", w.b_ns, w.b)["spec"], "host": h},
            },
        ),
        (
            "DNSRecord",
            lambda w, h: cluster_kind("DNSRecord", f"{w.b}-rec-{h.split('.')[0]}", w.b, host=h, target="10.0.0.1"),
        ),
        ("Certificate", lambda w, h: cluster_kind("Certificate", f"{w.b}-cert-{h.split('.')[0]}", w.b, host=h)),
    )
    for name, build in host_attacks:
        pair(
            "hosts",
            f"{name} claims A's host",
            lambda w, build=build: build(w, f"shop.{w.a}.example"),
            "tenantgate",
            lambda w, build=build: build(w, f"mine.{w.b}.example"),
        )

    # 4. references into A's namespace.
    pair(
        "references",
        "DiscordChannel bot token from A",
        lambda w: {
            **simple("DiscordChannel", "ref-dc", w.b_ns, w.b),
            "spec": {"guildId": "1", "name": "x", "botTokenRef": {"name": "a-secret", "namespace": w.a_ns}},
        },
        "tenantgate",
        lambda w: {
            **simple("DiscordChannel", "ref-dc", w.b_ns, w.b),
            "spec": {"guildId": "1", "name": "x", "botTokenRef": {"name": "b-secret", "namespace": w.b_ns}},
        },
        actors=("owner", "ci"),
    )
    pair(
        "references",
        "Shop webhook Secret in A",
        lambda w: {
            **simple("Shop", "ref-shop", w.b_ns, w.b),
            "spec": shop_spec(
                f"ghcr.io/{w.b}/shop:1.0", discordWebhookSecretRef={"name": "a-secret", "namespace": w.a_ns}
            ),
        },
        "tenantgate",
        None,
    )
    pair(
        "references",
        "Registry password from A",
        lambda w: cluster_kind(
            "Registry", f"{w.b}-reg-a", w.b, host="ghcr.io", username="u", passwordRef=f"{w.a_ns}/a-secret"
        ),
        "tenantgate",
        None,
    )

    # 5. pod security and registries through every workload kind and container list.
    insecure: tuple[tuple[str, Callable[[World], dict[str, Any]]], ...] = (
        (
            "privileged",
            lambda w: pod_spec(w, w.b, containers=[container(w, w.b, securityContext={"privileged": True})]),
        ),
        ("hostNetwork", lambda w: pod_spec(w, w.b, hostNetwork=True)),
        ("hostPID", lambda w: pod_spec(w, w.b, hostPID=True)),
        ("hostPath", lambda w: pod_spec(w, w.b, volumes=[{"name": "root", "hostPath": {"path": "/"}}])),
        (
            "SYS_ADMIN",
            lambda w: pod_spec(
                w, w.b, containers=[container(w, w.b, securityContext={"capabilities": {"add": ["SYS_ADMIN"]}})]
            ),
        ),
        (
            "foreign registry",
            lambda w: pod_spec(w, w.b, containers=[{"name": "app", "image": "docker.io/evil/miner:1"}]),
        ),
        ("A's registry", lambda w: pod_spec(w, w.b, containers=[image(f"ghcr.io/{w.a}/app:1")])),
        (
            "privileged init container",
            lambda w: pod_spec(
                w, w.b, initContainers=[container(w, w.b, name="init", securityContext={"privileged": True})]
            ),
        ),
        (
            "foreign init image",
            lambda w: pod_spec(w, w.b, initContainers=[{"name": "init", "image": "quay.io/evil/x:1"}]),
        ),
    )
    for kind in WORKLOAD_KINDS:
        for name, spec in insecure:
            pair(
                "workloads",
                f"{kind} {name}",
                lambda w, kind=kind, spec=spec: workload(kind, "bad", w.b_ns, spec(w)),
                # With one webhook call per write tenantgate's call comes before Pod Security Admission, so it
                # refuses a bare Pod first; the namespace's Pod Security labels stand behind it (and refuse such
                # Pods with `webhook.singleCall=false`, where tenantgate's call comes after them).
                "tenantgate",
                None,
                actors=("owner",) if name not in ("privileged", "foreign registry") else ("owner", "ci"),
            )
        pair(
            "workloads",
            f"{kind} compliant",
            lambda w, kind=kind: simple(kind, "good", w.b_ns, w.b),
            "admitted",
            None,
            actors=("ci",),
        )
    pair(
        "workloads",
        "App foreign image",
        lambda w: app("img", w.b_ns, w.b, f"img.{w.b}.example", "docker.io/evil/miner:1"),
        "tenantgate",
        None,
    )
    pair(
        "workloads",
        "Shop foreign image",
        lambda w: {**simple("Shop", "img", w.b_ns, w.b), "spec": shop_spec("docker.io/evil/shop:1")},
        "tenantgate",
        None,
    )

    # 6. quota and egress.
    pair(
        "quota",
        "Project quota beyond the tenant's",
        lambda w: {
            "apiVersion": KUBEOP,
            "kind": "Project",
            "metadata": meta(f"{w.b}-big"),
            "spec": {
                "tenantRef": w.b,
                "name": "big",
                "quota": {"hard": {"requests.cpu": "64", "requests.memory": "64Gi"}},
            },
        },
        "tenantgate",
        lambda w: {
            "apiVersion": KUBEOP,
            "kind": "Project",
            "metadata": meta(f"{w.b}-small"),
            "spec": {
                "tenantRef": w.b,
                "name": "small",
                "quota": {"hard": {"requests.cpu": "1", "requests.memory": "1Gi"}},
            },
        },
    )
    pair(
        "quota",
        "a ResourceQuota of its own",
        lambda w: {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": meta("more", w.b_ns),
            "spec": {"hard": {"requests.cpu": "100"}},
        },
        "rbac",
        None,
    )
    pair(
        "egress",
        "an allow-all NetworkPolicy",
        lambda w: {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("open", w.b_ns),
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]},
        },
        "rbac",
        None,
        actors=("owner", "ci"),
    )

    # 7. RBAC escalation.
    pair(
        "rbac",
        "RoleBinding to cluster-admin",
        lambda w: {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta("esc", w.b_ns),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": w.b_ns}],
        },
        "rbac",
        lambda w: {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta("ok", w.b_ns),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "tenantgate-tenant-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": w.b_ns}],
        },
        actors=("owner", "ci"),
        reviewable=False,
    )
    pair(
        "rbac",
        "Role granting everything",
        lambda w: {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta("all", w.b_ns),
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
        },
        "rbac",
        None,
        actors=("owner", "ci"),
    )
    pair(
        "rbac",
        "a ClusterRoleBinding",
        lambda w: {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta(f"{w.b}-esc"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "Group", "name": f"{w.b}-admins", "apiGroup": "rbac.authorization.k8s.io"}],
        },
        "rbac",
        None,
    )

    # 8. tenantgate's own configuration.
    pair(
        "platform",
        "webhook configuration rewritten",
        lambda w: {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": meta("tenantgate-validating"),
            "webhooks": [],
        },
        "rbac",
        None,
        actors=("owner", "ci"),
    )
    pair(
        "platform",
        "a CRD",
        lambda w: {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": meta("evils.example.com"),
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "evils", "singular": "evil", "kind": "Evil"},
                "versions": [
                    {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}}
                ],
            },
        },
        "rbac",
        None,
    )
    pair(
        "platform",
        "a Pod in tenantgate's namespace",
        lambda w: simple("Pod", "implant", "tenantgate-system", w.b),
        "rbac",
        None,
        actors=("owner", "ci"),
    )
    pair(
        "platform",
        "the policy ConfigMap",
        lambda w: {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta("kubeop-policy", "tenantgate-system"),
            "data": {"KUBEOP_IMAGE_ALLOWLIST": ""},
        },
        "rbac",
        None,
    )
    pair(
        "platform",
        "tenantgate's own Secret",
        lambda w: {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta("tenantgate-webhook-certs", "tenantgate-system"),
            "stringData": {"tls.key": "x"},
        },
        "rbac",
        None,
    )

    # 9. updates of admitted objects into forbidden states (the base objects exist; see the fixture).
    pair(
        "updates",
        "Deployment made privileged",
        lambda w: workload(
            "Deployment",
            "base",
            w.b_ns,
            pod_spec(w, w.b, containers=[container(w, w.b, securityContext={"privileged": True})]),
        ),
        "tenantgate",
        None,
        actors=("owner", "ci"),
        reviewable=False,
    )
    pair(
        "updates",
        "Deployment image from elsewhere",
        lambda w: workload(
            "Deployment", "base", w.b_ns, pod_spec(w, w.b, containers=[{"name": "app", "image": "docker.io/evil/x:1"}])
        ),
        "tenantgate",
        lambda w: workload(
            "Deployment",
            "base",
            w.b_ns,
            pod_spec(w, w.b, containers=[{"name": "app", "image": f"ghcr.io/{w.b}/app:2.0"}]),
        ),
        reviewable=False,
    )
    pair(
        "updates",
        "App host moved to A's",
        lambda w: app("base-app", w.b_ns, w.b, f"shop.{w.a}.example"),
        "tenantgate",
        lambda w: app("base-app", w.b_ns, w.b, f"moved.{w.b}.example"),
        reviewable=False,
    )
    pair(
        "updates",
        "Project moved to tenant A",
        lambda w: {
            "apiVersion": KUBEOP,
            "kind": "Project",
            "metadata": meta(f"{w.b}-web"),
            "spec": {"tenantRef": w.a, "name": "web"},
        },
        "tenantgate",  # the immutability rule, in the API server's words, before the API server's own check
        None,
        reviewable=False,
        says="is immutable",
    )

    # 10. label tampering on tenant namespaces.
    pair(
        "labels",
        "own namespace relabelled to A",
        lambda w: {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": meta(w.b_ns, labels={"app.kubeop.io/tenant": w.a}),
        },
        "rbac",
        None,
        reviewable=False,
    )

    # 11. holes closed since the matrix was first written: each family against tenant A, with its twin.
    _late_cases(pair)
    return cases


def annotated_ingress(name: str, namespace: str, host: str, annotations: dict[str, str]) -> Manifest:
    body = ingress(name, namespace, host)
    body["metadata"]["annotations"] = annotations
    return body


def service(name: str, namespace: str, **spec: Any) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, namespace),
        "spec": {"selector": {"app": name}, "ports": [{"port": 53, "protocol": "UDP"}], **spec},
    }


def project_quota(w: World, name: str, hard: dict[str, Any]) -> Manifest:
    return {
        "apiVersion": KUBEOP,
        "kind": "Project",
        "metadata": meta(f"{w.b}-{name}"),
        "spec": {"tenantRef": w.b, "name": name, "quota": {"hard": hard}},
    }


def egress_policy(name: str, namespace: str, rule: dict[str, Any]) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(name, namespace),
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [rule]},
    }


def own_namespace(w: World, labels: dict[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(w.b_ns, labels=labels)}


def _late_cases(pair: Callable[..., None]) -> None:
    """Wildcards, spellings, annotations, Services, tenant labels, Registry secrets, quotas, egress, PSA labels."""
    # Wildcards both ways, on the domain A and B share: A owns shop.<shared> and *.wild.<shared> (see `world`).
    for kind, build in (
        ("Ingress", lambda w, h: ingress("wild", w.b_ns, h)),
        ("Certificate", lambda w, h: cluster_kind("Certificate", f"{w.b}-wild-cert", w.b, host=h)),
    ):
        pair(
            "wildcards",
            f"{kind} wildcard over A's host",
            lambda w, build=build: build(w, f"*.{w.shared}"),
            "tenantgate",
            lambda w, build=build: build(w, f"*.bee.{w.shared}"),
            says="is in use by another tenant (it covers",
        )
    for kind, build in (
        ("Ingress", lambda w, h: ingress("under", w.b_ns, h)),
        ("DNSRecord", lambda w, h: cluster_kind("DNSRecord", f"{w.b}-under", w.b, host=h, target="10.0.0.1")),
    ):
        pair(
            "wildcards",
            f"{kind} host under A's wildcard",
            lambda w, build=build: build(w, f"x.wild.{w.shared}"),
            "tenantgate",
            lambda w, build=build: build(w, f"x.bwild.{w.shared}"),
            says="is in use by another tenant (through wildcard",
        )

    # A domain allowed to A is reserved for A, even where no host of it is used yet: tenant C, which has no
    # spec.allowedDomains, may not take one.
    for kind, spec in (
        ("DNSRecord", lambda h: {"host": h, "target": "10.0.0.1"}),
        ("Certificate", lambda h: {"host": h}),
    ):
        pair(
            "reserved-domains",
            f"{kind} in A's allowed domains by a tenant without any",
            lambda w, kind=kind, spec=spec: cluster_kind(kind, f"{w.c}-fresh", w.c, **spec(f"fresh.{w.a}.example")),
            "tenantgate",
            lambda w, kind=kind, spec=spec: cluster_kind(kind, f"{w.c}-fresh", w.c, **spec(f"fresh.{w.c}.example")),
            actors=("loose",),
            says="which another tenant's spec.allowedDomains reserves",
        )

    # Equivalent spellings of A's host.
    def spelt(kind: str, w: World, host: str) -> Manifest:
        spec = {"host": host, "target": "10.0.0.1"} if kind == "DNSRecord" else {"host": host}
        return cluster_kind(kind, f"{w.b}-spelt-{kind.lower()}", w.b, **spec)

    for kind, name, attack, twin in (
        ("Certificate", "upper case", "SHOP.{shared}", "MINE.{shared}"),
        ("DNSRecord", "trailing dot", "shop.{shared}.", "mine.{shared}."),
    ):
        pair(
            "spellings",
            f"{kind} {name}",
            lambda w, kind=kind, host=attack: spelt(kind, w, host.format(shared=w.shared)),
            "tenantgate",
            lambda w, kind=kind, host=twin: spelt(kind, w, host.format(shared=w.shared)),
            says="is in use by another tenant",
        )
    pair(
        "spellings",
        "Ingress upper case",
        lambda w: ingress("spelt", w.b_ns, f"Shop.{w.shared}"),
        "tenantgate",  # the hosts rule, before the API server's own Ingress validation would refuse it too
        None,
    )

    # Hosts and server names from annotations.
    alias = "nginx.ingress.kubernetes.io/server-alias"
    pair(
        "annotations",
        "server-alias claims A's host",
        lambda w: annotated_ingress("alias", w.b_ns, f"mine.{w.b}.example", {alias: f"shop.{w.shared}"}),
        "tenantgate",
        lambda w: annotated_ingress("alias", w.b_ns, f"mine.{w.b}.example", {alias: f"www.{w.b}.example"}),
        actors=("owner", "ci"),
        says="is in use by another tenant",
    )
    for key, text in (
        ("nginx.ingress.kubernetes.io/configuration-snippet", "more_set_headers 'X-Served: b';"),
        ("nginx.ingress.kubernetes.io/server-snippet", "location /x { return 200; }"),
        ("nginx.ingress.kubernetes.io/server-snippet", "server_name shop.{shared};"),
    ):
        pair(
            "annotations",
            f"{key.split('/')[1]} {'with server_name' if 'server_name' in text else 'in a tenant namespace'}",
            lambda w, key=key, text=text: annotated_ingress(
                "snippet", w.b_ns, f"mine.{w.b}.example", {key: text.replace("{shared}", w.shared)}
            ),
            "tenantgate",
            None,
            says="snippet",
        )
    pair(
        "annotations",
        "an ordinary ingress-nginx annotation",
        lambda w: annotated_ingress(
            "plain", w.b_ns, f"mine.{w.b}.example", {"nginx.ingress.kubernetes.io/ssl-redirect": "true"}
        ),
        "admitted",
        None,
    )

    # Services that reach past the cluster network (CVE-2020-8554 for external IPs).
    for name, spec in (
        ("NodePort", {"type": "NodePort"}),
        ("LoadBalancer", {"type": "LoadBalancer"}),
        ("externalIPs", {"externalIPs": ["10.0.0.10"]}),
    ):
        pair(
            "services",
            f"Service {name}",
            lambda w, spec=spec: service("exposed", w.b_ns, **spec),
            "tenantgate",
            lambda w: service("exposed", w.b_ns, type="ClusterIP"),
            actors=("owner", "ci"),
            says="does not allow it",
        )

    # Empty and foreign tenant labels on cluster-scoped kinds: the label is stamped from the actor, not trusted.
    for kind, spec in (
        ("DNSRecord", lambda w, h: {"host": h, "target": "10.0.0.1"}),
        ("Certificate", lambda w, h: {"host": h}),
    ):
        pair(
            "tenant-labels",
            f"{kind} with an empty tenant label for A's host",
            lambda w, kind=kind, spec=spec: cluster_kind(
                kind, f"{w.b}-empty-{kind.lower()}", "", **spec(w, f"shop.{w.a}.example")
            ),
            "tenantgate",
            lambda w, kind=kind, spec=spec: cluster_kind(
                kind, f"{w.b}-empty-{kind.lower()}", "", **spec(w, f"e.{w.b}.example")
            ),
        )
    pair(
        "tenant-labels",
        "Registry with an empty tenant label reading A's Secret",
        lambda w: cluster_kind(
            "Registry", f"{w.b}-empty-reg", "", host="ghcr.io", username="u", passwordRef=f"{w.a_ns}/a-secret"
        ),
        "tenantgate",
        lambda w: cluster_kind(
            "Registry", f"{w.b}-empty-reg", "", host="ghcr.io", username="u", passwordRef=f"{w.b_ns}/b-secret"
        ),
        says="spec.passwordRef",
    )
    for kind, spec in (
        ("DNSRecord", {"host": "n.nobody.example", "target": "10.0.0.1"}),
        ("Certificate", {"host": "n.nobody.example"}),
        ("Registry", {"host": "ghcr.io", "username": "u", "passwordRef": "tenantgate-system/x"}),
    ):
        pair(
            "tenant-labels",
            f"{kind} labelled for a tenant that does not exist",
            lambda w, kind=kind, spec=spec: cluster_kind(kind, f"{w.b}-nobody-{kind.lower()}", "nobody-at-all", **spec),
            "tenantgate",
            None,
        )

    # Registry secrets outside the tenant.
    for name, ref in (
        ("a bare Secret name", "tenantgate-webhook-certs#tls.key"),
        ("the platform's namespace", "tenantgate-system/tenantgate-webhook-certs#tls.key"),
    ):
        pair(
            "references",
            f"Registry password from {name}",
            lambda w, ref=ref: cluster_kind(
                "Registry", f"{w.b}-reg-p", w.b, host="ghcr.io", username="u", passwordRef=ref
            ),
            "tenantgate",
            lambda w: cluster_kind(
                "Registry", f"{w.b}-reg-p", w.b, host="ghcr.io", username="u", passwordRef=f"{w.b_ns}/b-secret#k"
            ),
            says="spec.passwordRef",
        )

    # Quota escapes: every resource the tenant bounds is bounded in every Project, and never negative.
    pair(
        "quota",
        "Project quota omitting requests.memory",
        lambda w: project_quota(w, "loose", {"requests.cpu": "1"}),
        "tenantgate",
        None,
        says="omits requests.memory",
    )
    pair(
        "quota",
        "Project quota omitting requests.cpu",
        lambda w: project_quota(w, "loose", {"requests.memory": "1Gi"}),
        "tenantgate",
        None,
        says="omits requests.cpu",
    )
    for name, value in (("string", "-8"), ("integer", -8)):
        pair(
            "quota",
            f"Project quota negative ({name})",
            lambda w, value=value: project_quota(w, "negative", {"requests.cpu": value, "requests.memory": "1Gi"}),
            "tenantgate",  # the CRD's quantity pattern and minimum, in the API server's words, before its own check
            None,
            says="spec.quota.hard.requests.cpu",
        )

    # Egress: forms equivalent to allow-all are judged as allow-all (B's netops may write NetworkPolicies).
    for name, rule in (
        ("no to", {"ports": [{"port": 443, "protocol": "TCP"}]}),
        ("0.0.0.0/0 with excepts", {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}),
    ):
        pair(
            "egress",
            f"egress {name}",
            lambda w, rule=rule: egress_policy("wide", w.b_ns, rule),
            "tenantgate",
            lambda w: egress_policy("wide", w.b_ns, {"to": [{"ipBlock": {"cidr": "10.1.0.0/16"}}]}),
            actors=("delegate",),
            says="not in baseline allowlist",
        )

    # Pod Security Admission labels of B's own namespace: tenantgate's, and only RBAC-delegated writers get that far.
    for actor, expect in (("owner", "rbac"), ("delegate", "tenantgate")):
        pair(
            "psa-labels",
            "enforce label changed to privileged",
            lambda w: own_namespace(w, {ENFORCE: "privileged"}),
            expect,
            None,
            actors=(actor,),
            reviewable=False,
        )
    pair(
        "psa-labels",
        "enforce label removed",
        lambda w: own_namespace(w, {k: v for k, v in w.b_ns_labels.items() if k != ENFORCE}),
        "tenantgate",
        None,
        actors=("delegate",),
        verb="replace",
        reviewable=False,
        says=ENFORCE,
    )


CASES = _cases()


# ---- running a case ----------------------------------------------------------------------------------------


def classify(result: subprocess.CompletedProcess[str]) -> str:
    """Who decided: tenantgate's webhook, RBAC, or nobody (admitted); anything else is reported as is."""
    if result.returncode == 0:
        return "admitted"
    err = result.stderr
    if "admission webhook" in err and "denied the request" in err:
        return "tenantgate"
    if ("is forbidden: User" in err and "cannot " in err) or "is attempting to grant RBAC permissions" in err:
        return "rbac"
    if "violates PodSecurity" in err:
        return "psa"  # the namespace's Pod Security Admission labels, before any webhook
    if " is invalid: " in err:
        return "schema"  # the CRD's schema or CEL rules, before any webhook
    return f"other: {err.strip()[:300]}"


def identity(world: World, actor: Actor) -> tuple[str, tuple[str, ...]]:
    return {"owner": world.owner, "ci": world.ci, "delegate": world.delegate, "loose": world.loose}[actor]


VERB_ARGS: dict[str, tuple[str, ...]] = {
    "apply": ("apply", "--server-side", "--force-conflicts"),
    "create": ("create",),
    "replace": ("replace",),
}


def run_live(cluster: ControlPlane, world: World, case: Case) -> subprocess.CompletedProcess[str]:
    user, groups = identity(world, case.actor)
    manifest = case.build(world)
    args = VERB_ARGS[case.verb]
    return cluster.kubectl(
        *args,
        "--dry-run=server",
        "-f",
        "-",
        "-o",
        "name",
        stdin=json.dumps(manifest),
        as_user=user,
        as_groups=groups,
        check=False,
    )


def run_offline(cluster: ControlPlane, world: World, case: Case) -> bool:
    """`tenantgate review --cluster` as the same user: True when it admits the manifest."""
    user, groups = identity(world, case.actor)
    argv = ["review", "-f", "-", "--cluster", "--kubeconfig", str(cluster.kubeconfig), "-o", "json", "--as", user]
    for group in groups:
        argv += ["--as-group", group]
    out = io.StringIO()
    code = run_review(
        build_parser().parse_args(argv),
        stdin=io.StringIO(json.dumps(case.build(world))),
        stdout=out,
        stderr=io.StringIO(),
    )
    assert code in (0, 1), out.getvalue()
    [item] = json.loads(out.getvalue())["items"]
    return bool(item["allowed"])


# ---- the world ---------------------------------------------------------------------------------------------


def _apply(cluster: ControlPlane, *docs: Manifest, who: tuple[str, tuple[str, ...]] | None = None) -> None:
    user, groups = who if who else (None, ())
    for _ in range(60):  # the webhook's view trails the API server by a moment
        result = cluster.kubectl(
            "apply", "-f", "-", stdin=yaml.safe_dump_all(docs), as_user=user, as_groups=groups, check=False
        )
        if result.returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError(result.stderr)


def _wait(check: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def _tenant(tenant: str, domains: list[str] | None) -> list[Manifest]:
    """A Tenant owned by the group `<tenant>-admins`, and that group's binding to the tenant-owner ClusterRole."""
    spec: dict[str, Any] = {
        "name": tenant,
        "owners": [{"kind": "Group", "name": f"{tenant}-admins"}],
        "allowedRegistries": {"exact": [f"ghcr.io/{tenant}"]},
        "quota": {
            "hard": {"requests.cpu": "8", "requests.memory": "16Gi"},
            "projectDefaults": {"hard": {"requests.cpu": "1", "requests.memory": "1Gi"}},
        },
    }
    if domains is not None:
        spec["allowedDomains"] = domains
    return [
        {"apiVersion": KUBEOP, "kind": "Tenant", "metadata": meta(tenant), "spec": spec},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta(f"tenantgate-tenant-owner-{tenant}"),
            "subjects": [{"kind": "Group", "name": f"{tenant}-admins", "apiGroup": "rbac.authorization.k8s.io"}],
            "roleRef": {
                "kind": "ClusterRole",
                "name": "tenantgate-tenant-owner",
                "apiGroup": "rbac.authorization.k8s.io",
            },
        },
    ]


def _delegation(w: World) -> list[Manifest]:
    """What a platform admin grants B's `netops` ServiceAccount beyond the tenant roles: NetworkPolicies in B's
    namespace, and B's Namespace itself (so its Pod Security labels are left to tenantgate to defend)."""
    subject = [{"kind": "ServiceAccount", "name": "netops", "namespace": w.b_ns}]
    rbac = "rbac.authorization.k8s.io/v1"
    return [
        simple("ServiceAccount", "netops", w.b_ns, w.b),
        {
            "apiVersion": rbac,
            "kind": "Role",
            "metadata": meta("netops", w.b_ns),
            "rules": [{"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["*"]}],
        },
        {
            "apiVersion": rbac,
            "kind": "RoleBinding",
            "metadata": meta("netops", w.b_ns),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "netops"},
            "subjects": subject,
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": meta(f"{w.b}-netops"),
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["namespaces"],
                    "resourceNames": [w.b_ns],
                    "verbs": ["get", "patch", "update"],
                }
            ],
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": meta(f"{w.b}-netops"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"{w.b}-netops"},
            "subjects": subject,
        },
    ]


def _labels(cluster: ControlPlane, namespace: str) -> dict[str, str]:
    result = cluster.kubectl("get", "namespace", namespace, "-o", "json", check=False)
    if result.returncode != 0:
        return {}
    labels = json.loads(result.stdout)["metadata"].get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


@pytest.fixture(scope="module")
def world(cluster: ControlPlane) -> Iterator[World]:
    platform = LocalPlatform(cluster, controller=True)
    platform.install()
    a, b, c = unique("vic"), unique("att"), unique("loose")
    sa_groups = ("system:serviceaccounts", f"system:serviceaccounts:kubeop-{b}-web")
    w = World(
        a=a,
        b=b,
        a_ns=f"kubeop-{a}-web",
        b_ns=f"kubeop-{b}-web",
        owner=(unique("mallory"), (f"{b}-admins",)),
        ci=(f"system:serviceaccount:kubeop-{b}-web:ci", sa_groups),
        a_owner=(unique("alice"), (f"{a}-admins",)),
        delegate=(f"system:serviceaccount:kubeop-{b}-web:netops", sa_groups),
        loose=(unique("carol"), (f"{c}-admins",)),
        c=c,
        shared=f"{unique('pool')}.example",
    )
    policy = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta("kubeop-policy", POLICY_NAMESPACE),
        "data": {"KUBEOP_EGRESS_BASELINE": EGRESS_BASELINE},
    }
    try:
        _apply(cluster, policy)
        for tenant in (a, b):
            _apply(cluster, *_tenant(tenant, [f"*.{tenant}.example", f"*.{w.shared}"]))
        _apply(cluster, *_tenant(c, None))
        for tenant, who in ((a, w.a_owner), (b, w.owner)):
            _apply(
                cluster,
                {
                    "apiVersion": KUBEOP,
                    "kind": "Project",
                    "metadata": meta(f"{tenant}-web"),
                    "spec": {"tenantRef": tenant, "name": "web"},
                },
                who=who,
            )
        for ns in (w.a_ns, w.b_ns):
            _wait(
                lambda ns=ns: (
                    cluster.kubectl("get", "rolebinding", "tenantgate-owners", "-n", ns, check=False).returncode == 0
                ),
                f"the owners' RoleBinding in {ns}",
            )
            _wait(
                lambda ns=ns: (
                    cluster.kubectl("get", "serviceaccount", "default", "-n", ns, check=False).returncode == 0
                ),
                f"the default ServiceAccount in {ns}",
            )
        _wait(lambda: ENFORCE in _labels(cluster, w.b_ns), f"the Pod Security labels of {w.b_ns}")
        w = replace(w, b_ns_labels=_labels(cluster, w.b_ns))
        _apply(
            cluster,
            ingress("storefront", w.a_ns, f"shop.{a}.example"),
            ingress("shared", w.a_ns, f"shop.{w.shared}", f"*.wild.{w.shared}"),
            simple("Secret", "a-secret", w.a_ns, a),
            who=w.a_owner,
        )
        _apply(
            cluster,
            simple("ServiceAccount", "ci", w.b_ns, b),
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": meta("ci", w.b_ns),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "tenantgate-tenant-admin",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": w.b_ns}],
            },
            simple("Secret", "b-secret", w.b_ns, b),
            simple("Deployment", "base", w.b_ns, b),
            app("base-app", w.b_ns, b, f"base.{b}.example"),
            who=w.owner,
        )
        _apply(cluster, *_delegation(w))
        for probe_name, probe_actor in (
            ("Ingress rule claims A's host", "owner"),
            ("Ingress host under A's wildcard", "owner"),
            ("egress no to", "delegate"),
        ):
            probe = next(x for x in CASES if x.name == probe_name and x.actor == probe_actor)
            _wait(
                lambda probe=probe: classify(run_live(cluster, w, probe)) == "tenantgate",
                f"the webhook's view for {probe_name}",
            )
        yield w
    finally:
        for tenant in (a, b):
            cluster.kubectl(
                "delete", "projects.paas.kubeop.io", f"{tenant}-web", "--ignore-not-found", "--wait=false", check=False
            )
        for tenant in (a, b, c):
            cluster.kubectl("delete", "tenants.paas.kubeop.io", tenant, "--ignore-not-found", check=False)
            cluster.kubectl(
                "delete", "clusterrolebinding", f"tenantgate-tenant-owner-{tenant}", "--ignore-not-found", check=False
            )
        cluster.kubectl("delete", "clusterrolebinding,clusterrole", f"{b}-netops", "--ignore-not-found", check=False)
        cluster.kubectl(
            "delete", "configmap", "kubeop-policy", "-n", POLICY_NAMESPACE, "--ignore-not-found", check=False
        )
        platform.stop()
        platform.uninstall()


# ---- the tests ---------------------------------------------------------------------------------------------


def test_the_matrix_is_as_large_as_promised() -> None:
    attacks = [c for c in CASES if c.expect != "admitted"]
    twins = [c for c in CASES if c.expect == "admitted"]
    assert len(attacks) >= 80, len(attacks)
    assert len(twins) >= 40, len(twins)
    assert len({c.id for c in CASES}) == len(CASES), "case names are unique"


def test_every_attack_is_denied_by_whom_it_should_be_and_every_twin_admitted(
    cluster: ControlPlane, world: World
) -> None:
    wrong: list[str] = []
    for case in CASES:
        result = run_live(cluster, world, case)
        verdict = classify(result)
        if verdict != case.expect:
            wrong.append(f"{case.id}: expected {case.expect}, got {verdict}")
        elif case.says and case.says not in result.stderr:
            wrong.append(f"{case.id}: refused by {verdict}, but not for {case.says!r}: {result.stderr.strip()[:300]}")
    assert not wrong, "\n".join(wrong)


def test_offline_review_agrees_with_the_cluster_where_admission_decides(cluster: ControlPlane, world: World) -> None:
    disagreements = []
    for case in CASES:
        if case.expect == "rbac" or not case.reviewable:
            continue
        admitted = run_offline(cluster, world, case)
        if admitted != (case.expect == "admitted"):
            disagreements.append(
                f"{case.id}: the cluster says {case.expect}, review says {'admitted' if admitted else 'denied'}"
            )
    assert not disagreements, "\n".join(disagreements)
