"""App `type: Raw`: a tenant's own manifests (`spec.rawManifests`), applied into the App's namespace only.

The controller writes with its own identity, which admission treats as a platform admin; applying a tenant's
manifests unchecked would let an App carry what a direct `kubectl apply` by the tenant is refused. So every
document goes through the same steps as a direct apply, before anything of the revision is written:

1. **Parse** the multi-document YAML (`InvalidManifests` on a parse error or a document that is not an object).
2. **Scope**: each document must be a namespaced kind (discovery says), must not name another namespace, and
   must be one of `RAW_KINDS` (what the controller's ClusterRole grants; see `docs/controller.md`); its
   namespace is forced to the App's (`ManifestRefused` otherwise).
3. **Admission**: `admission.dispatch.review`, the code the webhook runs, as a service account of the App's
   namespace (a tenant member, not an admin), against a `ClusterView` built from the controller's caches.
   Mutations are kept, so documents get the defaults and labels a direct apply would; any denial refuses the
   whole revision (`GuardrailDenied`).

The functions here are pure; the reconciler supplies discovery answers and cache contents.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from admission import dispatch
from admission.registry import Registries
from admission.review import request_for
from admission.view import ClusterView, InMemoryClusterView
from kube.objects import Obj, name_of

RAW_KINDS: Final[tuple[tuple[str, str], ...]] = (
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Pod"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "Ingress"),
)
"""The kinds a Raw App may deliver: the workload kinds a tenant owner may write themselves, minus RBAC objects
(granting them would need every right they could grant) and the platform's own guardrails (quotas, limits,
network policies). The controller's ClusterRole grants exactly these, and prunes them."""

INVALID: Final = "InvalidManifests"
REFUSED: Final = "ManifestRefused"
DENIED: Final = "GuardrailDenied"


@dataclass(frozen=True)
class RawProblem:
    """Why a revision of rawManifests is not applied: a Ready reason and one message per offending document."""

    reason: str
    messages: tuple[str, ...]

    @property
    def message(self) -> str:
        return "; ".join(self.messages)


@dataclass(frozen=True)
class RawOutcome:
    documents: list[Obj] = field(default_factory=list)
    problem: RawProblem | None = None


def _label(index: int, doc: Mapping[str, Any]) -> str:
    return f"document {index} ({doc.get('kind') or '?'} {name_of(doc) or '?'})"


def parse_manifests(text: str) -> RawOutcome:
    """The objects of a multi-document YAML string (empty documents skipped), or why it is unusable. Pure."""
    try:
        loaded = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        return RawOutcome(problem=RawProblem(INVALID, (f"spec.rawManifests is not valid YAML: {error}",)))
    documents: list[Obj] = []
    problems: list[str] = []
    for index, doc in enumerate(loaded):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            problems.append(f"document {index} is a {type(doc).__name__}, not a Kubernetes object")
            continue
        metadata = doc.get("metadata")
        if not doc.get("apiVersion") or not doc.get("kind") or not isinstance(metadata, dict) or not name_of(doc):
            problems.append(f"{_label(index, doc)} needs apiVersion, kind and metadata.name")
            continue
        documents.append(doc)
    if problems:
        return RawOutcome(problem=RawProblem(INVALID, tuple(problems)))
    seen: set[tuple[str, str, str]] = set()
    for index, doc in enumerate(documents):
        key = (str(doc["apiVersion"]).rpartition("/")[0], str(doc["kind"]), name_of(doc))
        if key in seen:
            problems.append(f"{_label(index, doc)} appears twice")
        seen.add(key)
    if problems:
        return RawOutcome(problem=RawProblem(INVALID, tuple(problems)))
    return RawOutcome(documents)


def type_key(doc: Mapping[str, Any]) -> tuple[str, str]:
    return str(doc.get("apiVersion", "")), str(doc.get("kind", ""))


def scope_documents(
    documents: Sequence[Obj], namespace: str, namespaced: Mapping[tuple[str, str], bool | None]
) -> RawOutcome:
    """The documents with their namespace forced to `namespace`, or the refusals. Pure.

    `namespaced` is discovery's answer per (apiVersion, kind): True namespaced, False cluster-scoped, None not
    served by the API server.
    """
    allowed_kinds = ", ".join(kind for _, kind in RAW_KINDS)
    forced: list[Obj] = []
    problems: list[str] = []
    for index, doc in enumerate(documents):
        label = _label(index, doc)
        scope = namespaced.get(type_key(doc))
        given = str((doc.get("metadata") or {}).get("namespace") or "")
        if scope is None:
            problems.append(f"{label}: {doc['apiVersion']} {doc['kind']} is not served by the cluster")
        elif scope is False:
            problems.append(f"{label}: {doc['kind']} is cluster-scoped; a Raw App delivers into its namespace only")
        elif given and given != namespace:
            problems.append(f"{label}: metadata.namespace {given!r} is not the App's namespace {namespace!r}")
        elif type_key(doc) not in RAW_KINDS:
            problems.append(f"{label}: kind {doc['kind']} is not delivered by a Raw App; allowed: {allowed_kinds}")
        else:
            body = copy.deepcopy(doc)
            body["metadata"]["namespace"] = namespace
            forced.append(body)
    if problems:
        return RawOutcome(problem=RawProblem(REFUSED, tuple(problems)))
    return RawOutcome(forced)


def acting_identity(namespace: str) -> tuple[str, list[str]]:
    """Who the documents are reviewed as: the `default` service account of the App's namespace, a tenant member
    (docs/admission.md) without any admin rights, so every tenant guardrail applies. Pure."""
    return (
        f"system:serviceaccount:{namespace}:default",
        ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"],
    )


def admit_documents(
    documents: Sequence[Obj], namespace: str, view: ClusterView, registries: Registries, uid: str = ""
) -> RawOutcome:
    """Each document as admission would leave it (defaults, labels), or every denial. Pure given the view."""
    user, groups = acting_identity(namespace)
    admitted: list[Obj] = []
    denials: list[str] = []
    for index, doc in enumerate(documents):
        request = request_for(doc, uid=f"{uid or 'raw'}-{index}", operation="CREATE", user=user, groups=groups)
        outcome = dispatch.review(request, view, registries)
        if not outcome.allowed:
            denials.append(f"{doc['kind']} {name_of(doc)}: {outcome.final.message}")
            continue
        admitted.append(copy.deepcopy(outcome.patched_object) if outcome.patched_object is not None else doc)
    if denials:
        return RawOutcome(problem=RawProblem(DENIED, tuple(denials)))
    return RawOutcome(admitted)


def cluster_view(objects: Iterable[Mapping[str, Any]]) -> InMemoryClusterView:
    """The admission `ClusterView` over cached objects (Tenants, Projects, Namespaces, Policies, ConfigMap
    kubeop-policy, host claims); kinds admission does not watch are ignored."""
    return InMemoryClusterView.from_objects(objects)
