"""Django (both `thismatters.github/v1alpha` and `blindage.org/v2`): one engine behind two APIs.

A Django becomes, all named after the CR so two can share a namespace: Redis (`<name>-redis`, unless external
or not needed), a migration Job per release (`<name>-migrate-<hash>`), web, worker and beat Deployments
(`<name>-web|worker|beat`), the web Service, an Ingress with cert-manager TLS and HorizontalPodAutoscalers.

The rollout is gated by the Job: the Deployments keep the release they serve until the Job of the new one has
succeeded, so the old version never runs against a half-migrated database for longer than the migration, and a
failed migration leaves it serving (`degraded`). Which release is served is read back from the live web
Deployment, so the gate holds across restarts without bookkeeping on the CR. The content of every ConfigMap and
Secret the pods read is hashed into the pod template, so changing one rolls the pods.

A Job's pod template is immutable, so the Job is created once and never re-applied (its name changes with what
it runs); Jobs of other releases are deleted. Everything else goes through the applier.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from controller.applier import ApplyError, ChildKey, prepare
from controller.conditions import Condition, Status, now_rfc3339, set_conditions
from controller.context import Context
from controller.logs import fields
from controller.manager import Manager
from controller.reconcilers.django_plan import (
    DjangoPlan,
    PlanError,
    Purpose,
    child_name,
    label_value,
    plan_of,
    raw_config_refs,
)
from controller.reconcilers.tenancy import schema_status
from controller.runtime import DONE, Result, owner_mapper
from kube.client import CONFIGMAPS, DEPLOYMENTS, HPAS, INGRESSES, JOBS, SECRETS, SERVICES, ApiError
from kube.informer import Informer
from kube.objects import (
    Obj,
    annotations_of,
    generation_of,
    is_deleting,
    name_of,
    namespace_of,
    object_key,
    uid_of,
)
from kube.store import BY_OWNER_UID, Change

log = logging.getLogger(__name__)

THISMATTERS = ("thismatters.github/v1alpha", "Django")
BLINDAGE = ("blindage.org/v2", "Django")

CONFIG_HASH_ANNOTATION = "tenantgate.io/config-hash"
IMAGE_ANNOTATION = "tenantgate.io/django-image"
VERSION_ANNOTATION = "tenantgate.io/django-version"
NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
VERSION_LABEL = "app.kubernetes.io/version"
BY_CONFIG_REF = "django-config-ref"

DEFAULT_REDIS_IMAGE = "redis:4.0"
DEFAULT_WAIT_IMAGE = "busybox:1.28.4"
REDIS_IMAGE_ENV = "DJANGO_REDIS_IMAGE"
WAIT_IMAGE_ENV = "DJANGO_WAIT_IMAGE"
JOB_BACKOFF_LIMIT = 2

CHILD_KINDS = (DEPLOYMENTS, SERVICES, INGRESSES, HPAS)
PRUNED_KINDS = tuple((rt.api_version, rt.kind) for rt in CHILD_KINDS)

Phase = Literal["migrating", "running", "degraded"]


# ---- rollout gating (pure) ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """What web, worker and beat run: the image reference and the version it stands for."""

    image: str
    version: str


class JobState(Enum):
    ABSENT = "absent"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class Rollout:
    serve: Release | None
    """The release the Deployments get; None: none exists yet and none may be built (first migration)."""
    phase: Phase
    message: str
    migrated: bool
    """The target's steps have succeeded now: record its migration marker."""


def decide_rollout(
    target: Release, served: Release | None, needs_migration: bool, job: JobState, job_message: str = ""
) -> Rollout:
    """Which release web and worker get and what the status says, from the Job's state. Pure.

    Without pending steps the target serves at once. With them, the served release stays until the target's
    Job succeeded; a failed Job keeps it too and degrades the Django.
    """
    if not needs_migration:
        return Rollout(target, "running", "New config running", False)
    if job is JobState.SUCCEEDED:
        return Rollout(target, "running", "New config running", True)
    if job is JobState.FAILED:
        detail = job_message or "the migration Job failed"
        return Rollout(served, "degraded", f"Management commands of {target.version} failed: {detail}", False)
    return Rollout(served, "migrating", f"Running the management commands of {target.version}", False)


def job_state(job: Mapping[str, Any] | None) -> tuple[JobState, str]:
    """The state of a migration Job from its conditions, with the failure message when it failed. Pure."""
    if job is None:
        return JobState.ABSENT, ""
    conditions = (job.get("status") or {}).get("conditions") or []
    for condition in conditions:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return JobState.SUCCEEDED, ""
        if condition.get("type") == "Failed":
            reason, message = condition.get("reason") or "", condition.get("message") or ""
            return JobState.FAILED, ": ".join(p for p in (reason, message) if p)
    return JobState.RUNNING, ""


def served_release(deployment: Mapping[str, Any] | None) -> Release | None:
    """The release a live Deployment of ours runs, from the annotations the builders put on it. Pure."""
    if deployment is None:
        return None
    annotations = annotations_of(deployment)
    image, version = annotations.get(IMAGE_ANNOTATION), annotations.get(VERSION_ANNOTATION)
    return Release(image, version or "") if image else None


# ---- builders (pure) ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DjangoInputs:
    """What the children depend on besides the plan: the gate's decision, config content, platform images."""

    serve: Release | None
    config_hash: str = ""
    redis_image: str = DEFAULT_REDIS_IMAGE
    wait_image: str = DEFAULT_WAIT_IMAGE


def labels(plan: DjangoPlan, component: str, version: str | None = None) -> dict[str, str]:
    """The CR's labels plus the recommended app labels of one component."""
    result = dict(plan.labels)
    result.update(selector(plan, component))
    if version is not None:
        result[VERSION_LABEL] = label_value(version)
    return result


def selector(plan: DjangoPlan, component: str) -> dict[str, str]:
    """The immutable selector of a component: never includes the version, which changes at every rollout."""
    return {NAME_LABEL: "django", INSTANCE_LABEL: plan.name, COMPONENT_LABEL: component}


def redis_name(plan: DjangoPlan) -> str:
    return child_name(plan.name, "redis")


def migration_hash(plan: DjangoPlan) -> str:
    """Short sha256 of what the Job runs: image, version and commands (plus the generation when the Django
    asks to migrate on every change), so a new release gets a new Job and nothing else does."""
    material: list[Any] = [plan.image, plan.version, [list(step.args) for step in plan.steps]]
    if plan.always_migrate:
        material.append(plan.generation)
    return hashlib.sha256(json.dumps(material, separators=(",", ":")).encode()).hexdigest()[:10]


def job_name(plan: DjangoPlan) -> str:
    return child_name(plan.name, f"migrate-{migration_hash(plan)}")


def redis_env(plan: DjangoPlan) -> list[dict[str, Any]]:
    """REDIS_HOST/REDIS_URL of the built Redis, unless the spec sets them (an env name may appear only once)."""
    if plan.redis_port is None:
        return []
    given = {str(v.get("name")) for v in plan.env}
    wanted = {"REDIS_HOST": redis_name(plan), "REDIS_URL": f"redis://{redis_name(plan)}:6379/0"}
    return [{"name": k, "value": v} for k, v in wanted.items() if k not in given]


def container_env(plan: DjangoPlan, purpose_env: str | None) -> list[dict[str, Any]]:
    """CONTAINER_PURPOSE first (as upstream), then the Redis coordinates, then the spec's env in its order."""
    env: list[dict[str, Any]] = []
    given = {str(v.get("name")) for v in plan.env}
    if purpose_env is not None and "CONTAINER_PURPOSE" not in given:
        env.append({"name": "CONTAINER_PURPOSE", "value": purpose_env})
    env += redis_env(plan)
    env += [dict(v) for v in plan.env]
    return env


def _common_container(plan: DjangoPlan, name: str, image: str, purpose_env: str | None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": image, "env": container_env(plan, purpose_env)}
    if plan.env_from:
        container["envFrom"] = [dict(s) for s in plan.env_from]
    if plan.volume_mounts:
        container["volumeMounts"] = [dict(m) for m in plan.volume_mounts]
    return container


def _pod_spec(plan: DjangoPlan, containers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {**extra, "containers": containers}
    if plan.image_pull_secrets:
        spec["imagePullSecrets"] = [dict(s) for s in plan.image_pull_secrets]
    if plan.volumes:
        spec["volumes"] = [dict(v) for v in plan.volumes]
    return spec


def purpose_container(plan: DjangoPlan, purpose: Purpose, image: str) -> dict[str, Any]:
    container = _common_container(plan, purpose.container, image, purpose.purpose_env)
    if purpose.command:
        container["command"] = list(purpose.command)
    if purpose.args:
        container["args"] = list(purpose.args)
    if purpose.component == "web":
        container["ports"] = [{"name": "http", "containerPort": plan.app_port, "protocol": "TCP"}]
    if purpose.probe:
        container["livenessProbe"] = dict(purpose.probe)
        container["readinessProbe"] = dict(purpose.probe)
    if purpose.requests:
        container["resources"] = {"requests": dict(purpose.requests)}
    return container


def purpose_deployment(plan: DjangoPlan, purpose: Purpose, inputs: DjangoInputs, release: Release) -> Obj:
    """The Deployment of one purpose, running `release`; beat is always one pod replaced with Recreate."""
    init_containers: list[dict[str, Any]] = []
    if purpose.component == "worker" and plan.redis_port is not None:
        init_containers.append(
            {
                "name": "init-broker",
                "image": inputs.wait_image,
                "command": ["sh", "-c", f"until nslookup {redis_name(plan)}; do sleep 3; done;"],
            }
        )
    extra: dict[str, Any] = {"initContainers": init_containers} if init_containers else {}
    pod_annotations = {CONFIG_HASH_ANNOTATION: inputs.config_hash} if inputs.config_hash else {}
    template_metadata: dict[str, Any] = {"labels": labels(plan, purpose.component, release.version)}
    if pod_annotations:
        template_metadata["annotations"] = pod_annotations
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector(plan, purpose.component)},
        "template": {
            "metadata": template_metadata,
            "spec": _pod_spec(plan, [purpose_container(plan, purpose, release.image)], **extra),
        },
    }
    if purpose.component == "beat":
        spec["replicas"] = 1
        spec["strategy"] = {"type": "Recreate"}
    else:
        if purpose.replicas is not None:
            spec["replicas"] = purpose.replicas
        if plan.strategy:
            spec["strategy"] = dict(plan.strategy)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": child_name(plan.name, purpose.component),
            "namespace": plan.namespace,
            "labels": labels(plan, purpose.component, release.version),
            "annotations": {IMAGE_ANNOTATION: release.image, VERSION_ANNOTATION: release.version},
        },
        "spec": spec,
    }


def redis_children(plan: DjangoPlan, inputs: DjangoInputs) -> list[Obj]:
    """Redis Deployment and Service `<name>-redis` (the broker of worker and beat)."""
    if plan.redis_port is None:
        return []
    name = redis_name(plan)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": plan.namespace, "labels": labels(plan, "redis")},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector(plan, "redis")},
            "template": {
                "metadata": {"labels": labels(plan, "redis")},
                "spec": {
                    "containers": [
                        {
                            "name": "redis",
                            "image": inputs.redis_image,
                            "imagePullPolicy": "Always",
                            "ports": [{"name": "redis", "containerPort": plan.redis_port, "protocol": "TCP"}],
                            "resources": {"requests": {"memory": "10Mi"}},
                        }
                    ]
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": plan.namespace, "labels": labels(plan, "redis")},
        "spec": {
            "type": "ClusterIP",
            "selector": selector(plan, "redis"),
            "ports": [{"name": "redis", "port": 6379, "targetPort": plan.redis_port, "protocol": "TCP"}],
        },
    }
    return [deployment, service]


def migration_job(plan: DjangoPlan) -> Obj | None:
    """The Job running the management steps of the target release, one init container per step, in order."""
    if not plan.steps:
        return None
    steps = [
        {**_common_container(plan, step.name, plan.image, None), "command": ["python", "manage.py", *step.args]}
        for step in plan.steps
    ]
    final = {**_common_container(plan, "done", plan.image, None), "command": ["python", "-c", "pass"]}
    job_labels = labels(plan, "migrate", plan.version)
    spec: dict[str, Any] = {
        "backoffLimit": JOB_BACKOFF_LIMIT,
        "template": {
            "metadata": {"labels": dict(job_labels)},
            "spec": _pod_spec(plan, [final], restartPolicy="Never", initContainers=steps),
        },
    }
    if plan.migration_deadline is not None:
        spec["activeDeadlineSeconds"] = plan.migration_deadline
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(plan),
            "namespace": plan.namespace,
            "labels": job_labels,
            "annotations": {IMAGE_ANNOTATION: plan.image, VERSION_ANNOTATION: plan.version},
        },
        "spec": spec,
    }


def common_name(host: str) -> str:
    """The certificate's common name: the host minus its first label, or the host itself when it has no dot."""
    _, dot, rest = host.partition(".")
    return rest if dot and rest else host


def web_service(plan: DjangoPlan) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": child_name(plan.name, "web"), "namespace": plan.namespace, "labels": labels(plan, "web")},
        "spec": {
            "type": "ClusterIP",
            "selector": selector(plan, "web"),
            "ports": [{"name": "http", "port": plan.service_port, "targetPort": plan.app_port, "protocol": "TCP"}],
        },
    }


def ingress(plan: DjangoPlan) -> Obj | None:
    """Ingress `<name>` for the host, TLS Secret `<name>-tls` issued by cert-manager (upstream's annotations)."""
    if plan.ingress is None:
        return None
    host, issuer = plan.ingress.host, plan.ingress.cluster_issuer
    name = common_name(host)
    hosts = [name] if name == host else [name, host]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": plan.name,
            "namespace": plan.namespace,
            "labels": labels(plan, "web"),
            "annotations": {
                "kubernetes.io/ingress.class": "nginx",
                "nginx.ingress.kubernetes.io/ssl-redirect": "true",
                "nginx.ingress.kubernetes.io/proxy-body-size": "4m",
                "cert-manager.io/cluster-issuer": issuer,
                "cert-manager.io/common-name": name,
                "cert-manager.io/renew-before": "480h",
            },
        },
        "spec": {
            "tls": [{"hosts": hosts, "secretName": child_name(plan.name, "tls")}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {
                                        "name": child_name(plan.name, "web"),
                                        "port": {"number": plan.service_port},
                                    }
                                },
                            }
                        ]
                    },
                }
            ],
        },
    }


def autoscalers(plan: DjangoPlan) -> list[Obj]:
    """autoscaling/v2 HPAs of web and worker, with the CPU threshold the spec asks for."""
    result: list[Obj] = []
    for scale in plan.autoscalers:
        name = child_name(plan.name, scale.component)
        result.append(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": name, "namespace": plan.namespace, "labels": labels(plan, scale.component)},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": scale.minimum,
                    "maxReplicas": scale.maximum,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": scale.cpu_utilization},
                            },
                        }
                    ],
                },
            }
        )
    return result


def desired_children(plan: DjangoPlan, inputs: DjangoInputs) -> list[Obj]:
    """Every child the applier keeps (the migration Job is handled apart), Redis first. Pure.

    Web, worker, beat and the autoscalers exist only once a release may serve (`inputs.serve`).
    """
    children = redis_children(plan, inputs)
    if inputs.serve is not None:
        for purpose in (plan.web, plan.worker, plan.beat):
            if purpose is not None:
                children.append(purpose_deployment(plan, purpose, inputs, inputs.serve))
        children += autoscalers(plan)
    children.append(web_service(plan))
    built_ingress = ingress(plan)
    if built_ingress is not None:
        children.append(built_ingress)
    return children


# ---- config content (pure) ---------------------------------------------------------------------------------


def config_hash(refs: Iterable[tuple[str, str]], lookup: Callable[[str, str], Mapping[str, Any] | None]) -> str:
    """A digest of the data of every ConfigMap and Secret the pods read ("" when they read none). Pure.

    A missing object counts as its own value, so creating it later rolls the pods too.
    """
    material: list[Any] = []
    for kind, name in refs:
        obj = lookup(kind, name)
        content = None if obj is None else {k: obj.get(k) for k in ("data", "binaryData", "stringData")}
        material.append([kind, name, content])
    if not material:
        return ""
    return hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


# ---- status (pure) -----------------------------------------------------------------------------------------


def created_names(children: Sequence[Obj]) -> dict[str, dict[str, str]]:
    """thismatters' `status.created`: names of the live children by kind and purpose."""
    by_component = {"web": "app", "worker": "worker", "beat": "beat", "redis": "redis"}
    kinds = {
        "Deployment": "deployment",
        "Service": "service",
        "Ingress": "ingress",
        "HorizontalPodAutoscaler": "horizontalpodautoscaler",
    }
    created: dict[str, dict[str, str]] = {}
    for child in children:
        kind = kinds.get(str(child.get("kind")))
        component = ((child.get("metadata") or {}).get("labels") or {}).get(COMPONENT_LABEL)
        purpose = by_component.get(str(component))
        if kind and purpose:
            created.setdefault(kind, {})[purpose] = name_of(child)
    return created


def conditions_for(phase: Phase | Literal["config-error"], serving: bool, message: str) -> list[Condition]:
    """Ready, Progressing and Degraded for a phase. Ready stays True while a previous release serves."""
    if phase == "running":
        return [
            Condition("Ready", "True", "Running", message),
            Condition("Progressing", "False", "RolledOut", message),
            Condition("Degraded", "False", "Running", message),
        ]
    if phase == "migrating":
        ready: Status = "True" if serving else "False"
        return [
            Condition("Ready", ready, "Migrating", message),
            Condition("Progressing", "True", "Migrating", message),
            Condition("Degraded", "False", "Migrating", message),
        ]
    reason = "ConfigError" if phase == "config-error" else "MigrationFailed"
    return [
        Condition("Ready", "True" if serving else "False", reason, message),
        Condition("Progressing", "False", reason, message),
        Condition("Degraded", "True", reason, message),
    ]


def django_status(
    obj: Mapping[str, Any],
    plan: DjangoPlan | None,
    rollout: Rollout | None,
    error: str,
    children: Sequence[Obj],
    web: Mapping[str, Any] | None,
    now: str,
) -> dict[str, Any]:
    """The wanted status of either API (fields the kind's schema lacks are dropped). Pure."""
    current = obj.get("status") if isinstance(obj.get("status"), Mapping) else {}
    assert isinstance(current, Mapping)
    if plan is None or rollout is None:
        phase: Phase = "degraded"
        updates = conditions_for("config-error", False, error)
        wanted: dict[str, Any] = {"condition": phase}
    else:
        phase = rollout.phase
        updates = conditions_for(phase, rollout.serve is not None, rollout.message)
        serve = rollout.serve
        migrated = plan.migration_marker if rollout.migrated else None
        wanted = {
            "condition": phase,
            "version": serve.version if serve else None,
            "created": created_names(children),
            "image": serve.image if serve else None,
            "readyReplicas": int(((web or {}).get("status") or {}).get("readyReplicas") or 0),
        }
        if plan.api == "thismatters" and migrated:
            wanted["migrationVersion"] = migrated
        if plan.api == "blindage" and migrated:
            wanted["migratedImage"] = migrated
    wanted["conditions"] = set_conditions(current.get("conditions"), updates, generation_of(obj), now)
    api_version = str(obj.get("apiVersion", ""))
    if api_version == THISMATTERS[0]:
        wanted.pop("image", None)
        wanted.pop("readyReplicas", None)
    return schema_status(api_version, "Django", wanted)


# ---- reconcile ---------------------------------------------------------------------------------------------


def _platform_images(ctx: Context) -> tuple[str, str]:
    env = ctx.manager.config.env
    return env.get(REDIS_IMAGE_ENV) or DEFAULT_REDIS_IMAGE, env.get(WAIT_IMAGE_ENV) or DEFAULT_WAIT_IMAGE


def _config_lookup(ctx: Context, namespace: str) -> Callable[[str, str], Mapping[str, Any] | None]:
    configmaps = ctx.manager.informer(CONFIGMAPS.api_version, CONFIGMAPS.kind)
    secrets = ctx.manager.informer(SECRETS.api_version, SECRETS.kind)

    def lookup(kind: str, name: str) -> Mapping[str, Any] | None:
        return (configmaps if kind == "ConfigMap" else secrets).get(namespace, name)

    return lookup


async def _ensure_job(ctx: Context, obj: Obj, plan: DjangoPlan, live_jobs: list[Obj]) -> Obj | None:
    """Create the target's Job when it must run and does not exist; delete the Jobs of other releases."""
    wanted = migration_job(plan)
    wanted_name = name_of(wanted) if wanted is not None else None
    current = next((j for j in live_jobs if name_of(j) == wanted_name and not is_deleting(j)), None)
    for job in live_jobs:
        stale = name_of(job) != wanted_name and not is_deleting(job)
        if stale and await ctx.client.delete(JOBS, name_of(job), namespace_of(job), uid=uid_of(job)):
            await ctx.events.normal(obj, "Deleted", f"Deleted Job {name_of(job)}, of another release", "Delete")
    if wanted is None or current is not None or not plan.needs_migration:
        return current
    prepared = prepare(wanted, obj, owner_namespaced=True, child_namespaced=True)
    created = await ctx.client.apply(JOBS, prepared)
    ctx.owned(JOBS.api_version, JOBS.kind).write_through(created)
    await ctx.events.normal(obj, "Created", f"Created Job {name_of(created)}", "Create")
    return created


async def _emit_transition(ctx: Context, obj: Obj, before: Any, phase: Phase, message: str) -> None:
    if before == phase:
        return
    if phase == "migrating":
        await ctx.events.normal(obj, "Migrating", "Enacting new config", "Migrate")
    elif phase == "running":
        await ctx.events.normal(obj, "Ready", "New config running", "Rollout")
    else:
        await ctx.events.warning(obj, "MigrationFailed", message, "Migrate")


async def reconcile(obj: Obj, ctx: Context) -> Result:
    """A Django of either API: each API has its own controller, and both reconcile through this function."""
    if is_deleting(obj):
        return DONE  # every child carries an ownerReference: the garbage collector removes them
    before = (obj.get("status") or {}).get("condition")
    now = now_rfc3339()
    try:
        plan = plan_of(obj)
    except PlanError as error:
        if before != "degraded":
            await ctx.events.warning(obj, "ConfigError", str(error), "Validate")
        await ctx.write_status(obj, django_status(obj, None, None, str(error), [], None, now))
        return DONE
    deployments = ctx.owned(DEPLOYMENTS.api_version, DEPLOYMENTS.kind)
    web = deployments.get(plan.namespace, child_name(plan.name, "web"))
    served = served_release(web) or served_release(deployments.get(plan.namespace, child_name(plan.name, "worker")))
    jobs = ctx.owned(JOBS.api_version, JOBS.kind).store.by_index(BY_OWNER_UID, uid_of(obj))
    job = await _ensure_job(ctx, obj, plan, jobs)
    state, message = job_state(job)
    rollout = decide_rollout(Release(plan.image, plan.version), served, plan.needs_migration, state, message)
    redis_image, wait_image = _platform_images(ctx)
    inputs = DjangoInputs(
        serve=rollout.serve,
        config_hash=config_hash(plan.config_refs, _config_lookup(ctx, plan.namespace)),
        redis_image=redis_image,
        wait_image=wait_image,
    )
    children = desired_children(plan, inputs)
    try:
        report = await ctx.applier.apply(obj, await ctx.primary_resource(), children, prune=PRUNED_KINDS)
    except (ApplyError, ApiError) as error:
        log.info("django children not applied", extra=fields("Django", object_key(obj), error=str(error)))
        raise
    live_web = report.applied.get(ChildKey("apps", "Deployment", plan.namespace, child_name(plan.name, "web")))
    await _emit_transition(ctx, obj, before, rollout.phase, rollout.message)
    await ctx.write_status(obj, django_status(obj, plan, rollout, "", children, live_web, now))
    return DONE


# ---- wiring ------------------------------------------------------------------------------------------------


def index_config_refs(informer: Informer) -> None:
    """Djangos by `<namespace>/<kind>/<name>` of each ConfigMap and Secret their pods read."""

    def index(obj: Obj) -> list[str]:
        return [f"{namespace_of(obj)}/{kind}/{name}" for kind, name in raw_config_refs(obj)]

    if not informer.store.has_index(BY_CONFIG_REF):
        informer.store.add_index(BY_CONFIG_REF, index)


def content_changed(change: Change) -> bool:
    """A ConfigMap or Secret appeared, went, or changed its data (metadata-only updates roll nothing)."""
    if change.old is None or change.new is None:
        return True
    keys = ("data", "binaryData", "stringData")
    return any(change.old.get(k) != change.new.get(k) for k in keys)


def _setup_kind(manager: Manager, kind: tuple[str, str], controller_name: str) -> None:
    djangos = manager.informer(*kind)
    index_config_refs(djangos)
    controller = manager.add_controller(controller_name, djangos, reconcile, degraded_condition=True)
    to_owner = owner_mapper(djangos)
    for rt in (*CHILD_KINDS, JOBS):
        controller.watch(manager.owned(rt.api_version, rt.kind), to_owner)
    for rt in (CONFIGMAPS, SECRETS):
        kind_name = rt.kind

        def to_djangos(obj: Obj, kind_name: str = kind_name) -> list[str]:
            return djangos.store.index_keys(BY_CONFIG_REF, f"{namespace_of(obj)}/{kind_name}/{name_of(obj)}")

        controller.watch(manager.informer(rt.api_version, rt.kind), to_djangos, predicate=content_changed)


def setup(manager: Manager) -> None:
    """Both Django APIs: one controller each, sharing the caches of their children."""
    _setup_kind(manager, THISMATTERS, "DjangoThismatters")
    _setup_kind(manager, BLINDAGE, "DjangoBlindage")
