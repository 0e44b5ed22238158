"""`tenantgate review` says what the cluster says: every manifest, judged offline and by `kubectl apply
--dry-run=server` against the real control plane with tenantgate installed, as the same user, gets the same verdict.

Manifests: every document under tests/fixtures/manifests/ (the broken ones and the upstream-shaped samples
included) and deploy/examples/. A document whose object already exists is an UPDATE for both (kubectl apply
patches it), reviewed against the live object; a broken/ file marked `# update:` holds the existing object first
(created for real) and the change second. Where a file states `# expect:` for a document, both verdicts must
match it too: `admitted`, or a fragment both refusals contain. On failure the test prints the table of both
verdicts for every document.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from admission.review import Document, review_manifest
from admission.rules import build_registries
from admission.view import ClusterState
from crds.registry import KINDS, by_api_version
from tenantgate.devcluster import ControlPlane
from tenantgate.devcluster.platform import LocalPlatform
from webhook.watched import snapshot

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "tests" / "fixtures" / "manifests"
EXAMPLES = REPO / "deploy" / "examples"
USER = "review-consistency"
GROUPS = ("system:masters",)
TENANT_NAMESPACE = "kubeop-acme-web"
EXPECT = re.compile(r"^# expect: (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Case:
    source: str
    body: dict[str, Any]
    expect: str | None
    before: dict[str, Any] | None = None
    """For an update case: the object that exists before (created for real)."""

    @property
    def where(self) -> str:
        metadata = self.body.get("metadata") or {}
        return f"{self.source} {self.body.get('kind')}/{metadata.get('name')}"


def _chunks(text: str) -> list[str]:
    return [chunk for chunk in re.split(r"^---\s*$", text, flags=re.MULTILINE) if yaml.safe_load(chunk) is not None]


def _cases() -> list[Case]:
    cases: list[Case] = []
    files = sorted(MANIFESTS.rglob("*.yaml")) + sorted(EXAMPLES.glob("*.yaml"))
    for path in files:
        text = path.read_text()
        source = str(path.relative_to(REPO))
        chunks = _chunks(text)
        if "# update:" in text:
            first, second = (yaml.safe_load(chunk) for chunk in chunks)
            found = EXPECT.search(text)
            cases.append(Case(source, second, found.group(1) if found else None, before=first))
            continue
        for chunk in chunks:
            found = EXPECT.search(chunk)
            cases.append(Case(source, yaml.safe_load(chunk), found.group(1) if found else None))
    return cases


CASES = _cases()


def _namespace_of(body: dict[str, Any]) -> str:
    info = by_api_version(str(body.get("apiVersion")), str(body.get("kind")))
    scoped = info.scope == "Namespaced" if info is not None else body.get("kind") not in ("Namespace",)
    return str((body.get("metadata") or {}).get("namespace") or "default") if scoped else ""


def _placed(body: dict[str, Any]) -> dict[str, Any]:
    """The manifest with its namespace written out, so both sides judge the same object."""
    result = json.loads(json.dumps(body))
    namespace = _namespace_of(result)
    if namespace:
        result.setdefault("metadata", {})["namespace"] = namespace
    return result


def _live(cluster: ControlPlane, body: dict[str, Any]) -> dict[str, Any] | None:
    api_version, kind = str(body["apiVersion"]), str(body["kind"])
    info = by_api_version(api_version, kind)
    resource = f"{info.plural}.{info.group}" if info is not None else kind.lower()
    metadata = body.get("metadata") or {}
    args = ["get", resource, str(metadata.get("name")), "-o", "json", "--ignore-not-found"]
    if metadata.get("namespace"):
        args += ["-n", str(metadata["namespace"])]
    out = cluster.kubectl(*args).stdout.strip()
    return json.loads(out) if out else None


@dataclass
class Row:
    case: Case
    cluster_ok: bool
    cluster_text: str
    review_ok: bool
    review_text: str

    @property
    def agrees(self) -> bool:
        if self.cluster_ok != self.review_ok:
            return False
        expect = self.case.expect
        if expect is None:
            return True
        if expect == "admitted":
            return self.cluster_ok
        return not self.cluster_ok and expect in self.cluster_text and expect in self.review_text


def _table(rows: list[Row]) -> str:
    width = max(len(row.case.where) for row in rows)
    lines = [f"{'':2}{'manifest':<{width}}  {'cluster':<8}  {'review':<8}  expected"]
    for row in rows:
        mark = "  " if row.agrees else "X "
        verdicts = f"{'admitted' if row.cluster_ok else 'refused':<8}  {'admitted' if row.review_ok else 'refused':<8}"
        lines.append(f"{mark}{row.case.where:<{width}}  {verdicts}  {row.case.expect or ''}")
        if not row.agrees:
            lines.append(f"{'':4}cluster: {row.cluster_text.strip()[:400]}")
            lines.append(f"{'':4}review:  {row.review_text.strip()[:400]}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def foundation(cluster: ControlPlane, platform: LocalPlatform) -> None:
    """Tenant acme, Project web and its namespace (as the controller would create it), known to the webhook."""
    documents = [
        *yaml.safe_load_all((EXAMPLES / "00-tenant-acme.yaml").read_text()),
        *yaml.safe_load_all((EXAMPLES / "10-project-web.yaml").read_text()),
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": TENANT_NAMESPACE,
                "labels": {"app.kubeop.io/tenant": "acme", "app.kubeop.io/project": "web"},
            },
        },
    ]
    cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([d for d in documents if d]))
    befores = [_placed(case.before) for case in CASES if case.before is not None]
    cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(befores))


def test_review_verdict_equals_the_cluster_verdict(cluster: ControlPlane, foundation: None) -> None:
    assert len(CASES) >= 60, f"only {len(CASES)} manifests"
    broken = [case for case in CASES if "/broken/" in case.source]
    assert len(broken) >= 20, f"only {len(broken)} broken manifests"
    covered = {(case.body["apiVersion"], case.body["kind"]) for case in CASES}
    assert {(info.api_version, info.kind) for info in KINDS} <= covered, "every served kind is covered"

    view: ClusterState = asyncio.run(snapshot(cluster.kubeconfig, limit_seconds=60))
    registries = build_registries()
    rows: list[Row] = []
    for number, case in enumerate(CASES, start=1):
        body = _placed(case.body)
        live = _live(cluster, body)
        result = cluster.kubectl(
            "apply",
            "--dry-run=server",
            "-f",
            "-",
            as_user=USER,
            as_groups=GROUPS,
            stdin=yaml.safe_dump(body),
            check=False,
        )
        outcome = review_manifest(
            Document(case.source, number, body),
            view,
            registries,
            f"consistency-{number}",
            "UPDATE" if live is not None else "CREATE",
            USER,
            GROUPS,
            live,
        )
        verdict = outcome.verdict
        rows.append(
            Row(
                case,
                result.returncode == 0,
                result.stderr if result.returncode else result.stdout + result.stderr,
                verdict.allowed,
                verdict.message or " ".join(verdict.warnings),
            )
        )
    assert all(row.agrees for row in rows), "\n" + _table(rows)
