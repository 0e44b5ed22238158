"""`tenantgate review -f FILES`: what admission would answer, without a cluster (like `kyverno apply`).

Manifests (multi-document YAML, `kind: List`, Helm output on stdin) and recorded AdmissionReview JSON go
through `admission.dispatch.review`, the very code the server runs: mutate, then validate the mutated
object. Cross-object facts (Tenants, Projects, Namespaces, hostnames) come from the same files, or with
`--cluster` from one list of each kind (the informers' list step) plus the files on top.

Exit status: 0 everything admitted, 1 at least one denial, 2 unusable input (unreadable file, invalid YAML,
a document that is not a Kubernetes object); input errors are reported on stderr before anything is
reviewed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from admission.protocol import AdmissionRequest, Operation
from admission.registry import Registries
from admission.review import Document, InputError, Result, implied_namespaces, parse_documents, review_documents
from admission.rules import build_registries
from admission.view import ClusterState, InMemoryClusterView, resource_key
from kube.errors import cluster_errors
from webhook.watched import snapshot

EXIT_OK: Final = 0


EXIT_DENIED: Final = 1


EXIT_BAD_INPUT: Final = 2


MANIFEST_SUFFIXES: Final = (".yaml", ".yml", ".json")


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
        entries.append(
            {
                "source": result.document.where,
                "apiVersion": result.document.body.get("apiVersion")
                if result.document.review is None
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
            }
        )
    return json.dumps({"items": entries}, indent=2) + "\n"


def _cluster_view(kubeconfig: Path | None) -> ClusterState:
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
