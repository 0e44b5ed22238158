"""The generated CRDs against a real API server: install, strict apply, CEL rules, columns, explain, subresources.

Only the CRDs are needed (no webhook, no controller): everything here is enforced by the API server itself.
Each test works in its own namespace and gives cluster-scoped objects unique names.
"""

from __future__ import annotations

import copy
import json
import pathlib
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from crds import kind_of
from crds.defaults import with_defaults

pytestmark = pytest.mark.e2e

REPO = pathlib.Path(__file__).resolve().parents[2]
CHART_CRDS = REPO / "deploy" / "chart" / "crds"
MANIFESTS = REPO / "tests" / "fixtures" / "manifests"
# One object per file, each valid; broken/ and the multi-document samples/ are judged in test_review_consistency_e2e.
FIXTURES = sorted(
    str(path.relative_to(MANIFESTS))
    for path in MANIFESTS.rglob("*.yaml")
    if path.relative_to(MANIFESTS).parts[0] not in ("broken", "samples")
)


def _suffix() -> str:
    return uuid.uuid4().hex[:8]


def _load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((MANIFESTS / name).read_text())
    return document


def _resource(raw: dict[str, Any]) -> str:
    """`plural.group`: unambiguous even for the two Django kinds."""
    info = kind_of(raw)
    return f"{info.plural}.{info.group}"


def _locate(raw: dict[str, Any]) -> list[str]:
    namespace = raw["metadata"].get("namespace")
    return [_resource(raw), raw["metadata"]["name"], *(["-n", namespace] if namespace else [])]


def _remove(raw: dict[str, Any], path: str) -> dict[str, Any]:
    result = copy.deepcopy(raw)
    *parents, last = path.split(".")
    node = result
    for step in parents:
        node = node[step]
    node.pop(last, None)
    return result


class Objects:
    """Places fixture objects in the test's namespace (or renames cluster-scoped ones) and cleans them up."""

    def __init__(self, cluster: Any, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.suffix = _suffix()
        self.cluster_scoped: list[list[str]] = []

    def place(self, raw: dict[str, Any]) -> dict[str, Any]:
        result = copy.deepcopy(raw)
        metadata = result["metadata"]
        if kind_of(result).scope == "Namespaced":
            metadata["namespace"] = self.namespace
        else:
            metadata["name"] = f"{metadata['name']}-{self.suffix}"
            metadata.pop("namespace", None)
        return result

    def apply(self, raw: dict[str, Any], check: bool = True) -> Any:
        """`kubectl apply --validate=strict` of an already placed object."""
        if kind_of(raw).scope == "Cluster":
            self.cluster_scoped.append(_locate(raw))
        return self.cluster.kubectl("apply", "--validate=strict", "-f", "-", stdin=yaml.safe_dump(raw), check=check)

    def tenant_for(self, project: dict[str, Any]) -> dict[str, Any]:
        """A Project with its Tenant created first (admission, when installed, requires the Tenant to exist)."""
        tenant = self.place(_load("kubeop/tenant-minimal.yaml"))
        self.apply(tenant)
        result = copy.deepcopy(project)
        result["spec"]["tenantRef"] = tenant["metadata"]["name"]
        return result

    def get(self, raw: dict[str, Any]) -> dict[str, Any]:
        stored: dict[str, Any] = json.loads(self.cluster.kubectl("get", *_locate(raw), "-o", "json").stdout)
        return stored

    def cleanup(self) -> None:
        for location in reversed(self.cluster_scoped):
            self.cluster.kubectl("delete", *location, "--ignore-not-found", "--wait=false", check=False)


@pytest.fixture(scope="module")
def crds_installed(cluster: Any) -> Any:
    """The committed CRDs applied and Established."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=tenantgate", "-f", str(CHART_CRDS))
    names = [f"crd/{path.stem}" for path in sorted(CHART_CRDS.glob("*.yaml"))]
    cluster.kubectl("wait", "--for", "condition=established", "--timeout=60s", *names)
    return cluster


@pytest.fixture
def objects(crds_installed: Any) -> Iterator[Objects]:
    namespace = f"crd-{_suffix()}"
    crds_installed.kubectl("create", "namespace", namespace)
    placed = Objects(crds_installed, namespace)
    try:
        yield placed
    finally:
        placed.cleanup()
        crds_installed.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


def _eventually(probe: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(0.5)
    return probe()


def test_crds_install_and_become_established(crds_installed: Any) -> None:
    for path in sorted(CHART_CRDS.glob("*.yaml")):
        conditions = crds_installed.kubectl(
            "get", f"crd/{path.stem}", "-o", "jsonpath={.status.conditions[*].type}={.status.conditions[*].status}"
        ).stdout
        types, statuses = conditions.split("=")
        assert (
            dict(zip(types.split(), statuses.split(), strict=True)).items()
            >= {
                "NamesAccepted": "True",
                "Established": "True",
            }.items()
        ), path.stem


@pytest.mark.parametrize("fixture", FIXTURES)
def test_fixture_manifest_applies_strictly_and_is_defaulted_like_the_models(objects: Objects, fixture: str) -> None:
    raw = objects.place(_load(fixture))
    if raw["kind"] == "Project":
        raw = objects.tenant_for(raw)
    result = objects.apply(raw)
    assert "created" in result.stdout
    stored = objects.get(raw)
    info = kind_of(raw)
    assert stored["spec"] == with_defaults(info.group, info.kind, raw)["spec"]


CEL_VIOLATIONS = [
    ("kubeop/tenant-minimal.yaml", lambda raw: _remove(raw, "spec.name"), "spec.name is required"),
    ("kubeop/tenant-minimal.yaml", lambda raw: {**raw, "spec": {**raw["spec"], "name": ""}}, "spec.name is required"),
    ("kubeop/project.yaml", lambda raw: _remove(raw, "spec.tenantRef"), "spec.tenantRef is required"),
    ("kubeop/project.yaml", lambda raw: _remove(raw, "spec.name"), "spec.name is required"),
    ("kubeop/app-image.yaml", lambda raw: _remove(raw, "spec.image"), "spec.image required when type=Image"),
    (
        "kubeop/app-image.yaml",
        lambda raw: {**raw, "spec": {"host": "web.local"}},
        "spec.image required when type=Image",
    ),
    ("kubeop/dnsrecord.yaml", lambda raw: _remove(raw, "spec.host"), "spec.host is required"),
    ("kubeop/dnsrecord.yaml", lambda raw: _remove(raw, "spec.target"), "spec.target is required"),
    ("kubeop/certificate.yaml", lambda raw: _remove(raw, "spec.host"), "spec.host is required"),
    (
        "kubeop/policy.yaml",
        lambda raw: {**raw, "spec": {"egressAllowCIDRs": [f"10.{i}.0.0/16" for i in range(65)]}},
        "egressAllowCIDRs list too large",
    ),
    ("kubeop/registry.yaml", lambda raw: _remove(raw, "spec.host"), "spec.host is required"),
    (
        "kubeop/registry.yaml",
        lambda raw: _remove(raw, "spec.passwordRef"),
        "spec.passwordRef must be set when username provided",
    ),
]


@pytest.mark.parametrize(
    ("fixture", "mutate", "message"),
    CEL_VIOLATIONS,
    ids=[f"{fixture}:{message}" for fixture, _, message in CEL_VIOLATIONS],
)
def test_cel_rule_violation_is_refused_with_its_message(
    objects: Objects, fixture: str, mutate: Callable[[dict[str, Any]], dict[str, Any]], message: str
) -> None:
    result = objects.apply(mutate(objects.place(_load(fixture))), check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert "no such key" not in result.stderr


IMMUTABLE = [
    ("shophub/shop-postgres-standard.yaml", {"database": "mongodb"}, 'spec.database is immutable: it was "postgres"'),
    ("kubeop/project.yaml", {"name": "api"}, 'spec.name is immutable: it was "web"'),
    ("kubeop/project.yaml", {"tenantRef": "someone-else"}, "spec.tenantRef is immutable"),
    ("shophub/discordchannel.yaml", {"guildId": "42"}, "spec.guildId is immutable"),
]


@pytest.mark.parametrize(
    ("fixture", "change", "message"),
    IMMUTABLE,
    ids=[f"{fixture}:{next(iter(change))}" for fixture, change, _ in IMMUTABLE],
)
def test_change_of_immutable_field_is_refused(
    objects: Objects, fixture: str, change: dict[str, Any], message: str
) -> None:
    raw = objects.place(_load(fixture))
    if raw["kind"] == "Project":
        raw = objects.tenant_for(raw)
    objects.apply(raw)
    patched = objects.cluster.kubectl(
        "patch", *_locate(raw), "--type=merge", "-p", json.dumps({"spec": change}), check=False
    )
    assert patched.returncode != 0
    assert message in patched.stderr


def test_mutable_field_still_changes(objects: Objects) -> None:
    raw = objects.place(_load("shophub/shop-postgres-standard.yaml"))
    objects.apply(raw)
    objects.cluster.kubectl("patch", *_locate(raw), "--type=merge", "-p", '{"spec": {"title": "Renamed"}}')
    assert objects.get(raw)["spec"]["title"] == "Renamed"


COLUMNS = [
    ("shops", "shophub/shop-postgres-standard.yaml", ["NAME", "TITLE", "DB", "AVAILABILITY", "READY", "URL", "AGE"]),
    ("sh", "shophub/shop-postgres-standard.yaml", ["NAME", "TITLE", "DB", "AVAILABILITY", "READY", "URL", "AGE"]),
    ("dc", "shophub/discordchannel.yaml", ["NAME", "GUILD", "NAME", "CHANNEL", "READY", "AGE"]),
    ("wlt", "shophub/wallet-generated.yaml", ["NAME", "NETWORK", "ADDRESS", "READY", "AGE"]),
    ("ten", "kubeop/tenant-minimal.yaml", ["NAME", "READY", "AGE"]),
    ("proj", "kubeop/project.yaml", ["NAME", "NAMESPACE", "READY", "AGE"]),
    ("apps.paas.kubeop.io", "kubeop/app-image.yaml", ["NAME", "TYPE", "HOST", "REVISION", "READY", "AGE"]),
    ("djangos.thismatters.github", "django/thismatters-full.yaml", ["NAME", "STATUS", "VERSION", "READY", "AGE"]),
]


@pytest.mark.parametrize(("resource", "fixture", "headers"), COLUMNS, ids=[row[0] for row in COLUMNS])
def test_get_shows_printer_columns(objects: Objects, resource: str, fixture: str, headers: list[str]) -> None:
    raw = objects.place(_load(fixture))
    if raw["kind"] == "Project":
        raw = objects.tenant_for(raw)
    objects.apply(raw)
    scope = ["-n", objects.namespace] if "namespace" in raw["metadata"] else []
    output = objects.cluster.kubectl("get", resource, raw["metadata"]["name"], *scope).stdout
    assert output.splitlines()[0].split() == headers


def test_explain_prints_the_field_description(crds_installed: Any) -> None:
    expected = "Replica tier used when spec.replicas is not set: standard runs 2 replicas, high runs 3."
    outputs: list[str] = []

    def explained() -> bool:
        result = crds_installed.kubectl("explain", "shop.spec.availability", check=False)
        outputs.append(result.stdout + result.stderr)
        return expected in " ".join(result.stdout.split())

    assert _eventually(explained), outputs[-1]


def test_scale_sets_spec_replicas(objects: Objects) -> None:
    raw = objects.place(_load("shophub/shop-postgres-standard.yaml"))
    objects.apply(raw)
    objects.cluster.kubectl("scale", "shop", raw["metadata"]["name"], "-n", objects.namespace, "--replicas", "4")
    assert objects.get(raw)["spec"]["replicas"] == 4


CONDITION = {
    "type": "Available",
    "status": "True",
    "reason": "Ready",
    "message": "all replicas are ready",
    "lastTransitionTime": "2024-05-01T10:00:00Z",
    "observedGeneration": 1,
}


def test_status_is_written_only_through_the_status_subresource(objects: Objects) -> None:
    raw = objects.place(_load("shophub/shop-postgres-standard.yaml"))
    objects.apply({**raw, "status": {"readyReplicas": 9, "url": "http://forged"}})
    assert "status" not in objects.get(raw) or "url" not in objects.get(raw)["status"]

    status = {"readyReplicas": 2, "url": "http://tea-house.localhost", "selector": "app=tea-house"}
    objects.cluster.kubectl(
        "patch",
        *_locate(raw),
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {**status, "conditions": [CONDITION]}}),
    )
    stored = objects.get(raw)["status"]
    assert {key: stored[key] for key in status} == status
    assert stored["conditions"] == [CONDITION], "no condition field is pruned"
    row = re.split(r"\s{2,}", objects.cluster.kubectl("get", *_locate(raw), "--no-headers").stdout.strip())
    assert row[1:6] == ["Tea House", "postgres", "standard", "2", "http://tea-house.localhost"]


def test_project_conditions_are_kept_and_shown_in_ready_column(objects: Objects) -> None:
    raw = objects.tenant_for(objects.place(_load("kubeop/project.yaml")))
    objects.apply(raw)
    ready = {**CONDITION, "type": "Ready", "reason": "Bootstrapped", "message": "Project namespace ready"}
    status = {"namespace": "kubeop-acme-web", "ready": True, "conditions": [ready]}
    objects.cluster.kubectl(
        "patch", *_locate(raw), "--subresource=status", "--type=merge", "-p", json.dumps({"status": status})
    )
    assert objects.get(raw)["status"] == status
    row = objects.cluster.kubectl("get", *_locate(raw), "--no-headers").stdout.split()
    assert row[1:3] == ["kubeop-acme-web", "True"]


@pytest.mark.parametrize(
    "fixture",
    ["shophub/shop-postgres-standard.yaml", "shophub/discordchannel.yaml", "shophub/wallet-generated.yaml"],
)
def test_null_spec_is_refused(objects: Objects, fixture: str) -> None:
    raw = {**objects.place(_load(fixture)), "spec": None}
    result = objects.apply(raw, check=False)
    assert result.returncode != 0
    assert "spec: Required value" in result.stderr
