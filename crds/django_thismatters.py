"""`thismatters.github/v1alpha` Django: the kopf-based Django operator's API (once "MP Operator").

Same names, defaults and printer columns as upstream, so its manifests apply unchanged. Upstream stored a free-form
status in the main resource; here status is a subresource with typed fields (kept by their upstream names, the
pipeline bookkeeping free-form) and conditions. Fields upstream read but pruned (`env[].valueFrom`, non-secret
volumes, `strategy`, `pipelineStep`) are kept, and the probe's `httpHeaders` items have a proper schema.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from crds.common import (
    ApiModel,
    Bool,
    Conditions,
    CustomResource,
    FreeForm,
    Int32,
    KindInfo,
    PrinterColumn,
    age_column,
    condition_column,
    conditions_field,
)

GROUP = "thismatters.github"
VERSION = "v1alpha"


class AutoscalerReplicas(ApiModel):
    """Bounds of a HorizontalPodAutoscaler."""

    minimum: Int32 = Field(default=1, ge=1, description="Fewest replicas.")
    maximum: Int32 = Field(default=10, ge=1, description="Most replicas.")


class Autoscaler(ApiModel):
    """The HorizontalPodAutoscaler of one purpose (app or worker)."""

    enabled: Bool = Field(default=True, description="Create a HorizontalPodAutoscaler.")
    cpu_utilization_threshold: Int32 = Field(
        default=60, description="Target average CPU utilisation, in percent of the requests."
    )
    replicas: AutoscalerReplicas = Field(default_factory=AutoscalerReplicas, description="Replica bounds.")


class Autoscalers(ApiModel):
    """Autoscaling per purpose."""

    app: Autoscaler = Field(default_factory=Autoscaler, description="Autoscaling of the web Deployment.")
    worker: Autoscaler = Field(default_factory=Autoscaler, description="Autoscaling of the worker Deployment.")


class Ports(ApiModel):
    """Container ports."""

    app: Int32 = Field(default=8000, description="Port the web container listens on.")
    redis: Int32 = Field(default=6379, description="Port Redis listens on.")


class EnvVar(ApiModel):
    """An environment variable of every container."""

    name: str = Field(min_length=1, description="Variable name.")
    value: str | None = Field(default=None, description="Variable value.")
    value_from: FreeForm | None = Field(
        default=None,
        description="Source of the value (secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef), as in a "
        "container's env.",
    )


class LocalObjectReference(ApiModel):
    """A reference to an object in the same namespace."""

    name: str = Field(description="Name of the object.")


class SecretVolumeSource(ApiModel):
    """A Secret mounted as a volume."""

    preserve_unknown_fields = True

    secret_name: str | None = Field(default=None, description="Name of the Secret.")


class Volume(ApiModel):
    """A pod volume; any volume source of a pod may be given, secret is the documented one."""

    preserve_unknown_fields = True

    name: str = Field(description="Volume name, referenced by volumeMounts.")
    secret: SecretVolumeSource | None = Field(default=None, description="Secret volume source.")


class VolumeMount(ApiModel):
    """Where a volume appears in the containers."""

    name: str = Field(description="Name of the volume.")
    mount_path: str = Field(description="Path in the container.")
    read_only: Bool | None = Field(default=None, description="Mount read-only.")
    sub_path: str | None = Field(default=None, description="Path within the volume to mount.")


class InitManageTimeouts(ApiModel):
    """How long the platform waits for the management commands."""

    period: Int32 = Field(default=12, description="Seconds between checks of the management commands.")
    iterations: Int32 = Field(default=20, description="Checks before the management commands count as failed.")


class AppResourceRequests(ApiModel):
    """Requests of the web container."""

    memory: str = Field(default="100Mi", description="Memory request.")
    cpu: str = Field(default="300m", description="CPU request.")


class BeatResourceRequests(ApiModel):
    """Requests of the beat container."""

    memory: str = Field(default="100Mi", description="Memory request.")
    cpu: str = Field(default="50m", description="CPU request.")


class WorkerResourceRequests(ApiModel):
    """Requests of the worker container."""

    memory: str = Field(default="200Mi", description="Memory request.")
    cpu: str = Field(default="300m", description="CPU request.")


class ResourceRequests(ApiModel):
    """Container requests per purpose."""

    app: AppResourceRequests = Field(default_factory=AppResourceRequests, description="Web container.")
    beat: BeatResourceRequests = Field(default_factory=BeatResourceRequests, description="Beat container.")
    worker: WorkerResourceRequests = Field(default_factory=WorkerResourceRequests, description="Worker container.")


class Command(ApiModel):
    """The command of one purpose's container."""

    command: list[str] | None = Field(
        default=None, description="Container command; required for the purpose to run (e.g. gunicorn)."
    )
    args: list[str] | None = Field(default=None, description="Container arguments.")


class Commands(ApiModel):
    """Container commands per purpose."""

    app: Command | None = Field(default=None, description="Web container command.")
    worker: Command | None = Field(default=None, description="Celery worker command.")
    beat: Command | None = Field(default=None, description="Celery beat command.")


class HttpHeader(ApiModel):
    """An HTTP header sent by the probe."""

    name: str = Field(description="Header name.")
    value: str = Field(description="Header value.")


class HttpGet(ApiModel):
    """The HTTP request of the probe."""

    scheme: Literal["HTTP", "HTTPS"] = Field(default="HTTP", description="HTTP or HTTPS.")
    path: str = Field(default="/", description="Request path.")
    port: Int32 = Field(default=8000, description="Container port.")
    http_headers: list[HttpHeader] | None = Field(default=None, description="Extra request headers.")


class ProbeSpec(ApiModel):
    """Liveness and readiness probe of the web container."""

    http_get: HttpGet = Field(default_factory=HttpGet, description="HTTP request of the probe.")
    initial_delay_seconds: Int32 = Field(default=30, description="Seconds before the first probe.")
    period_seconds: Int32 = Field(default=10, description="Seconds between probes.")
    timeout_seconds: Int32 = Field(default=1, description="Seconds before a probe times out.")
    failure_threshold: Int32 = Field(default=6, description="Failed probes before the container counts as down.")


class DjangoSpec(ApiModel):
    """A Django application: web, Celery worker and beat, Redis, management commands, Ingress with TLS."""

    host: str | None = Field(
        default=None,
        description="Public hostname, served by the Ingress with a certificate; needed to run.",
    )
    image: str | None = Field(
        default=None, description="Image repository, without tag (the tag is spec.version); needed to run."
    )
    version: str | None = Field(
        default=None,
        description="Image tag; a new version runs the management commands, then rolls web, worker and beat. "
        "Needed to run.",
    )
    cluster_issuer: str | None = Field(
        default=None, description="cert-manager ClusterIssuer of the TLS certificate; needed to run."
    )
    autoscalers: Autoscalers = Field(default_factory=Autoscalers, description="Autoscaling of web and worker.")
    ports: Ports = Field(default_factory=Ports, description="Container ports.")
    env: list[EnvVar] = Field(
        default_factory=list, description="Environment of every container, including management commands."
    )
    env_from_config_map_refs: list[str] | None = Field(
        default=None, description="ConfigMaps whose keys become environment variables."
    )
    env_from_secret_refs: list[str] | None = Field(
        default=None, description="Secrets whose keys become environment variables."
    )
    image_pull_secrets: list[LocalObjectReference] | None = Field(
        default=None, description="Secrets for pulling the image."
    )
    volumes: list[Volume] | None = Field(default=None, description="Pod volumes.")
    volume_mounts: list[VolumeMount] | None = Field(default=None, description="Volume mounts of every container.")
    always_run_migrations: Bool = Field(
        default=False, description="Set true to ensure migrations run even when version didn't change."
    )
    init_manage_commands: list[list[str]] | None = Field(
        default=None,
        description="Management commands run before a new version rolls out, each as python manage.py <args>, "
        'such as [["migrate", "--noinput"], ["collectstatic", "--noinput"]].',
    )
    init_manage_timeouts: InitManageTimeouts = Field(
        default_factory=InitManageTimeouts, description="Wait for the management commands."
    )
    resource_requests: ResourceRequests = Field(
        default_factory=ResourceRequests, description="Container requests per purpose."
    )
    commands: Commands | None = Field(default=None, description="Container commands per purpose.")
    app_probe_spec: ProbeSpec = Field(
        default_factory=ProbeSpec, description="Liveness and readiness probe of the web container."
    )
    strategy: FreeForm | None = Field(
        default=None, description="Deployment strategy of web, worker and beat, as in a Deployment."
    )
    pipeline_step: FreeForm | None = Field(
        default=None, description="Per-step settings of the rollout pipeline, kept as written."
    )


class CreatedDeployments(ApiModel):
    """Names of the live Deployments."""

    redis: str | None = Field(default=None, description="Redis Deployment.")
    app: str | None = Field(default=None, description="Web Deployment.")
    worker: str | None = Field(default=None, description="Worker Deployment.")
    beat: str | None = Field(default=None, description="Beat Deployment.")


class CreatedServices(ApiModel):
    """Names of the live Services."""

    redis: str | None = Field(default=None, description="Redis Service.")
    app: str | None = Field(default=None, description="Web Service.")


class CreatedIngresses(ApiModel):
    """Names of the live Ingresses."""

    app: str | None = Field(default=None, description="Web Ingress.")


class CreatedAutoscalers(ApiModel):
    """Names of the live HorizontalPodAutoscalers."""

    app: str | None = Field(default=None, description="Web autoscaler.")
    worker: str | None = Field(default=None, description="Worker autoscaler.")


class Created(ApiModel):
    """The live children, by kind and purpose."""

    preserve_unknown_fields = True

    deployment: CreatedDeployments | None = Field(default=None, description="Deployments.")
    service: CreatedServices | None = Field(default=None, description="Services.")
    ingress: CreatedIngresses | None = Field(default=None, description="Ingresses.")
    horizontalpodautoscaler: CreatedAutoscalers | None = Field(default=None, description="Autoscalers.")


class DjangoStatus(ApiModel):
    """Rollout state.

    Unknown fields are kept, as upstream's status (`x-kubernetes-preserve-unknown-fields`) kept them: its samples
    carry fields such as `status.replicas`, and strict field validation must not refuse them.
    """

    preserve_unknown_fields = True

    conditions: Conditions | None = conditions_field("types Ready, Progressing and Degraded.")
    condition: str | None = Field(
        default=None, description="The status of the application: migrating, running or degraded."
    )
    version: str | None = Field(default=None, description="Version being served.")
    migration_version: str | None = Field(default=None, description="Last version whose management commands succeeded.")
    pipeline_spec: FreeForm | None = Field(
        default=None, description="The spec being rolled out, frozen for the running pipeline; absent when idle."
    )
    created: Created | None = Field(default=None, description="Names of the live children.")
    migration_pipeline: FreeForm | None = Field(
        default=None,
        alias="migration_pipeline",
        description="Bookkeeping of the running pipeline; absent when idle.",
    )


class Django(CustomResource):
    """A Django object."""

    spec: DjangoSpec | None = Field(default=None, description="Desired application.")
    status: DjangoStatus | None = Field(default=None, description="Observed application.")


DJANGO = KindInfo(
    group=GROUP,
    version=VERSION,
    kind="Django",
    plural="djangos",
    singular="django",
    scope="Namespaced",
    model=Django,
    origin="thismatters/django-operator",
    description="Django is a Django application with Celery worker and beat, Redis, management commands run "
    "before each new version, and an Ingress with TLS.",
    printer_columns=(
        PrinterColumn("Status", "string", ".status.condition", "The status of the application"),
        PrinterColumn("Version", "string", ".status.version", "Version being served."),
        condition_column(),
        age_column(),
    ),
    builds="""\
- Missing `host`, `image`, `version` or `clusterIssuer` (or a purpose's `commands.<p>.command`): nothing is
  built; `status.condition: degraded`, condition `Degraded=True` reason `ConfigError`, Event `ConfigError`.
- Every child is named after the Django (two Djangos can share a namespace) and labelled with the Django's labels
  plus `app.kubernetes.io/name: django`, `instance: <name>`, `component: web|worker|beat|redis|migrate` and
  `version: <version>`.
- Redis Deployment and Service `<name>-redis` (`redis:4.0`, or the controller's `DJANGO_REDIS_IMAGE`; Service
  6379 → `ports.redis`); the pods get `REDIS_HOST` and `REDIS_URL` pointing at it. A Django whose `env` sets
  `REDIS_URL` uses that Redis instead and gets none.
- When `migrationVersion` differs from `version` (or with `alwaysRunMigrations`, then at every spec change):
  Job `<name>-migrate-<hash>` (hash of image, version and commands) running each of `initManageCommands` as an
  init container `python manage.py <args>` (named `slugify(args)`), with the app's env, envFrom, volumes and
  imagePullSecrets, `activeDeadlineSeconds` = `initManageTimeouts.period` times `iterations`. Web, worker and beat
  keep the previous version until the Job succeeded (`migrating`), then roll (`running`, `migrationVersion`
  set); a failed Job leaves the previous version serving (`degraded`, Warning Event `MigrationFailed` with the
  Job's message). Deleting a failed Job retries it.
- Deployments `<name>-web` (container `app`, `CONTAINER_PURPOSE=app` then `env`, command/args
  `commands.app`, port `ports.app`, liveness and readiness probe `appProbeSpec`, requests `resourceRequests.app`),
  `<name>-worker` (init container waiting for `<name>-redis`) and `<name>-beat` (exactly one replica, strategy
  Recreate); pod annotation `tenantgate.io/config-hash` of every ConfigMap and Secret they read (envFrom,
  `valueFrom`, secret volumes), so changing one rolls the pods.
- HorizontalPodAutoscalers `<name>-web` and `<name>-worker` (autoscaling/v2, CPU `averageUtilization` =
  `cpuUtilizationThreshold`, `replicas.minimum`/`maximum`) when enabled.
- Service `<name>-web` (8080 → `ports.app`) and Ingress `<name>` for `host` (`kubernetes.io/ingress.class:
  nginx`, ssl-redirect, proxy-body-size 4m, `cert-manager.io/cluster-issuer`, `cert-manager.io/common-name` = the
  host minus its first label, or the host when it has no dot, renew-before 480h), TLS Secret `<name>-tls`.
- Status `condition` (`migrating` → `running` | `degraded`), `version`, `migrationVersion`, `created`,
  conditions `Ready`, `Progressing`, `Degraded`; Events `Migrating` "Enacting new config", `Ready` "New config
  running".
""",
)

KINDS = (DJANGO,)
