"""The two Django APIs, normalised to one `DjangoPlan` that a single set of builders expands.

`thismatters.github/v1alpha` (image + version, web/worker/beat commands, Redis, management commands, Ingress,
autoscalers) and `blindage.org/v2` (an image with its tag, a web Deployment, migrate/collectstatic, a media
claim) describe the same kind of application with different words. Each front end here is a pure function from
the raw object to a plan, so the builders never branch on which API a Django came from, and a spec that cannot
run is refused once, with the message the status will carry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import crds
from crds import django_blindage, django_thismatters
from kube.objects import fit_name, generation_of, labels_of, name_of, namespace_of

Api = Literal["thismatters", "blindage"]

PIPELINE_LABEL = "migration-step"
"""Upstream's pipeline bookkeeping label on the CR: never copied to the children."""
REDIS_URL_ENV = "REDIS_URL"
"""A Django that sets this variable itself uses an external Redis: none is built for it."""
NAME_MAX = 63


class PlanError(ValueError):
    """The spec cannot run (a field the application needs is missing); the message names the field."""


@dataclass(frozen=True)
class Purpose:
    """One long-running container kind: web, worker or beat."""

    component: Literal["web", "worker", "beat"]
    container: str
    command: tuple[str, ...] | None
    args: tuple[str, ...] | None
    requests: Mapping[str, str] | None = None
    probe: Mapping[str, Any] | None = None
    replicas: int | None = None
    purpose_env: str | None = None
    """Value of CONTAINER_PURPOSE (thismatters' way of telling one image what to be)."""


@dataclass(frozen=True)
class Step:
    """One management command of the migration Job: `python manage.py <args>` in init container `name`."""

    name: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class Autoscale:
    component: Literal["web", "worker"]
    minimum: int
    maximum: int
    cpu_utilization: int


@dataclass(frozen=True)
class IngressPlan:
    host: str
    cluster_issuer: str


@dataclass(frozen=True)
class DjangoPlan:
    """Everything the children of one Django depend on, whatever API it was written in."""

    api: Api
    name: str
    namespace: str
    labels: Mapping[str, str]
    image: str
    """Full image reference, tag included."""
    version: str
    web: Purpose
    app_port: int
    service_port: int
    worker: Purpose | None = None
    beat: Purpose | None = None
    env: tuple[Mapping[str, Any], ...] = ()
    env_from: tuple[Mapping[str, Any], ...] = ()
    image_pull_secrets: tuple[Mapping[str, Any], ...] = ()
    volumes: tuple[Mapping[str, Any], ...] = ()
    volume_mounts: tuple[Mapping[str, Any], ...] = ()
    steps: tuple[Step, ...] = ()
    migration_marker: str = ""
    """What status records once the steps succeeded (thismatters: the version; blindage: the image)."""
    migrated_marker: str | None = None
    """What status recorded last time (None: never)."""
    always_migrate: bool = False
    generation: int = 0
    migration_deadline: int | None = None
    ingress: IngressPlan | None = None
    autoscalers: tuple[Autoscale, ...] = ()
    redis_port: int | None = None
    """None: no Redis is built (external or not needed)."""
    strategy: Mapping[str, Any] | None = None
    config_refs: tuple[tuple[str, str], ...] = field(default=())
    """(kind, name) of every ConfigMap and Secret the pods read, whose content drives a rollout."""

    @property
    def needs_migration(self) -> bool:
        """Whether the steps must run (again) before the target release may serve."""
        if not self.steps:
            return False
        return self.always_migrate or self.migrated_marker != self.migration_marker


def slugify(text: str) -> str:
    """Upstream's slug: lowercase, every run of characters outside `[-a-z0-9]` becomes one `-`."""
    return re.sub(r"[^-a-z0-9]+", "-", text.lower())


def dns_label(text: str, limit: int = NAME_MAX) -> str:
    """A DNS-1123 label from free text (slugified, trimmed to `limit`, no dash at either end)."""
    return slugify(text)[:limit].strip("-") or "x"


def label_value(text: str) -> str:
    """A valid label value (63 characters of `[-_.a-zA-Z0-9]`, alphanumeric at both ends) from free text."""
    cleaned = re.sub(r"[^-_.a-zA-Z0-9]+", "-", text)[:NAME_MAX]
    return re.sub(r"^[^a-zA-Z0-9]+|[^a-zA-Z0-9]+$", "", cleaned)


def child_name(name: str, suffix: str) -> str:
    """`<name>-<suffix>`, a valid DNS label (Service names must be) even for long Django names."""
    return fit_name(name, suffix, NAME_MAX)


def split_image(image: str) -> tuple[str, str]:
    """(repository, tag or digest) of an image reference; the tag is `latest` when none is given."""
    if "@" in image:
        repository, _, digest = image.partition("@")
        return repository, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repository, _, tag = image.rpartition(":")
        return repository, tag
    return image, "latest"


def step_names(commands: Sequence[Sequence[str]]) -> tuple[Step, ...]:
    """Steps with upstream's container names (`slugify("-".join(args))`), made unique and DNS-valid."""
    steps: list[Step] = []
    used: set[str] = set()
    for index, args in enumerate(commands):
        base = dns_label("-".join(args), NAME_MAX - 4) if args else "manage"
        name = base if base not in used else f"{base[: NAME_MAX - 4]}-{index}"
        used.add(name)
        steps.append(Step(name, tuple(args)))
    return tuple(steps)


def _cr_labels(raw: Mapping[str, Any]) -> dict[str, str]:
    return {k: v for k, v in labels_of(raw).items() if k != PIPELINE_LABEL}


def _status(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    status = raw.get("status")
    return status if isinstance(status, Mapping) else {}


def _env_from(configmaps: Sequence[str] | None, secrets: Sequence[str] | None) -> tuple[dict[str, Any], ...]:
    found: list[dict[str, Any]] = [{"configMapRef": {"name": name}} for name in configmaps or []]
    found += [{"secretRef": {"name": name}} for name in secrets or []]
    return tuple(found)


def config_refs(
    env: Sequence[Mapping[str, Any]], env_from: Sequence[Mapping[str, Any]], volumes: Sequence[Mapping[str, Any]]
) -> tuple[tuple[str, str], ...]:
    """(kind, name) of the ConfigMaps and Secrets that env, envFrom and volumes read, in first-seen order."""
    refs: list[tuple[str, str]] = []

    def add(kind: str, name: Any) -> None:
        if isinstance(name, str) and name and (kind, name) not in refs:
            refs.append((kind, name))

    for source in env_from:
        add("ConfigMap", (source.get("configMapRef") or {}).get("name"))
        add("Secret", (source.get("secretRef") or {}).get("name"))
    for variable in env:
        value_from = variable.get("valueFrom") or {}
        add("ConfigMap", (value_from.get("configMapKeyRef") or {}).get("name"))
        add("Secret", (value_from.get("secretKeyRef") or {}).get("name"))
    for volume in volumes:
        add("Secret", (volume.get("secret") or {}).get("secretName"))
        add("ConfigMap", (volume.get("configMap") or {}).get("name"))
    return tuple(refs)


def _dump(model: Any) -> dict[str, Any]:
    dumped = model.model_dump(by_alias=True, exclude_none=True)
    assert isinstance(dumped, dict)
    return dumped


# ---- thismatters.github/v1alpha ----------------------------------------------------------------------------


def _command(commands: django_thismatters.Commands | None, purpose: str) -> django_thismatters.Command:
    command = getattr(commands, purpose, None) if commands is not None else None
    if command is None or not command.command:
        raise PlanError(f"spec.commands.{purpose}.command is required: the {purpose} container has no command")
    assert isinstance(command, django_thismatters.Command)
    return command


def _probe(spec: django_thismatters.ProbeSpec) -> dict[str, Any]:
    http_get: dict[str, Any] = {"scheme": spec.http_get.scheme, "path": spec.http_get.path, "port": spec.http_get.port}
    if spec.http_get.http_headers:
        http_get["httpHeaders"] = [{"name": h.name, "value": h.value} for h in spec.http_get.http_headers]
    return {
        "httpGet": http_get,
        "initialDelaySeconds": spec.initial_delay_seconds,
        "periodSeconds": spec.period_seconds,
        "timeoutSeconds": spec.timeout_seconds,
        "failureThreshold": spec.failure_threshold,
    }


def plan_thismatters(raw: Mapping[str, Any]) -> DjangoPlan:
    """The plan of a `thismatters.github/v1alpha` Django; PlanError names a missing required field."""
    model = crds.parse(dict(raw))
    assert isinstance(model, django_thismatters.Django)
    spec = model.spec or django_thismatters.DjangoSpec()
    missing = [
        path
        for path, value in (
            ("host", spec.host),
            ("image", spec.image),
            ("version", spec.version),
            ("clusterIssuer", spec.cluster_issuer),
        )
        if not value
    ]
    if missing:
        raise PlanError(f"spec is missing required field(s) {', '.join('spec.' + m for m in missing)}")
    assert spec.host is not None
    assert spec.image is not None
    assert spec.version is not None
    assert spec.cluster_issuer is not None
    app, worker, beat = (_command(spec.commands, p) for p in ("app", "worker", "beat"))
    env = tuple(_dump(variable) for variable in spec.env)
    env_from = _env_from(spec.env_from_config_map_refs, spec.env_from_secret_refs)
    volumes = tuple(_dump(volume) for volume in spec.volumes or [])
    requests = spec.resource_requests
    scaled: tuple[tuple[Literal["web", "worker"], django_thismatters.Autoscaler], ...] = (
        ("web", spec.autoscalers.app),
        ("worker", spec.autoscalers.worker),
    )
    autoscalers = tuple(
        Autoscale(
            component, a.replicas.minimum, max(a.replicas.maximum, a.replicas.minimum), a.cpu_utilization_threshold
        )
        for component, a in scaled
        if a.enabled
    )
    external_redis = any(variable.name == REDIS_URL_ENV for variable in spec.env)
    timeouts = spec.init_manage_timeouts
    return DjangoPlan(
        api="thismatters",
        name=name_of(raw),
        namespace=namespace_of(raw),
        labels=_cr_labels(raw),
        image=f"{spec.image}:{spec.version}",
        version=spec.version,
        web=Purpose(
            "web",
            "app",
            tuple(app.command or ()),
            tuple(app.args) if app.args else None,
            _dump(requests.app),
            _probe(spec.app_probe_spec),
            purpose_env="app",
        ),
        worker=Purpose(
            "worker",
            "worker",
            tuple(worker.command or ()),
            tuple(worker.args) if worker.args else None,
            _dump(requests.worker),
            purpose_env="worker",
        ),
        beat=Purpose(
            "beat",
            "beat",
            tuple(beat.command or ()),
            tuple(beat.args) if beat.args else None,
            _dump(requests.beat),
            replicas=1,
            purpose_env="beat",
        ),
        app_port=spec.ports.app,
        service_port=8080,
        env=env,
        env_from=env_from,
        image_pull_secrets=tuple(_dump(s) for s in spec.image_pull_secrets or []),
        volumes=volumes,
        volume_mounts=tuple(_dump(m) for m in spec.volume_mounts or []),
        steps=step_names(spec.init_manage_commands or []),
        migration_marker=spec.version,
        migrated_marker=_status(raw).get("migrationVersion"),
        always_migrate=spec.always_run_migrations,
        generation=generation_of(raw),
        migration_deadline=max(1, timeouts.period * timeouts.iterations),
        ingress=IngressPlan(spec.host, spec.cluster_issuer),
        autoscalers=autoscalers,
        redis_port=None if external_redis else spec.ports.redis,
        strategy=spec.strategy,
        config_refs=config_refs(env, env_from, volumes),
    )


# ---- blindage.org/v2 ---------------------------------------------------------------------------------------


MEDIA_VOLUME = "media"


def plan_blindage(raw: Mapping[str, Any]) -> DjangoPlan:
    """The plan of a `blindage.org/v2` Django: one web Deployment, no Celery, hence no Redis."""
    model = crds.parse(dict(raw))
    assert isinstance(model, django_blindage.Django)
    spec = model.spec
    env = tuple({"name": key, "value": value} for key, value in (spec.app_envs or {}).items())
    env_from = _env_from(spec.app_envs_configmaps, spec.app_envs_secrets)
    volumes: tuple[dict[str, Any], ...] = ()
    mounts: tuple[dict[str, Any], ...] = ()
    if spec.persistent_volume_claim:
        volumes = ({"name": MEDIA_VOLUME, "persistentVolumeClaim": {"claimName": spec.persistent_volume_claim}},)
        mounts = ({"name": MEDIA_VOLUME, "mountPath": spec.app_media_path},)
    commands: list[list[str]] = []
    if spec.run_migrate:
        commands.append(["migrate", "--noinput"])
    if spec.run_collect_static:
        commands.append(["collectstatic", "--noinput"])
    if spec.fixtures:
        commands.append(["loaddata", *spec.fixtures])
    return DjangoPlan(
        api="blindage",
        name=name_of(raw),
        namespace=namespace_of(raw),
        labels=_cr_labels(raw),
        image=spec.image,
        version=split_image(spec.image)[1],
        web=Purpose("web", "app", None, None, replicas=spec.replicas),
        app_port=spec.app_port,
        service_port=spec.app_port,
        env=env,
        env_from=env_from,
        volumes=volumes,
        volume_mounts=mounts,
        steps=step_names(commands),
        migration_marker=spec.image,
        migrated_marker=_status(raw).get("migratedImage"),
        generation=generation_of(raw),
        config_refs=config_refs(env, env_from, volumes),
    )


def plan_of(raw: Mapping[str, Any]) -> DjangoPlan:
    """The plan of either API's Django (by apiVersion)."""
    group = str(raw.get("apiVersion", "")).partition("/")[0]
    if group == django_thismatters.GROUP:
        return plan_thismatters(raw)
    if group == django_blindage.GROUP:
        return plan_blindage(raw)
    raise PlanError(f"not a Django of a known API: {raw.get('apiVersion')}")


def raw_config_refs(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The ConfigMaps/Secrets a Django's pods read, from the raw spec (no validation: used to index the cache)."""
    spec = raw.get("spec")
    if not isinstance(spec, Mapping):
        return []

    def names(key: str) -> list[str]:
        value = spec.get(key)
        return [str(v) for v in value if isinstance(v, str)] if isinstance(value, list) else []

    env = [v for v in spec.get("env") or [] if isinstance(v, Mapping)] if isinstance(spec.get("env"), list) else []
    volumes = (
        [v for v in spec.get("volumes") or [] if isinstance(v, Mapping)]
        if isinstance(spec.get("volumes"), list)
        else []
    )
    env_from = _env_from(
        names("envFromConfigMapRefs") + names("appEnvsConfigmaps"),
        names("envFromSecretRefs") + names("appEnvsSecrets"),
    )
    return list(config_refs(env, env_from, volumes))
