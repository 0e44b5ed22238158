"""App (`paas.kubeop.io/v1alpha1`): an application delivered into a project namespace.

`type: Image` is kubeOP's own path: Deployment `app-<name>` with the revision (the first 12 hex characters of
the SHA-1 of the image) on it and on its pod template, plus Service `app-<name>` and, with `spec.host`, Ingress
`app-<name>`. `type: Helm` and `type: Git` hand delivery to Flux (a HelmRepository + HelmRelease, or a
GitRepository + Kustomization), whose CRDs may be absent: then the App reports `DependencyMissing`.
`type: Raw` applies `spec.rawManifests` into the App's namespace once the admission guardrails admit every
document (`app_raw`). Hooks (`app_hooks`) run before and after a new revision; while pre-hooks run or after one
failed, nothing of the new revision is applied and `status.revision` keeps naming the revision being served.

Everything built comes from the pure functions below and in those modules; the reconcile applies and reports.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from admission.registry import Registries
from admission.rules import build_registries
from controller.applier import prepare
from controller.conditions import Condition, now_rfc3339, set_condition
from controller.context import Context
from controller.lifecycle import app_transitions
from controller.manager import Manager
from controller.reconcilers import app_hooks, app_raw
from controller.reconcilers.tenancy import POLICY, PROJECT, TENANT
from controller.runtime import DONE, Result, owner_mapper
from crds.kubeop import GROUP, VERSION
from kube.client import DEPLOYMENTS, INGRESSES, JOBS, NAMESPACES, SERVICES, NotServed
from kube.objects import Obj, generation_of, is_deleting, name_of, namespace_of, uid_of
from kube.store import BY_UID
from tenancy.labels import INVENTORY_LABEL

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
PRUNED_KINDS = tuple(
    dict.fromkeys(
        (
            *((rt.api_version, rt.kind) for rt in (DEPLOYMENTS, SERVICES, INGRESSES)),
            *FLUX_KINDS,
            *app_raw.RAW_KINDS,
        )
    )
)
"""Every kind an App builds, whatever its type: switching types prunes what the old type built."""
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
    if kind == "Raw":
        return image_revision(str(_spec(app).get("rawManifests") or ""))
    return image_revision(str(_spec(app).get("image") or ""))


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


def _workload_waiting(obj: Mapping[str, Any]) -> bool:
    """A Deployment or StatefulSet that wants pods and has none available (ready for StatefulSets) yet."""
    spec, status = obj.get("spec"), obj.get("status")
    replicas = _int(spec.get("replicas"), 1) if isinstance(spec, Mapping) else 1
    if replicas == 0:
        return False
    field_name = "availableReplicas" if obj.get("kind") == "Deployment" else "readyReplicas"
    return _int(status.get(field_name) if isinstance(status, Mapping) else None, 0) < 1


def raw_readiness(applied: Iterable[Mapping[str, Any]]) -> Readiness:
    """Ready when every Deployment and StatefulSet among the applied documents has a pod available. Pure."""
    live = list(applied)
    waiting = sorted(
        f"{o.get('kind')} {name_of(o)}"
        for o in live
        if o.get("kind") in ("Deployment", "StatefulSet") and _workload_waiting(o)
    )
    if waiting:
        return Readiness(False, "Progressing", f"Waiting for rollout of {', '.join(waiting)}")
    return Readiness(True, "Converged", f"{len(live)} manifest(s) applied")


def app_status(
    app: Mapping[str, Any],
    readiness: Readiness,
    now: str,
    revision: str | None = None,
    hooks: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The wanted status: `revision` is the revision being served (the target unless a gate holds it back)."""
    current = app.get("status") if isinstance(app.get("status"), Mapping) else {}
    assert isinstance(current, Mapping)
    condition = Condition("Ready", "True" if readiness.ready else "False", readiness.reason, readiness.message)
    status: dict[str, Any] = {
        "ready": readiness.ready,
        "conditions": set_condition(current.get("conditions"), condition, generation_of(app), now),
    }
    served = revision_of(app) if revision is None else revision
    if served:
        status["revision"] = served
    if hooks is not None:
        status["hooks"] = dict(hooks)
    return status


def served_revision(app: Mapping[str, Any]) -> str:
    """The revision whose children were last applied, as recorded in `status.revision`."""
    status = app.get("status")
    return str(status.get("revision") or "") if isinstance(status, Mapping) else ""


# ---- reconcile ---------------------------------------------------------------------------------------------


@functools.cache
def registries() -> Registries:
    """The admission handlers, built once per process (the same set the webhook serves)."""
    return build_registries()


def _view_objects(ctx: Context) -> list[Mapping[str, Any]]:
    """What admission needs to judge a document, from the controller's caches."""
    objects: list[Mapping[str, Any]] = []
    for api_version, kind in (TENANT, PROJECT, POLICY, APP):
        objects.extend(ctx.informer(api_version, kind).store.objects())
    for rt in (NAMESPACES, INGRESSES):
        objects.extend(ctx.owned(rt.api_version, rt.kind).store.objects())
    objects.extend(ctx.manager.settings_informer().store.objects())
    return objects


async def _scopes(ctx: Context, documents: list[Obj]) -> dict[tuple[str, str], bool | None]:
    """Discovery's answer per (apiVersion, kind): namespaced or not; None when not served."""
    scopes: dict[tuple[str, str], bool | None] = {}
    for doc in documents:
        key = app_raw.type_key(doc)
        if key not in scopes:
            try:
                scopes[key] = (await ctx.discovery.resolve(*key)).namespaced
            except NotServed:
                scopes[key] = None
    return scopes


async def raw_children(app: Obj, ctx: Context) -> app_raw.RawOutcome:
    """Parse, scope and admit `spec.rawManifests`: the documents to apply, or why none are."""
    parsed = app_raw.parse_manifests(str(_spec(app).get("rawManifests") or ""))
    if parsed.problem is not None:
        return parsed
    scoped = app_raw.scope_documents(parsed.documents, namespace_of(app), await _scopes(ctx, parsed.documents))
    if scoped.problem is not None:
        return scoped
    objects = _view_objects(ctx)
    if ctx.owned(NAMESPACES.api_version, NAMESPACES.kind).get("", namespace_of(app)) is None:
        # Not a Project's namespace: its labels (a hand-made tenant namespace?) decide the rules; ask once.
        namespace = await ctx.client.get(NAMESPACES, namespace_of(app))
        if namespace is not None:
            objects.append(namespace)
    view = app_raw.cluster_view(objects)
    return app_raw.admit_documents(scoped.documents, namespace_of(app), view, registries(), uid_of(app))


async def _create_hook_job(ctx: Context, app: Obj, job: Obj) -> None:
    """Create a hook Job once. It carries no inventory label, so the applier's pruning never deletes it; its
    ownerReference lets the garbage collector remove it with the App (and wakes the App on changes)."""
    prepared = prepare(job, app, owner_namespaced=True, child_namespaced=True)
    prepared["metadata"]["labels"].pop(INVENTORY_LABEL, None)
    created = await ctx.client.create(JOBS, prepared)
    ctx.owned(JOBS.api_version, JOBS.kind).write_through(created)
    await ctx.events.normal(app, "Created", f"Created Job {name_of(created)}", "Create")


@dataclass
class HookState:
    jobs: dict[app_hooks.HookPhase, list[Obj]]
    phases: dict[app_hooks.HookPhase, list[str]]

    def status(self, revision: str) -> dict[str, Any] | None:
        return app_hooks.hooks_status(revision, self.phases["pre"], self.phases["post"])


def _hook_state(ctx: Context, app: Obj, revision: str) -> HookState:
    cache = ctx.owned(JOBS.api_version, JOBS.kind)
    jobs = {phase: app_hooks.hook_jobs(app, revision, phase) for phase in app_hooks.PHASES}
    phases = {
        phase: app_hooks.observed_phases(
            [cache.get(namespace_of(app), name_of(job)) for job in jobs[phase]],
            app_hooks.recorded_phases(app.get("status"), revision, phase),
        )
        for phase in app_hooks.PHASES
    }
    return HookState(jobs, phases)


async def _act_on_hooks(ctx: Context, app: Obj, decision: app_hooks.HookDecision, state: HookState) -> None:
    if decision.create is not None:
        phase, index = decision.create
        await _create_hook_job(ctx, app, state.jobs[phase][index])
        state.phases[phase][index] = app_hooks.RUNNING
    if decision.reason.endswith("Failed"):
        await ctx.events.warning(app, decision.reason, decision.message, "Hook")


def _children_readiness(kind: str, applied: Mapping[Any, Obj]) -> Readiness:
    if kind == "Image":
        return deployment_readiness(next((o for k, o in applied.items() if k.kind == "Deployment"), None))
    if kind in ("Helm", "Git"):
        release_kind = HELM_RELEASE[1] if kind == "Helm" else KUSTOMIZATION[1]
        return flux_readiness(next((o for k, o in applied.items() if k.kind == release_kind), None), release_kind)
    return raw_readiness(applied.values())


async def reconcile(app: Obj, ctx: Context) -> Result:
    now = now_rfc3339()
    if is_deleting(app):
        return DONE  # every child carries an ownerReference: the garbage collector removes them
    kind = app_type(app)
    revision, served = revision_of(app), served_revision(app)
    if kind == "Raw":
        outcome = await raw_children(app, ctx)
        if outcome.problem is not None:
            problem = outcome.problem
            await ctx.events.warning(app, problem.reason, problem.message, "Validate")
            readiness = Readiness(False, problem.reason, problem.message)
            await ctx.write_status(app, app_status(app, readiness, now, served, _recorded_hooks(app)))
            return DONE
        children = outcome.documents
    else:
        children = desired_children(app)
    hooks = _hook_state(ctx, app, revision)
    gate = app_hooks.decide_hooks(revision, served, hooks.phases["pre"], hooks.phases["post"], children_ready=False)
    if not gate.apply:
        await _act_on_hooks(ctx, app, gate, hooks)
        readiness = Readiness(False, gate.reason, gate.message)
        await ctx.write_status(app, app_status(app, readiness, now, served, hooks.status(revision)))
        return DONE
    # The desired children are applied first: a Flux kind that is not served raises DependencyMissing after
    # everything else is done, and the engine reports it on the App.
    report = await ctx.applier.apply(
        app,
        await ctx.primary_resource(),
        children,
        prune=PRUNED_KINDS,
        owner_alive=lambda uid: bool(ctx.primary.store.index_keys(BY_UID, uid)),
    )
    readiness = _children_readiness(kind, report.applied)
    after = app_hooks.decide_hooks(revision, served, hooks.phases["pre"], hooks.phases["post"], readiness.ready)
    await _act_on_hooks(ctx, app, after, hooks)
    if after.ready is not None:
        readiness = Readiness(after.ready, after.reason, after.message)
    await ctx.write_status(app, app_status(app, readiness, now, revision, hooks.status(revision)))
    return DONE


def _recorded_hooks(app: Mapping[str, Any]) -> Mapping[str, Any] | None:
    status = app.get("status")
    hooks = status.get("hooks") if isinstance(status, Mapping) else None
    return hooks if isinstance(hooks, Mapping) else None


# ---- wiring ------------------------------------------------------------------------------------------------


def setup(manager: Manager) -> None:
    apps = manager.informer(*APP)
    controller = manager.add_controller("App", apps, reconcile, transitions=app_transitions)
    to_owner = owner_mapper(apps)
    for api_version, kind in (*PRUNED_KINDS, (JOBS.api_version, JOBS.kind)):
        controller.watch(manager.owned(api_version, kind), to_owner)
    # Admission of Raw documents reads these caches (shared with the tenancy reconcilers when they run).
    for api_version, kind in (TENANT, PROJECT, POLICY):
        manager.informer(api_version, kind)
    manager.owned(NAMESPACES.api_version, NAMESPACES.kind)
    manager.settings_informer()
