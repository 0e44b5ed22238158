"""App (`paas.kubeop.io/v1alpha1`): an application delivered into a project namespace.

`type: Image` is kubeOP's own path: Deployment `app-<name>` with the revision (the first 12 hex characters of
the SHA-1 of the image) on it and on its pod template, plus Service `app-<name>` and, with `spec.host`, Ingress
`app-<name>`. `type: Helm` and `type: Git` hand delivery to Flux (a HelmRepository + HelmRelease, or a
GitRepository + Kustomization), whose CRDs may be absent: then the App reports `DependencyMissing`.
`type: Raw` is accepted but not delivered (`Ready=False`, reason `NotImplemented`): applying a tenant's
arbitrary manifests with the controller's identity would bypass the admission guardrails.

Everything built comes from the pure functions below; the reconcile applies and reports.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from controller.conditions import Condition, now_rfc3339, set_condition
from controller.kube import DEPLOYMENTS, INGRESSES, SERVICES
from controller.objects import Obj, generation_of, name_of, namespace_of
from controller.runtime import DONE, Result, owner_mapper
from controller.store import BY_UID
from crds.kubeop import GROUP, VERSION

if TYPE_CHECKING:
    from controller.manager import Context, Manager

log = logging.getLogger(__name__)

APP = (f"{GROUP}/{VERSION}", "App")
APP_LABEL = "app.kubeop.io/app"
REVISION_ANNOTATION = "kubeop.io/revision"
DEFAULT_PORT = 80

HELM_REPOSITORY = ("source.toolkit.fluxcd.io/v1", "HelmRepository")
HELM_RELEASE = ("helm.toolkit.fluxcd.io/v2", "HelmRelease")
GIT_REPOSITORY = ("source.toolkit.fluxcd.io/v1", "GitRepository")
KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
FLUX_KINDS = (HELM_REPOSITORY, HELM_RELEASE, GIT_REPOSITORY, KUSTOMIZATION)
PRUNED_KINDS = (
    *((rt.api_version, rt.kind) for rt in (DEPLOYMENTS, SERVICES, INGRESSES)),
    *FLUX_KINDS,
)
FLUX_INTERVAL = "5m"


# ---- field readers -----------------------------------------------------------------------------------------


def _spec(app: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = app.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _section(app: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = _spec(app).get(key)
    return value if isinstance(value, Mapping) else {}


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def app_type(app: Mapping[str, Any]) -> str:
    return str(_spec(app).get("type") or "Image")


def app_port(app: Mapping[str, Any]) -> int:
    return _int(_spec(app).get("port"), DEFAULT_PORT)


def child_name(app: Mapping[str, Any]) -> str:
    return f"app-{name_of(app)}"


def image_revision(image: str) -> str:
    """kubeOP's revision of an image: the first 12 hex characters of its SHA-1. Pure."""
    return hashlib.sha1(image.encode()).hexdigest()[:12]


def source_revision(*parts: str) -> str:
    """A revision for Helm and Git apps: the same digest over what selects the source. Pure."""
    return image_revision("\x00".join(parts))


def helm_source(chart: str) -> tuple[str, str, str]:
    """`spec.helm.chart` -> (repository URL, repository type, chart name). Pure.

    The chart is named by its repository and name together: `https://charts.example/podinfo` (an HTTP
    repository and chart `podinfo`) or `oci://ghcr.io/org/charts/podinfo` (an OCI repository).
    """
    repo, _, name = chart.rstrip("/").rpartition("/")
    kind = "oci" if repo.startswith("oci://") else "default"
    return repo, kind, name or chart


def revision_of(app: Mapping[str, Any]) -> str:
    kind = app_type(app)
    if kind == "Helm":
        helm = _section(app, "helm")
        return source_revision(str(helm.get("chart") or ""), str(helm.get("version") or ""))
    if kind == "Git":
        git = _section(app, "git")
        return source_revision(*(str(git.get(k) or "") for k in ("repo", "ref", "path")))
    if kind == "Image":
        return image_revision(str(_spec(app).get("image") or ""))
    return ""


# ---- pure builders -----------------------------------------------------------------------------------------


def deployment(app: Mapping[str, Any]) -> Obj:
    name, revision = name_of(app), revision_of(app)
    labels = {APP_LABEL: name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": child_name(app),
            "namespace": namespace_of(app),
            "labels": dict(labels),
            "annotations": {REVISION_ANNOTATION: revision},
        },
        "spec": {
            "replicas": _int(_spec(app).get("replicas"), 1),
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels), "annotations": {REVISION_ANNOTATION: revision}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": str(_spec(app).get("image") or ""),
                            "ports": [{"containerPort": app_port(app), "protocol": "TCP"}],
                        }
                    ]
                },
            },
        },
    }


def service(app: Mapping[str, Any]) -> Obj:
    labels = {APP_LABEL: name_of(app)}
    port = app_port(app)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": child_name(app), "namespace": namespace_of(app), "labels": dict(labels)},
        "spec": {
            "type": "ClusterIP",
            "selector": dict(labels),
            "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }


def ingress(app: Mapping[str, Any], host: str) -> Obj:
    backend = {"service": {"name": child_name(app), "port": {"number": app_port(app)}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": child_name(app), "namespace": namespace_of(app), "labels": {APP_LABEL: name_of(app)}},
        "spec": {
            "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}]
        },
    }


def _flux_metadata(app: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": child_name(app), "namespace": namespace_of(app), "labels": {APP_LABEL: name_of(app)}}


def helm_children(app: Mapping[str, Any]) -> list[Obj]:
    """HelmRepository + HelmRelease `app-<name>`; values are parsed from `spec.helm.values` (YAML). Pure."""
    helm = _section(app, "helm")
    repo, repo_type, chart = helm_source(str(helm.get("chart") or ""))
    repository_spec: dict[str, Any] = {"url": repo, "interval": FLUX_INTERVAL}
    if repo_type == "oci":
        repository_spec["type"] = "oci"
    chart_spec: dict[str, Any] = {
        "chart": chart,
        "sourceRef": {"kind": HELM_REPOSITORY[1], "name": child_name(app)},
    }
    if helm.get("version"):
        chart_spec["version"] = str(helm["version"])
    release_spec: dict[str, Any] = {
        "interval": FLUX_INTERVAL,
        "targetNamespace": namespace_of(app),
        "chart": {"spec": chart_spec},
    }
    values = yaml.safe_load(str(helm.get("values") or "")) if helm.get("values") else None
    if isinstance(values, dict) and values:
        release_spec["values"] = values
    return [
        {
            "apiVersion": HELM_REPOSITORY[0],
            "kind": HELM_REPOSITORY[1],
            "metadata": _flux_metadata(app),
            "spec": repository_spec,
        },
        {"apiVersion": HELM_RELEASE[0], "kind": HELM_RELEASE[1], "metadata": _flux_metadata(app), "spec": release_spec},
    ]


def git_reference(ref: str) -> dict[str, str]:
    """`spec.git.ref` as a Flux reference: 40 hex characters are a commit, `refs/tags/<t>` a tag, else a branch."""
    if len(ref) == 40 and all(c in "0123456789abcdef" for c in ref.lower()):
        return {"commit": ref}
    if ref.startswith("refs/tags/"):
        return {"tag": ref.removeprefix("refs/tags/")}
    return {"branch": ref.removeprefix("refs/heads/")}


def git_children(app: Mapping[str, Any]) -> list[Obj]:
    """GitRepository + Kustomization `app-<name>`, delivering `spec.git.path` into the App's namespace. Pure."""
    git = _section(app, "git")
    ref = str(git.get("ref") or "main")
    git_ref = git_reference(ref)
    path = str(git.get("path") or "./")
    return [
        {
            "apiVersion": GIT_REPOSITORY[0],
            "kind": GIT_REPOSITORY[1],
            "metadata": _flux_metadata(app),
            "spec": {"url": str(git.get("repo") or ""), "ref": git_ref, "interval": FLUX_INTERVAL},
        },
        {
            "apiVersion": KUSTOMIZATION[0],
            "kind": KUSTOMIZATION[1],
            "metadata": _flux_metadata(app),
            "spec": {
                "interval": FLUX_INTERVAL,
                "path": path,
                "prune": True,
                "targetNamespace": namespace_of(app),
                "sourceRef": {"kind": GIT_REPOSITORY[1], "name": child_name(app)},
            },
        },
    ]


def desired_children(app: Mapping[str, Any]) -> list[Obj]:
    """Every child of an App for its type (none for Raw). Pure."""
    kind = app_type(app)
    children: list[Obj] = []
    if kind == "Image":
        children = [deployment(app), service(app)]
    elif kind == "Helm":
        children = helm_children(app)
    elif kind == "Git":
        children = git_children(app)
    host = str(_spec(app).get("host") or "")
    if host and kind == "Image":
        children.append(ingress(app, host))
    return children


# ---- status ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str
    message: str


def deployment_readiness(live: Mapping[str, Any] | None) -> Readiness:
    """Ready once the Deployment has an available replica (kubeOP's rule). Pure."""
    status = (live or {}).get("status")
    available = status.get("availableReplicas") if isinstance(status, Mapping) else None
    if isinstance(available, int) and available >= 1:
        return Readiness(True, "Converged", "App reconciled")
    return Readiness(False, "Progressing", "Waiting for rollout")


def flux_readiness(live: Mapping[str, Any] | None, kind: str) -> Readiness:
    """Ready when the Flux object's own `Ready` condition is True; its message is passed on. Pure."""
    status = (live or {}).get("status")
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    for condition in conditions or []:
        if isinstance(condition, Mapping) and condition.get("type") == "Ready":
            message = str(condition.get("message") or "")
            if condition.get("status") == "True":
                return Readiness(True, "Converged", message or f"{kind} is ready")
            return Readiness(False, "Progressing", message or f"waiting for {kind}")
    return Readiness(False, "Progressing", f"waiting for {kind}")


def app_status(app: Mapping[str, Any], readiness: Readiness, now: str) -> dict[str, Any]:
    current = app.get("status") if isinstance(app.get("status"), Mapping) else {}
    assert isinstance(current, Mapping)
    condition = Condition("Ready", "True" if readiness.ready else "False", readiness.reason, readiness.message)
    status: dict[str, Any] = {
        "ready": readiness.ready,
        "conditions": set_condition(current.get("conditions"), condition, generation_of(app), now),
    }
    revision = revision_of(app)
    if revision:
        status["revision"] = revision
    return status


# ---- reconcile ---------------------------------------------------------------------------------------------


async def _write_status(ctx: Context, app: Obj, status: Mapping[str, Any]) -> None:
    informer = ctx.informer(*APP)
    assert informer.resource is not None
    await ctx.status.update(informer.resource, app, status, informer)


async def reconcile(app: Obj, ctx: Context) -> Result:
    apps = ctx.informer(*APP)
    assert apps.resource is not None
    now = now_rfc3339()
    kind = app_type(app)
    # The desired children are applied first: a Flux kind that is not served raises DependencyMissing after
    # everything else is done, and the engine reports it on the App.
    report = await ctx.applier.apply(
        app,
        apps.resource,
        desired_children(app),
        prune=PRUNED_KINDS,
        owner_alive=lambda uid: bool(apps.store.index_keys(BY_UID, uid)),
    )
    if kind == "Image":
        live = next((o for k, o in report.applied.items() if k.kind == "Deployment"), None)
        readiness = deployment_readiness(live)
    elif kind in ("Helm", "Git"):
        release_kind = HELM_RELEASE[1] if kind == "Helm" else KUSTOMIZATION[1]
        live = next((o for k, o in report.applied.items() if k.kind == release_kind), None)
        readiness = flux_readiness(live, release_kind)
    else:
        readiness = Readiness(False, "NotImplemented", f"type {kind} is accepted but not delivered")
    await _write_status(ctx, app, app_status(app, readiness, now))
    return DONE


# ---- wiring ------------------------------------------------------------------------------------------------


def setup(manager: Manager) -> None:
    apps = manager.informer(*APP)
    controller = manager.add_controller("App", apps, reconcile)
    to_owner = owner_mapper(apps)
    for api_version, kind in PRUNED_KINDS:
        controller.watch(manager.owned(api_version, kind), to_owner)
