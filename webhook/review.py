"""`tenantgate review -f FILES`: what admission would answer, without a cluster (like `kyverno apply`).

Manifests (multi-document YAML, `kind: List`, Helm output on stdin) and recorded AdmissionReview JSON go
through `webhook.dispatch.review`, the very code the server runs: mutate, then validate the mutated
object. Cross-object facts (Tenants, Projects, Namespaces, hostnames) come from the same files, or with
`--cluster` from one list of each kind (the informers' list step) plus the files on top.

Exit status: 0 everything admitted, 1 at least one denial, 2 unusable input (unreadable file, invalid YAML,
a document that is not a Kubernetes object); input errors are reported on stderr before anything is
reviewed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

import yaml
from pydantic import ValidationError

from webhook import dispatch
from webhook.handlers import build_registries
from webhook.protocol import (
    REVIEW_KIND,
    AdmissionRequest,
    BadReview,
    GroupVersionKind,
    GroupVersionResource,
    Operation,
    UserInfo,
    parse_review,
)
from webhook.registry import Registries
from webhook.verdict import Verdict
from webhook.view import ClusterState, InMemoryClusterView, resource_key

EXIT_OK: Final = 0
EXIT_DENIED: Final = 1
EXIT_BAD_INPUT: Final = 2
MANIFEST_SUFFIXES: Final = (".yaml", ".yml", ".json")

CLUSTER_SCOPED: Final = frozenset({
    ("", "Namespace"), ("", "Node"), ("", "PersistentVolume"),
    ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"), ("storage.k8s.io", "StorageClass"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("paas.kubeop.io", "Tenant"), ("paas.kubeop.io", "Project"), ("paas.kubeop.io", "DNSRecord"),
    ("paas.kubeop.io", "Certificate"), ("paas.kubeop.io", "Policy"), ("paas.kubeop.io", "Registry"),
})


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


# -- input -------------------------------------------------------------------------------------------------


def expand_sources(sources: Sequence[str]) -> list[str]:
    """Files as given; directories become their manifest files (sorted, not recursive, like kubectl -f)."""
    expanded: list[str] = []
    for source in sources:
        path = Path(source)
        if source != "-" and path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
            expanded.extend(str(p) for p in files)
        else:
            expanded.append(source)
    return expanded


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


def load_documents(sources: Sequence[str], stdin: TextIO) -> list[Document]:
    documents: list[Document] = []
    for source in expand_sources(sources):
        if source == "-":
            text = stdin.read()
            name = "<stdin>"
        else:
            try:
                text = Path(source).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"{source}: cannot read: {exc}") from exc
            name = source
        documents.extend(parse_documents(text, name))
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
    body: Mapping[str, Any], *, uid: str, operation: Operation, user: str, groups: Sequence[str]
) -> AdmissionRequest:
    """The AdmissionRequest the API server would send for `kubectl apply` of this manifest."""
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
        old_object=obj if operation == "UPDATE" else None,
        dry_run=True,
    )


def review_documents(
    documents: Iterable[Document],
    view: ClusterState,
    registries: Registries,
    *,
    operation: Operation,
    user: str,
    groups: Sequence[str],
) -> list[Result]:
    results = []
    for number, document in enumerate(documents, start=1):
        request = document.review or request_for(
            document.body, uid=f"review-{number}", operation=operation, user=user, groups=groups
        )
        results.append(Result(document, request, dispatch.review(request, view, registries)))
    return results


# -- output ------------------------------------------------------------------------------------------------


def _describe_op(op: Mapping[str, Any]) -> str:
    if op.get("op") == "remove":
        return f"remove {op.get('path')}"
    return f"{op.get('op')} {op.get('path')} = {json.dumps(op.get('value'), separators=(',', ':'))}"


def _object_label(request: AdmissionRequest) -> tuple[str, str]:
    kind = f"{request.kind.kind}.{request.kind.group}" if request.kind.group else request.kind.kind
    name = request.name or "<generated>"
    return kind, f"{request.namespace}/{name}" if request.namespace else name


def render_table(results: Sequence[Result]) -> str:
    if not results:
        return "no objects to review\n"
    rows: list[tuple[str, str, str, Result]] = [(r.label.upper(), *_object_label(r.request), r) for r in results]
    widths = [max(len(row[0]) for row in rows), max(len(row[1]) for row in rows), max(len(row[2]) for row in rows)]
    lines = []
    for label, kind, name, result in rows:
        final = result.verdict
        head = f"{label:<{widths[0]}}  {kind:<{widths[1]}}  {name:<{widths[2]}}"
        lines.append(f"{head}  {final.message}".rstrip())
        lines.extend(f"    warning: {warning}" for warning in final.warnings)
        lines.extend(f"    patch: {_describe_op(op)}" for op in final.patch)
    denied = sum(1 for r in results if not r.verdict.allowed)
    lines.append(f"{len(results)} object(s) reviewed, {denied} denied")
    return "\n".join(lines) + "\n"


def render_json(results: Sequence[Result]) -> str:
    entries = []
    for result in results:
        final, request = result.verdict, result.request
        entries.append({
            "source": result.document.where,
            "apiVersion": result.document.body.get("apiVersion") if result.document.review is None
            else f"{request.kind.group}/{request.kind.version}".lstrip("/"),
            "kind": request.kind.kind,
            "namespace": request.namespace,
            "name": request.name,
            "operation": request.operation,
            "allowed": final.allowed,
            "verdict": result.label,
            "code": final.code,
            "reason": final.reason,
            "message": final.message,
            "warnings": list(final.warnings),
            "patch": [dict(op) for op in final.patch],
        })
    return json.dumps({"items": entries}, indent=2) + "\n"


# -- command -----------------------------------------------------------------------------------------------


def implied_namespaces(objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The Namespaces the controller would create for the Projects among `objects`.

    Offline, a bundle of Tenant + Project + App must review as it would apply: by the time the App reaches
    the API server, the Project's namespace exists. A Namespace given explicitly wins; a Project whose name
    cannot form a namespace implies nothing (its own review says why).
    """
    from crds.kubeop import PROJECT_LABEL, TENANT_LABEL, project_namespace_name, sanitize_dns_label

    given = {
        (obj.get("metadata") or {}).get("name") for obj in objects if resource_key(obj) == ("", "Namespace")
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
            name = project_namespace_name(tenant, project)
        except ValueError:
            continue
        if name not in given:
            labels = {TENANT_LABEL: tenant, PROJECT_LABEL: sanitize_dns_label(project)}
            implied[name] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    return list(implied.values())


def _cluster_view(kubeconfig: Path | None) -> ClusterState:
    import asyncio

    from webhook.watched import snapshot

    return asyncio.run(snapshot(kubeconfig, limit_seconds=CLUSTER_TIMEOUT))


CLUSTER_TIMEOUT = 30.0


DEFAULT_USER = "kubernetes-admin"


def acting_groups(user: str | None, groups: Sequence[str] | None) -> list[str]:
    """Without `--as`, review as a cluster admin would apply (`system:masters`); with it, exactly the groups given."""
    if groups:
        return list(groups)
    return [] if user else ["system:masters"]


def run_review(
    args: argparse.Namespace,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    registries: Registries | None = None,
) -> int:
    """`run_cli` with injectable streams and registries (tests use both)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        documents = load_documents(list(args.filename), stdin or sys.stdin)
    except InputError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    if getattr(args, "cluster", False):
        from certs.cli import cluster_errors

        unreachable: tuple[type[BaseException], ...] = (*cluster_errors(), TimeoutError)
        try:
            view: ClusterState = _cluster_view(args.kubeconfig)
        except unreachable as exc:
            print(f"error: cannot read the cluster: {exc or f'no answer within {CLUSTER_TIMEOUT:.0f}s'}", file=err)
            return EXIT_BAD_INPUT
        for document in documents:
            view.upsert(resource_key(document.body), document.body)
        for namespace in implied_namespaces([d.body for d in documents if d.review is None]):
            if view.namespace(namespace["metadata"]["name"]) is None:
                view.upsert(("", "Namespace"), namespace)
    else:
        given = [d.body for d in documents if d.review is None]
        view = InMemoryClusterView.from_objects([*given, *implied_namespaces(given)])
    operation: Operation = getattr(args, "operation", "CREATE") or "CREATE"
    results = review_documents(
        documents,
        view,
        registries or build_registries(),
        operation=operation,
        user=getattr(args, "as_user", None) or DEFAULT_USER,
        groups=acting_groups(getattr(args, "as_user", None), getattr(args, "as_groups", None)),
    )
    out.write(render_json(results) if getattr(args, "output", "table") == "json" else render_table(results))
    return EXIT_DENIED if any(not r.verdict.allowed for r in results) else EXIT_OK


def run_cli(args: argparse.Namespace) -> int:
    return run_review(args)
