"""Admission reviews built from manifests: what the API server would send for `kubectl apply` of them.

`tenantgate review` and Raw Apps both need to ask admission about objects that are not (yet) requests: manifests
(multi-document YAML, `kind: List`, Helm output) and recorded AdmissionReview JSON. Each becomes the
AdmissionRequest the API server would send and goes through `admission.dispatch.review`, the very code the
webhook runs: mutate, then validate the mutated object. Offline, cross-object facts come from the same
manifests, plus the namespaces their Projects imply.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml
from pydantic import ValidationError

from admission import dispatch
from admission.protocol import (
    REVIEW_KIND,
    AdmissionRequest,
    BadReview,
    GroupVersionKind,
    GroupVersionResource,
    Operation,
    UserInfo,
    parse_review,
)
from admission.registry import Registries
from admission.verdict import Verdict, denied, invalid
from admission.view import ClusterView, resource_key
from crds import structural
from crds.common import KindInfo
from crds.registry import by_api_version
from tenancy.namespaces import project_namespace_object
from tenancy.tenants import BASELINE, parse_tenant

CLUSTER_SCOPED: Final = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("storage.k8s.io", "StorageClass"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("paas.kubeop.io", "Tenant"),
        ("paas.kubeop.io", "Project"),
        ("paas.kubeop.io", "DNSRecord"),
        ("paas.kubeop.io", "Certificate"),
        ("paas.kubeop.io", "Policy"),
        ("paas.kubeop.io", "Registry"),
    }
)


class InputError(Exception):
    """Input that cannot be reviewed; the message names the source."""


@dataclass(frozen=True, slots=True)
class Document:
    source: str
    index: int
    body: dict[str, Any]
    review: AdmissionRequest | None = None

    @property
    def where(self) -> str:
        return f"{self.source}#{self.index}"


@dataclass(frozen=True, slots=True)
class Result:
    document: Document
    request: AdmissionRequest
    outcome: dispatch.ReviewOutcome

    @property
    def verdict(self) -> Verdict:
        return self.outcome.final

    @property
    def label(self) -> str:
        final = self.verdict
        if not final.allowed:
            return "error" if final.code >= 500 else "denied"
        return "patched" if final.patch else "allowed"


def _flatten(value: object, where: str) -> Iterator[dict[str, Any]]:
    if value is None:
        return
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a Kubernetes object (a mapping), found {type(value).__name__}")
    kind = value.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(value.get("items"), list):
        for item in value["items"]:
            yield from _flatten(item, where)
        return
    if not value.get("apiVersion") or not kind:
        raise InputError(f"{where}: the document has no apiVersion and kind")
    yield value


def parse_documents(text: str, source: str) -> list[Document]:
    """Every object in one file: YAML streams, `kind: List`, or AdmissionReview JSON."""
    try:
        raw_documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: invalid YAML: {exc}") from exc
    documents: list[Document] = []
    for position, raw in enumerate(raw_documents):
        where = f"{source}#{position}"
        for body in _flatten(raw, where):
            review = None
            if body.get("kind") == REVIEW_KIND:
                try:
                    review = parse_review(json.dumps(body).encode()).request
                except (BadReview, ValidationError) as exc:
                    raise InputError(f"{where}: not a usable {REVIEW_KIND}: {exc}") from exc
            documents.append(Document(source, len(documents), body, review))
    return documents


# -- requests ----------------------------------------------------------------------------------------------


def _plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    return lower + "s"


def request_for(
    body: Mapping[str, Any],
    *,
    uid: str,
    operation: Operation,
    user: str,
    groups: Sequence[str],
    old: Mapping[str, Any] | None = None,
) -> AdmissionRequest:
    """The AdmissionRequest the API server would send for `kubectl apply` of this manifest.

    An UPDATE compares with `old` when given (the live object), else with the manifest itself.
    """
    group, kind = resource_key(body)
    api_version = str(body.get("apiVersion"))
    version = api_version.rpartition("/")[2]
    metadata = body.get("metadata") or {}
    namespace = "" if (group, kind) in CLUSTER_SCOPED else str(metadata.get("namespace") or "default")
    obj = dict(body)
    if namespace and metadata.get("namespace") != namespace:
        obj["metadata"] = {**metadata, "namespace": namespace}
    return AdmissionRequest(
        uid=uid,
        kind=GroupVersionKind(group=group, version=version, kind=kind),
        resource=GroupVersionResource(group=group, version=version, resource=_plural(kind)),
        name=str(metadata.get("name") or ""),
        namespace=namespace,
        operation=operation,
        user_info=UserInfo(username=user, groups=tuple(groups)),
        object=obj,
        old_object=(dict(old) if old is not None else obj) if operation == "UPDATE" else None,
        dry_run=True,
    )


def review_documents(
    documents: Iterable[Document],
    view: ClusterView,
    registries: Registries,
    *,
    operation: Operation,
    user: str,
    groups: Sequence[str],
    old_objects: Mapping[tuple[str, str, str, str], Mapping[str, Any]] | None = None,
) -> list[Result]:
    """Every document through the API server's order of checks (see `review_manifest`).

    `old_objects` holds the live objects an UPDATE replaces, by `object_key`.
    """
    results = []
    for number, document in enumerate(documents, start=1):
        uid = f"review-{number}"
        if document.review is not None:
            results.append(Result(document, document.review, dispatch.review(document.review, view, registries)))
            continue
        old = (old_objects or {}).get(object_key(document.body))
        results.append(review_manifest(document, view, registries, uid, operation, user, groups, old))
    return results


def object_key(body: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(apiVersion, kind, namespace, name) of a manifest: how an UPDATE finds its live object."""
    metadata = body.get("metadata") or {}
    return (
        str(body.get("apiVersion")),
        str(body.get("kind")),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name") or ""),
    )


def _server_check(info: KindInfo, old: dict[str, Any] | None) -> dispatch.ObjectCheck:
    def check(request: AdmissionRequest) -> Verdict | None:
        errors = structural.validate(info, request.object or {}, old)
        if not errors:
            return None
        return invalid(structural.invalid_message(info, request.name, errors))

    return check


def review_manifest(
    document: Document,
    view: ClusterView,
    registries: Registries,
    uid: str,
    operation: Operation,
    user: str,
    groups: Sequence[str],
    old: Mapping[str, Any] | None = None,
) -> Result:
    """One manifest as the API server handles `kubectl apply` of it, in its order.

    For a served custom kind: strict decoding (unknown fields), null pruning and the schema's defaults, then the
    mutating webhook, then the schema and its CEL rules, then the validating webhook. Other kinds go straight
    to the webhooks (the API server's built-in validation is not repeated offline).
    """
    body = document.body
    info = by_api_version(str(body.get("apiVersion")), str(body.get("kind")))
    if info is None:
        request = request_for(body, uid=uid, operation=operation, user=user, groups=groups, old=old)
        return Result(document, request, dispatch.review(request, view, registries))
    decoded = structural.decode(info, dict(body))
    old_decoded = structural.decode(info, dict(old)).obj if old is not None else None
    request = request_for(decoded.obj, uid=uid, operation=operation, user=user, groups=groups, old=old_decoded)
    if decoded.errors:
        refusal = denied(
            structural.invalid_message(info, request.name, list(decoded.errors)), code=400, reason="BadRequest"
        )
        return Result(document, request, dispatch.ReviewOutcome(refusal, None, None))
    server_check = _server_check(info, old_decoded if operation == "UPDATE" else None)
    return Result(document, request, dispatch.review(request, view, registries, server_check))


def implied_namespaces(objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The Namespaces the controller would create for the Projects among `objects`.

    Offline, a bundle of Tenant + Project + App must review as it would apply: by the time the App reaches
    the API server, the Project's namespace exists. A Namespace given explicitly wins; a Project whose name
    cannot form a namespace implies nothing (its own review says why).
    """
    objects = list(objects)
    given = {(obj.get("metadata") or {}).get("name") for obj in objects if resource_key(obj) == ("", "Namespace")}
    levels = {
        rules.name: rules.pod_security
        for rules in (parse_tenant(obj) for obj in objects if resource_key(obj) == ("paas.kubeop.io", "Tenant"))
    }
    implied: dict[str, dict[str, Any]] = {}
    for obj in objects:
        if resource_key(obj) != ("paas.kubeop.io", "Project"):
            continue
        spec = obj.get("spec") or {}
        tenant, project = spec.get("tenantRef"), spec.get("name")
        if not isinstance(tenant, str) or not isinstance(project, str):
            continue
        try:
            namespace = project_namespace_object(tenant, project, levels.get(tenant, BASELINE))
        except ValueError:
            continue
        if namespace["metadata"]["name"] not in given:
            implied[namespace["metadata"]["name"]] = namespace
    return list(implied.values())
