"""Builders shared by the guardrail tests: a small two-tenant world and AdmissionRequests against it.

The world: tenant `acme` (owners alice and group acme-admins; registries ghcr.io/acme and
registry.acme.example; domains *.acme.example and acme.example; quota 8 CPU / 16Gi, projects default to 2 CPU /
2Gi; at most 3 projects) with project `web` in namespace `kubeop-acme-web`, where an Ingress claims
`shop.acme.example`; tenant `globex` (owner bob and group globex-admins; no registry narrowing; domains
*.globex.example) with project `shop` in `kubeop-globex-shop`; and the plain namespace `default`.

Global policy comes from ConfigMap `kubeop-policy` in the view, which wins over the environment, so the tests
never depend on the machine's environment.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.registry import Handler
from admission.verdict import Verdict
from admission.view import WATCHED, ClusterView, InMemoryClusterView, resource_key
from tenancy.policy import KNOBS, POLICY_CONFIGMAP

pytestmark = pytest.mark.unit

KUBEOP = "paas.kubeop.io/v1alpha1"
ADMIN = ("root", ("system:masters",))
ALICE = ("alice", ())  # owner of acme
BOB = ("bob", ())  # owner of globex
ACME_GROUP = ("carol", ("acme-admins",))
STRANGER = ("mallory", ("developers",))
TENANTGATE = ("system:serviceaccount:tenantgate-system:tenantgate", ("system:serviceaccounts",))

_PLURALS = {"Ingress": "ingresses", "Policy": "policies", "NetworkPolicy": "networkpolicies"}


def tenant(name: str, annotations: Mapping[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": KUBEOP, "kind": "Tenant", "metadata": metadata, "spec": {"name": name.title(), **spec}}


def namespace(name: str, tenant_name: str | None = None, project: str | None = None) -> dict[str, Any]:
    labels = {"kubernetes.io/metadata.name": name}
    if tenant_name:
        labels["app.kubeop.io/tenant"] = tenant_name
    if project:
        labels["app.kubeop.io/project"] = project
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def project(name: str, tenant_ref: str, project_name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": KUBEOP,
        "kind": "Project",
        "metadata": {"name": name},
        "spec": {"tenantRef": tenant_ref, "name": project_name, **spec},
    }


def ingress(name: str, ns: str, *hosts: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"rules": [{"host": h} for h in hosts]},
    }


def policy_configmap(**knobs: str) -> dict[str, Any]:
    data = {knob: "" for knob in KNOBS}
    data.update(knobs)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": POLICY_CONFIGMAP, "namespace": "tenantgate-system"},
        "data": data,
    }


ACME = tenant(
    "acme",
    owners=[{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "acme-admins"}],
    allowedRegistries={"exact": ["ghcr.io/acme", "registry.acme.example"]},
    allowedDomains=["*.acme.example", "acme.example"],
    quota={
        "hard": {"requests.cpu": "8", "requests.memory": "16Gi"},
        "projectDefaults": {"hard": {"requests.cpu": "2", "requests.memory": "2Gi"}},
    },
    maxProjects=3,
)
GLOBEX = tenant(
    "globex",
    owners=[{"kind": "User", "name": "bob"}, {"kind": "Group", "name": "globex-admins"}],
    allowedDomains=["*.globex.example"],
)


def world(*extra: Mapping[str, Any], replace: Sequence[Mapping[str, Any]] = (), **knobs: str) -> InMemoryClusterView:
    """The standard world plus `extra` objects; objects in `replace` take the place of same-named ones."""
    objects: list[Mapping[str, Any]] = [
        ACME,
        GLOBEX,
        namespace("kubeop-acme-web", "acme", "web"),
        namespace("kubeop-globex-shop", "globex", "shop"),
        namespace("default"),
        project("acme-web", "acme", "web"),
        project("globex-shop", "globex", "shop"),
        ingress("storefront", "kubeop-acme-web", "shop.acme.example"),
        policy_configmap(**knobs),
        *extra,
    ]
    keyed = {(resource_key(o), o["metadata"]["name"]): o for o in replace}
    objects = [keyed.pop((resource_key(o), o["metadata"]["name"]), o) for o in objects] + list(keyed.values())
    return view_of(objects)


def view_of(objects: Sequence[Mapping[str, Any]]) -> InMemoryClusterView:
    """An in-memory view of `objects`, including kinds the view does not watch (ConfigMaps, Policies)."""
    view = InMemoryClusterView.from_objects(objects)
    for obj in objects:
        if resource_key(obj) not in WATCHED:
            view.upsert(resource_key(obj), obj)
    return view


def request(
    obj: Mapping[str, Any] | None,
    operation: str = "CREATE",
    *,
    old: Mapping[str, Any] | None = None,
    who: tuple[str, Sequence[str]] = ALICE,
) -> AdmissionRequest:
    """The AdmissionRequest the API server sends for `obj` (DELETE: pass the object as `old`)."""
    subject = obj if obj is not None else old
    assert subject is not None
    api_version = str(subject["apiVersion"])
    group, _, version = api_version.rpartition("/")
    kind = str(subject["kind"])
    metadata = subject.get("metadata") or {}
    body: dict[str, Any] = {
        "uid": "test-uid",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": _PLURALS.get(kind, kind.lower() + "s")},
        "name": metadata.get("name", ""),
        "namespace": metadata.get("namespace", ""),
        "operation": operation,
        "userInfo": {"username": who[0], "groups": list(who[1])},
        "object": copy.deepcopy(dict(obj)) if obj is not None else None,
        "oldObject": copy.deepcopy(dict(old)) if old is not None else None,
    }
    return AdmissionRequest.model_validate(body)


def pod(ns: str = "kubeop-acme-web", image: str = "ghcr.io/acme/app:1.0", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": ns},
        "spec": {"containers": [{"name": "app", "image": image}], **spec},
    }


def workload(kind: str, pod_spec: Mapping[str, Any], ns: str = "kubeop-acme-web") -> dict[str, Any]:
    """A Deployment/StatefulSet/DaemonSet/ReplicaSet/Job/CronJob wrapping `pod_spec`."""
    template = {"metadata": {"labels": {"app": "x"}}, "spec": dict(pod_spec)}
    api = {"Job": "batch/v1", "CronJob": "batch/v1"}.get(kind, "apps/v1")
    spec: dict[str, Any] = {"template": template}
    if kind == "CronJob":
        spec = {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "w", "namespace": ns}, "spec": spec}


def custom(api_version: str, kind: str, name: str, ns: str = "", **spec: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if ns:
        metadata["namespace"] = ns
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": dict(spec)}


def with_labels(obj: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    result = copy.deepcopy(dict(obj))
    result.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    return result


def respec(obj: Mapping[str, Any], **spec: Any) -> dict[str, Any]:
    """A copy of `obj` with `spec` fields replaced."""
    result = copy.deepcopy(dict(obj))
    result["spec"] = {**result.get("spec", {}), **spec}
    return result


def judged(rule: Handler) -> Callable[[AdmissionRequest, ClusterView], Verdict]:
    """`rule` called as dispatch calls it: with the request's context, built from `view` for that one request."""

    def call(request: AdmissionRequest, view: ClusterView) -> Verdict:
        return rule(request, RequestContext(request, view))

    return call
