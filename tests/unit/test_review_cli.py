"""`tenantgate review`: manifests and AdmissionReview files through the server's dispatch, offline."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from admission import dispatch
from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.review import implied_namespaces
from admission.rules import build_registries
from admission.verdict import Verdict, allowed
from tenantgate.review import EXIT_BAD_INPUT, EXIT_DENIED, EXIT_OK, run_review

pytestmark = pytest.mark.unit

TENANT = {
    "apiVersion": "paas.kubeop.io/v1alpha1",
    "kind": "Tenant",
    "metadata": {"name": "acme"},
    "spec": {"name": "Acme"},
}
PROJECT = {
    "apiVersion": "paas.kubeop.io/v1alpha1",
    "kind": "Project",
    "metadata": {"name": "web"},
    "spec": {"tenantRef": "acme", "name": "web"},
}
ORPHAN = {
    "apiVersion": "paas.kubeop.io/v1alpha1",
    "kind": "Project",
    "metadata": {"name": "lost"},
    "spec": {"tenantRef": "ghost", "name": "lost"},
}
APP = {
    "apiVersion": "paas.kubeop.io/v1alpha1",
    "kind": "App",
    "metadata": {"name": "web", "namespace": "kubeop-acme-web"},
    "spec": {"type": "Image", "image": "nginx:1.25", "port": 80, "replicas": 1},
}
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "b"}}


def args(
    *files: str | Path,
    output: str = "table",
    operation: str = "CREATE",
    user: str | None = None,
    groups: list[str] | None = None,
) -> argparse.Namespace:
    return argparse.Namespace(
        filename=[str(f) for f in files],
        cluster=False,
        kubeconfig=None,
        as_user=user,
        as_groups=groups,
        output=output,
        operation=operation,
    )


def run(arguments: argparse.Namespace, stdin: str = "", **kwargs: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_review(arguments, stdin=io.StringIO(stdin), stdout=out, stderr=err, **kwargs)
    return code, out.getvalue(), err.getvalue()


def write(path: Path, *documents: Any) -> Path:
    path.write_text(yaml.safe_dump_all(list(documents), sort_keys=False))
    return path


def test_admitted_manifests_exit_0_and_show_patches(tmp_path: Path) -> None:
    manifest = write(tmp_path / "all.yaml", TENANT, PROJECT, APP, CONFIGMAP)
    code, out, err = run(args(manifest))
    assert code == EXIT_OK, out + err
    assert "PATCHED  App.paas.kubeop.io" in out
    assert 'patch: add /metadata/labels/app.kubeop.io~1managed-by = "kubeop-admission"' in out
    assert "4 object(s) reviewed, 0 denied" in out


def test_without_as_the_review_acts_as_a_cluster_admin(tmp_path: Path) -> None:
    manifest = write(tmp_path / "t.yaml", TENANT)
    code, out, _ = run(args(manifest), registries=None)
    assert code == EXIT_OK, out


def test_a_tenant_owner_may_create_projects_and_apps_but_not_tenants(tmp_path: Path) -> None:
    owned = {**TENANT, "spec": {"name": "Acme", "owners": [{"kind": "Group", "name": "acme-admins"}]}}
    write(tmp_path / "a-tenant.yaml", owned)
    project_and_app = write(tmp_path / "b.yaml", PROJECT, APP)
    code, out, _ = run(args(project_and_app, tmp_path / "a-tenant.yaml", user="alice", groups=["acme-admins"]))
    assert code == EXIT_DENIED
    assert 'DENIED   Tenant.paas.kubeop.io   acme                 Tenant "acme": only platform admins' in out
    assert "PATCHED  Project.paas.kubeop.io  web" in out
    assert "PATCHED  App.paas.kubeop.io      kubeop-acme-web/web" in out  # its namespace is implied by the Project


def test_a_stranger_is_denied_the_tenants_project(tmp_path: Path) -> None:
    owned = {**TENANT, "spec": {"name": "Acme", "owners": [{"kind": "Group", "name": "acme-admins"}]}}
    manifest = write(tmp_path / "p.yaml", owned, PROJECT)
    code, out, _ = run(args(manifest, user="mallory", groups=["globex-admins"]))
    assert code == EXIT_DENIED
    assert 'only owners of tenant "acme" may create its Projects; user "mallory" is not an owner' in out


def test_any_denial_exits_1_with_the_message(tmp_path: Path) -> None:
    manifest = write(tmp_path / "p.yaml", TENANT, ORPHAN)
    code, out, _ = run(args(manifest))
    assert code == EXIT_DENIED
    assert 'DENIED   Project.paas.kubeop.io  lost  spec.tenantRef "ghost": referenced tenant does not exist' in out


def test_tenants_come_from_other_files_too(tmp_path: Path) -> None:
    write(tmp_path / "a-tenant.yaml", TENANT)
    write(tmp_path / "b-project.yaml", PROJECT)
    (tmp_path / "notes.txt").write_text("not a manifest")
    code, out, _ = run(args(tmp_path))
    assert code == EXIT_OK, out
    assert "2 object(s) reviewed" in out


def test_kind_list_is_flattened(tmp_path: Path) -> None:
    manifest = write(tmp_path / "list.yaml", {"apiVersion": "v1", "kind": "List", "items": [TENANT, ORPHAN]})
    code, out, _ = run(args(manifest))
    assert code == EXIT_DENIED
    assert "2 object(s) reviewed, 1 denied" in out


def test_helm_output_on_stdin() -> None:
    rendered = (
        "---\n# Source: chart/templates/tenant.yaml\n" + yaml.safe_dump(TENANT) + "---\n---\n" + yaml.safe_dump(PROJECT)
    )
    code, out, _ = run(args("-"), stdin=rendered)
    assert code == EXIT_OK, out
    assert "2 object(s) reviewed" in out


def test_admission_review_json_keeps_its_request(tmp_path: Path) -> None:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "recorded-uid",
            "kind": {"group": "paas.kubeop.io", "version": "v1alpha1", "kind": "Project"},
            "resource": {"group": "paas.kubeop.io", "version": "v1alpha1", "resource": "projects"},
            "name": "lost",
            "operation": "UPDATE",
            "userInfo": {"username": "bob"},
            "object": ORPHAN,
            "oldObject": {**ORPHAN, "spec": {"tenantRef": "acme", "name": "lost"}},
        },
    }
    (tmp_path / "review.json").write_text(json.dumps(review))
    code, out, _ = run(args(tmp_path / "review.json", output="json"))
    assert code == EXIT_DENIED
    (item,) = json.loads(out)["items"]
    assert item["operation"] == "UPDATE"
    assert item["verdict"] == "denied"
    assert item["code"] == 422  # spec.tenantRef is immutable: the model refuses the change before any guardrail
    assert "spec.tenantRef is immutable" in item["message"]


def test_json_output_lists_verdict_warnings_and_patch(tmp_path: Path) -> None:
    manifest = write(tmp_path / "a.yaml", TENANT, PROJECT, APP)
    code, out, _ = run(args(manifest, output="json"))
    assert code == EXIT_OK
    item = json.loads(out)["items"][-1]
    assert item["kind"] == "App"
    assert item["namespace"] == "kubeop-acme-web"
    assert item["verdict"] == "patched"
    assert item["patch"] == [
        {"op": "add", "path": "/metadata/labels", "value": {}},
        {"op": "add", "path": "/metadata/labels/app.kubeop.io~1managed-by", "value": "kubeop-admission"},
        {"op": "add", "path": "/metadata/labels/app.kubeop.io~1tenant", "value": "acme"},
        {"op": "add", "path": "/metadata/labels/app.kubeop.io~1project", "value": "web"},
    ]


def test_acting_user_operation_and_default_namespace_reach_handlers(tmp_path: Path) -> None:
    seen: list[AdmissionRequest] = []

    def capture(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
        seen.append(request)
        return allowed()

    registries = build_registries()
    registries.validating.add("", "ConfigMap", ["UPDATE"], capture)
    manifest = write(tmp_path / "cm.yaml", CONFIGMAP)
    code, _, _ = run(args(manifest, operation="UPDATE", user="alice", groups=["acme-admins"]), registries=registries)
    assert code == EXIT_OK
    (request,) = seen
    assert request.user_info.username == "alice"
    assert request.user_info.groups == ("acme-admins",)
    assert request.operation == "UPDATE"
    assert request.old_object is not None
    assert request.namespace == "default"
    assert request.dry_run


def test_review_runs_the_server_dispatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = dispatch.review

    def spy(*a: Any, **kw: Any) -> dispatch.ReviewOutcome:
        calls.append("review")
        return original(*a, **kw)

    monkeypatch.setattr(dispatch, "review", spy)
    run(args(write(tmp_path / "t.yaml", TENANT)))
    assert calls == ["review"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a: [unclosed", "invalid YAML"),
        ("- just\n- a list\n", "expected a Kubernetes object"),
        ("metadata: {name: x}\n", "no apiVersion and kind"),
        (
            json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}}),
            "not a usable AdmissionReview",
        ),
    ],
    ids=["invalid_yaml", "not_a_mapping", "no_kind", "broken_admission_review"],
)
def test_bad_input_exits_2_with_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text(content)
    code, out, err = run(args(tmp_path / "bad.yaml"))
    assert code == EXIT_BAD_INPUT
    assert message in err
    assert str(tmp_path / "bad.yaml") in err
    assert out == ""


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    code, _, err = run(args(tmp_path / "missing.yaml"))
    assert code == EXIT_BAD_INPUT
    assert "cannot read" in err


def test_implied_project_namespaces_carry_the_tenants_pod_security_level() -> None:
    restricted = {**TENANT, "metadata": {"name": "acme", "annotations": {"tenantgate.io/pod-security": "restricted"}}}
    [namespace] = implied_namespaces([restricted, PROJECT])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    [namespace] = implied_namespaces([PROJECT])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
