"""`paas.kubeop.io/v1alpha1`: kubeOP's tenancy kinds, extended with tenantgate's guardrail fields.

The kinds keep kubeOP's names, scopes, CEL rules (with their messages verbatim) and printer columns, so kubeOP
manifests apply unchanged. tenantgate's additions are optional Tenant and Project fields modelled on
Capsule's Tenant (owners, registries, hostnames, quotas, network isolation, event webhooks, cordoning), plus
conditions with full schemas (kubeOP's were pruned to `{}`) and a status subresource on every kind.

The namespace naming and labelling conventions of a Project live here too, because admission and the
controller must agree on them to the character.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from annotated_types import MaxLen
from pydantic import Field

from crds.common import (
    DNS1123_LABEL_PATTERN,
    ApiModel,
    Bool,
    CelRule,
    Conditions,
    CustomResource,
    Immutable,
    Int32,
    Int64,
    KindInfo,
    ListType,
    PrinterColumn,
    Quantity,
    RequiredBy,
    age_column,
    condition_column,
    conditions_field,
)

GROUP = "paas.kubeop.io"
VERSION = "v1alpha1"


PROJECT_QUOTA_FALLBACK: dict[str, str] = {"pods": "10", "requests.cpu": "1", "requests.memory": "1Gi"}
"""ResourceQuota `kubeop-quota` of a project when neither the Project nor its Tenant says otherwise."""
PROJECT_LIMIT_RANGE_FALLBACK: dict[str, dict[str, str]] = {
    "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
    "default": {"cpu": "500m", "memory": "256Mi"},
}
"""Container defaults of LimitRange `kubeop-defaults` when neither the Project nor its Tenant says otherwise."""

HOSTNAME_PATTERN = r"^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

ResourceList = Annotated[dict[str, Quantity], MaxLen(32)]
"""Resource names (cpu, requests.memory, pods, ...) to quantities."""


# ---------------------------------------------------------------------------------------------------------------
# Tenant


class TenantOwner(ApiModel):
    """A user, group or service account that administers the tenant."""

    kind: Literal["User", "Group", "ServiceAccount"] = Field(description="Kind of subject.")
    name: str = Field(
        min_length=1,
        max_length=253,
        description="User or group name as the API server authenticates it; for a ServiceAccount, "
        "system:serviceaccount:<namespace>:<name>.",
    )


class AllowedRegistries(ApiModel):
    """Container registries a tenant's workloads may pull from."""

    exact: Annotated[list[Annotated[str, MaxLen(253)]], ListType("set"), MaxLen(64)] | None = Field(
        default=None,
        description="Registries or repository prefixes, without a scheme, such as ghcr.io, "
        "registry.acme.example:5000 or ghcr.io/acme. An image is allowed when its normalised reference "
        "(nginx becomes docker.io/library/nginx) equals an entry or continues it after a /; no pattern syntax.",
    )
    regex: str | None = Field(
        default=None,
        max_length=1024,
        description="RE2 regular expression matched against the normalised image reference (registry, "
        "repository and tag); an image matching it is allowed too.",
    )


class LimitRangeDefaults(ApiModel):
    """Container defaults and bounds, rendered into a project namespace's LimitRange kubeop-defaults."""

    default_request: ResourceList | None = Field(
        default=None,
        description="Requests given to a container that sets none, such as {cpu: 100m, memory: 64Mi}.",
    )
    default: ResourceList | None = Field(
        default=None,
        description="Limits given to a container that sets none, such as {cpu: 500m, memory: 256Mi}.",
    )
    max: ResourceList | None = Field(default=None, description="Largest limit a container may set.")
    min: ResourceList | None = Field(default=None, description="Smallest request a container may set.")


class ProjectQuota(ApiModel):
    """The quota and container defaults of one project namespace."""

    hard: ResourceList | None = Field(
        default=None,
        description="Hard limits of the namespace's ResourceQuota kubeop-quota, such as "
        "{requests.cpu: 1, requests.memory: 1Gi, pods: 10}.",
    )
    limit_range: LimitRangeDefaults | None = Field(
        default=None,
        description="Container defaults and bounds of the namespace's LimitRange kubeop-defaults.",
    )


class TenantQuota(ApiModel):
    """Limits over all of a tenant's projects and the defaults each project starts from."""

    hard: ResourceList | None = Field(
        default=None,
        description="Aggregate limits over all the tenant's project namespaces together, with ResourceQuota "
        "resource names (requests.cpu, limits.memory, pods, ...). A project whose own quota would push the "
        "sum of the tenant's project quotas over a limit is denied.",
    )
    project_defaults: ProjectQuota | None = Field(
        default=None,
        description="Quota and container defaults of every project that does not set its own spec.quota; "
        "without it the platform's defaults apply (pods 10, requests.cpu 1, requests.memory 1Gi; containers "
        "request 100m/64Mi and are limited to 500m/256Mi by default).",
    )


class NetworkIsolation(ApiModel):
    """How far traffic may cross the boundaries of the tenant's project namespaces."""

    allow_intra_tenant: Bool = Field(
        default=False,
        description="Allow ingress from the tenant's other project namespaces; otherwise pods only receive "
        "traffic from their own namespace (and the ingress controller).",
    )
    ingress_controller_namespace: str | None = Field(
        default=None,
        max_length=63,
        pattern=DNS1123_LABEL_PATTERN,
        description="Namespace of the ingress controller, allowed to reach every project namespace of the tenant.",
    )


class ServiceOptions(ApiModel):
    """Which Services that reach beyond the cluster network the tenant may create; all denied by default."""

    allow_node_port: Bool = Field(
        default=False,
        description="Allow Services of type NodePort, which open a port on every node of the cluster.",
    )
    allow_load_balancer: Bool = Field(
        default=False,
        description="Allow Services of type LoadBalancer, which ask the cloud for an external address.",
    )
    allow_external_ips: Annotated[list[Annotated[str, MaxLen(64)]], ListType("set"), MaxLen(64)] | None = Field(
        default=None,
        alias="allowExternalIPs",
        description="CIDRs (such as 203.0.113.0/24) that spec.externalIPs of the tenant's Services may use; absent "
        "or empty allows none. An external IP captures the traffic to that address from the whole cluster "
        "(CVE-2020-8554), so grant only addresses the tenant owns.",
    )


EventType = Literal[
    "project.ready",
    "project.deleted",
    "app.ready",
    "app.degraded",
    "app.revision_changed",
    "shop.available",
    "shop.degraded",
    "dns.ready",
    "certificate.ready",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
"""The lifecycle events a Tenant's eventWebhooks may receive (kubeOP's catalogue)."""


class EventWebhookSecretRef(ApiModel):
    """The Secret whose key signs event deliveries."""

    name: str = Field(min_length=1, max_length=253, description="Name of the Secret.")
    namespace: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description="Namespace of the Secret: one of the tenant's project namespaces. Absent means tenantgate's "
        "own namespace, which only platform admins may reference.",
    )
    key: str = Field(default="hmac-key", min_length=1, max_length=253, description="Key within the Secret.")


class EventWebhook(ApiModel):
    """An HTTPS endpoint that receives the tenant's lifecycle events."""

    url: str = Field(
        max_length=2048,
        pattern=r"^https?://[^\s]+$",
        description="HTTPS URL each event is POSTed to as JSON (http only for a loopback host, and only when the "
        "platform sets TENANTGATE_EVENTS_ALLOW_HTTP_LOOPBACK).",
    )
    secret_ref: EventWebhookSecretRef | None = Field(
        default=None,
        description="Secret key used to sign each delivery: header X-KubeOP-Signature carries "
        "sha256=<hex HMAC-SHA256 of the body>. Absent means unsigned deliveries.",
    )
    events: Annotated[list[EventType], ListType("set"), MaxLen(32)] | None = Field(
        default=None,
        description="Event types to deliver (such as project.ready, app.degraded); absent or empty means every "
        "event of the tenant's objects.",
    )


class TenantSpec(ApiModel):
    """A tenant: kubeOP's display name plus tenantgate's guardrails, all optional."""

    name: Annotated[str, RequiredBy("spec.name is required")] = Field(
        min_length=1, description="Display name of the tenant."
    )
    owners: Annotated[list[TenantOwner], ListType("map", ("kind", "name")), MaxLen(64)] | None = Field(
        default=None,
        description="Users, groups and service accounts that administer the tenant: they may create its "
        "Projects and get the admin role in every project namespace.",
    )
    allowed_registries: AllowedRegistries | None = Field(
        default=None,
        description="Registries the tenant's workloads may use, narrowing the global KUBEOP_IMAGE_ALLOWLIST; "
        "absent means only the global allowlist applies.",
    )
    allowed_domains: (
        Annotated[
            list[Annotated[str, Field(max_length=253, pattern=HOSTNAME_PATTERN)]],
            ListType("set"),
            MaxLen(64),
        ]
        | None
    ) = Field(
        default=None,
        description="Hostnames the tenant's Ingresses and Apps may use; a leading *. allows every subdomain "
        "(*.acme.example). Absent means any hostname not already used by another tenant. A hostname is unique "
        "across the cluster: one tenant's hostname is denied to every other tenant.",
    )
    quota: TenantQuota | None = Field(
        default=None,
        description="Aggregate limits over the tenant's projects and the per-project defaults.",
    )
    max_projects: Int32 | None = Field(
        default=None,
        ge=0,
        description="Largest number of Projects the tenant may have; absent means no limit.",
    )
    network_isolation: NetworkIsolation | None = Field(
        default=None,
        description="Traffic allowed into the tenant's namespaces beyond each namespace's own pods.",
    )
    service_options: ServiceOptions | None = Field(
        default=None,
        description="Services that reach beyond the cluster network (NodePort, LoadBalancer, external IPs) the "
        "tenant may create; absent allows none of them. Only platform admins change it.",
    )
    event_webhooks: Annotated[list[EventWebhook], ListType("map", ("url",)), MaxLen(16)] | None = Field(
        default=None,
        description="HTTPS endpoints that receive the tenant's lifecycle events (project.ready, app.degraded, ...) as "
        "signed JSON POSTs.",
    )
    cordoned: Bool = Field(
        default=False,
        description="Freeze the tenant: creates and updates in its namespaces and of its Projects are denied "
        "(deletes are allowed) until set back to false.",
    )


class ProjectUsage(ApiModel):
    """What one project's namespace consumes now."""

    project: str = Field(description="Name of the Project.")
    namespace: str = Field(description="Namespace of the Project.")
    resources: ResourceList = Field(
        description="requests.cpu, limits.cpu, requests.memory, limits.memory (summed over the pods that are "
        "not finished), requests.storage (over the PersistentVolumeClaims) and pods (the count of pods that are "
        "not finished)."
    )


class TenantUsage(ApiModel):
    """What a tenant's project namespaces consume, and their quotas."""

    hard: ResourceList | None = Field(default=None, description="Sum of status.hard of the project quotas.")
    used: ResourceList | None = Field(default=None, description="Sum of status.used of the project quotas.")
    total: ResourceList | None = Field(
        default=None, description="Sum of the projects' resources: what the tenant consumes now."
    )
    projects: Annotated[list[ProjectUsage], ListType("map", ("project",))] | None = Field(
        default=None, description="Consumption per project."
    )


class TenantStatus(ApiModel):
    """What the controller observed about the tenant."""

    ready: Bool | None = Field(default=None, description="True once the tenant is initialised.")
    conditions: Conditions | None = conditions_field("type Ready.")
    namespaces: Annotated[list[str], ListType("set")] | None = Field(
        default=None, description="Namespaces of the tenant's projects."
    )
    projects: Annotated[list[str], ListType("set")] | None = Field(
        default=None, description="Names of the tenant's Projects."
    )
    usage: TenantUsage | None = Field(
        default=None,
        description="Consumption per project and in total (requests and limits of unfinished pods, storage "
        "requests, pod counts), and quota summed over the ResourceQuotas kubeop-quota of the project namespaces.",
    )


class Tenant(CustomResource):
    """A Tenant object."""

    spec: TenantSpec = Field(description="Desired tenant.")
    status: TenantStatus | None = Field(default=None, description="Observed tenant.")


# ---------------------------------------------------------------------------------------------------------------
# Project


class ProjectSpec(ApiModel):
    """A project: one namespace of a tenant."""

    tenant_ref: Annotated[str, RequiredBy("spec.tenantRef is required"), Immutable()] = Field(
        min_length=1,
        max_length=63,
        description="metadata.name of the Tenant owning the project; the Tenant must exist. Immutable.",
    )
    name: Annotated[str, RequiredBy("spec.name is required"), Immutable()] = Field(
        min_length=1,
        max_length=63,
        description="Project name; the namespace is kubeop-<tenantRef>-<name>, lowercased with other "
        "characters replaced by -, at most 63 characters. Immutable.",
    )
    quota: ProjectQuota | None = Field(
        default=None,
        description="This project's quota and container defaults, replacing the Tenant's "
        "spec.quota.projectDefaults; each value must stay within the Tenant's aggregate spec.quota.hard.",
    )


class ProjectStatus(ApiModel):
    """The namespace the project got."""

    namespace: str | None = Field(default=None, description="Name of the project's namespace.")
    ready: Bool | None = Field(default=None, description="True once the namespace and its guardrails exist.")
    conditions: Conditions | None = conditions_field("type Ready.")


class Project(CustomResource):
    """A Project object."""

    spec: ProjectSpec = Field(description="Desired project.")
    status: ProjectStatus | None = Field(default=None, description="Observed project.")


# ---------------------------------------------------------------------------------------------------------------
# App


class GitSource(ApiModel):
    """A Git source of an App (type Git)."""

    repo: str | None = Field(default=None, description="Repository URL.")
    ref: str | None = Field(default=None, description="Branch, tag or commit.")
    path: str | None = Field(default=None, description="Directory within the repository.")


class HelmSource(ApiModel):
    """A Helm chart source of an App (type Helm)."""

    chart: str | None = Field(default=None, description="Chart reference.")
    version: str | None = Field(default=None, description="Chart version.")
    values: str | None = Field(default=None, description="Values, as a YAML document.")


class Hook(ApiModel):
    """A one-off Job run around a rollout."""

    image: str | None = Field(default=None, description="Container image of the hook Job.")
    args: list[str] | None = Field(default=None, description="Container arguments.")


class Hooks(ApiModel):
    """Jobs run before and after each new revision."""

    pre: list[Hook] | None = Field(default=None, description="Jobs run before the new revision rolls out.")
    post: list[Hook] | None = Field(default=None, description="Jobs run after the new revision is ready.")


def _app_image_present(spec: AppSpec) -> bool:
    return spec.type != "Image" or bool(spec.image)


class AppSpec(ApiModel):
    """An application deployed into a project namespace."""

    cel_rules = (
        CelRule(
            "!has(self.type) || self.type != 'Image' || (has(self.image) && size(self.image) > 0)",
            "spec.image required when type=Image",
            field_path=".image",
            reason="FieldValueRequired",
            check=_app_image_present,
        ),
    )

    type: Literal["Image", "Git", "Helm", "Raw"] = Field(
        default="Image",
        description="How the app is delivered: Image (a container image), Git, Helm or Raw manifests.",
    )
    image: str | None = Field(
        default=None, description="Container image; required when type is Image. Subject to allowed registries."
    )
    host: str | None = Field(
        default=None,
        max_length=253,
        description="Public hostname; when set the app gets a Service and an Ingress for it. Subject to the "
        "tenant's allowed domains and unique across tenants.",
    )
    port: Int32 = Field(
        default=80,
        ge=1,
        le=65535,
        description="Port the container listens on, used by the Service and Ingress.",
    )
    replicas: Int32 = Field(default=1, ge=0, description="Number of pods.")
    git: GitSource | None = Field(default=None, description="Git source (type Git).")
    helm: HelmSource | None = Field(default=None, description="Helm chart source (type Helm).")
    raw_manifests: str | None = Field(default=None, description="Kubernetes manifests as YAML (type Raw).")
    hooks: Hooks | None = Field(default=None, description="Jobs run around each rollout.")


class HookStatus(ApiModel):
    """The outcome of each hook of one revision, kept after the hook Jobs are cleaned up."""

    revision: str | None = Field(default=None, description="Revision the hooks ran for.")
    pre: list[str] | None = Field(
        default=None, description="Phase of each pre-hook, in order: Pending, Running, Succeeded or Failed."
    )
    post: list[str] | None = Field(
        default=None, description="Phase of each post-hook, in order: Pending, Running, Succeeded or Failed."
    )


class AppStatus(ApiModel):
    """The app's rollout state."""

    ready: Bool | None = Field(default=None, description="True when at least one pod is available.")
    revision: str | None = Field(
        default=None,
        description="Revision deployed: the first 12 hex characters of the SHA-1 of the image for type Image "
        "(of rawManifests for type Raw). While pre-hooks gate a new revision, the revision still served.",
    )
    hooks: HookStatus | None = Field(default=None, description="Hook outcomes of the current revision.")
    conditions: Conditions | None = conditions_field("type Ready.")


class App(CustomResource):
    """An App object."""

    spec: AppSpec = Field(description="Desired app.")
    status: AppStatus | None = Field(default=None, description="Observed app.")


# ---------------------------------------------------------------------------------------------------------------
# DNSRecord, Certificate


class DNSRecordSpec(ApiModel):
    """A DNS record to publish."""

    host: Annotated[str, RequiredBy("spec.host is required")] = Field(
        min_length=1, description="Hostname of the record."
    )
    target: Annotated[str, RequiredBy("spec.target is required")] = Field(
        min_length=1, description="Target of the record: an IP address or a hostname."
    )


class PublishStatus(ApiModel):
    """Whether an external record or certificate has been published."""

    ready: Bool | None = Field(default=None, description="True once published.")
    message: str | None = Field(default=None, description="Last result, in words.")
    observed_generation: Int64 | None = Field(
        default=None, ge=0, description="The metadata.generation this status was computed from."
    )
    conditions: Conditions | None = conditions_field("type Ready.")


class DNSRecord(CustomResource):
    """A DNSRecord object."""

    spec: DNSRecordSpec = Field(description="Desired record.")
    status: PublishStatus | None = Field(default=None, description="Observed record.")


class CertificateSpec(ApiModel):
    """A TLS certificate to obtain."""

    host: Annotated[str, RequiredBy("spec.host is required")] = Field(min_length=1, description="Hostname to certify.")
    dns_record_ref: str | None = Field(default=None, description="Name of the DNSRecord publishing the host.")


class Certificate(CustomResource):
    """A Certificate object."""

    spec: CertificateSpec = Field(description="Desired certificate.")
    status: PublishStatus | None = Field(default=None, description="Observed certificate.")


# ---------------------------------------------------------------------------------------------------------------
# Policy, Registry


def _egress_list_small(spec: PolicySpec) -> bool:
    return spec.egress_allow_cidrs is None or len(spec.egress_allow_cidrs) <= 64


class PolicySpec(ApiModel):
    """Cluster-wide network policy settings."""

    cel_rules = (
        CelRule(
            "!has(self.egressAllowCIDRs) || size(self.egressAllowCIDRs) <= 64",
            "egressAllowCIDRs list too large",
            field_path=".egressAllowCIDRs",
            check=_egress_list_small,
        ),
    )

    egress_allow_cidrs: Annotated[list[Annotated[str, MaxLen(64)]], MaxLen(1024)] | None = Field(
        default=None,
        alias="egressAllowCIDRs",
        description="CIDRs tenant workloads may reach, at most 64 entries.",
    )


class ConditionsStatus(ApiModel):
    """Conditions only."""

    conditions: Conditions | None = conditions_field("type Ready.")


class Policy(CustomResource):
    """A Policy object."""

    spec: PolicySpec | None = Field(default=None, description="Desired policy.")
    status: ConditionsStatus | None = Field(default=None, description="Observed policy.")


def _password_with_username(spec: RegistrySpec) -> bool:
    return spec.username is None or spec.password_ref is not None


class RegistrySpec(ApiModel):
    """A container registry and its credentials."""

    cel_rules = (
        CelRule(
            "!(has(self.username)) || has(self.passwordRef)",
            "spec.passwordRef must be set when username provided",
            field_path=".passwordRef",
            reason="FieldValueRequired",
            check=_password_with_username,
        ),
    )

    host: Annotated[str, RequiredBy("spec.host is required")] = Field(
        min_length=1, description="Registry host, such as ghcr.io."
    )
    username: str | None = Field(default=None, description="User name for the registry.")
    password_ref: str | None = Field(
        default=None, description="Reference to the Secret holding the password; required with username."
    )


class Registry(CustomResource):
    """A Registry object."""

    spec: RegistrySpec = Field(description="Desired registry.")
    status: ConditionsStatus | None = Field(default=None, description="Observed registry.")


# ---------------------------------------------------------------------------------------------------------------
# Kinds

_READY = condition_column()


def _info(kind: str, plural: str, model: type[CustomResource], **extra: Any) -> KindInfo:
    return KindInfo(
        group=GROUP,
        version=VERSION,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        origin="kubeOP",
        model=model,
        **extra,
    )


TENANT = _info(
    "Tenant",
    "tenants",
    Tenant,
    scope="Cluster",
    short_names=("ten",),
    description="Tenant is a team or customer owning Projects; its optional fields set the guardrails that "
    "apply in all of its project namespaces.",
    printer_columns=(
        _READY,
        age_column(),
        PrinterColumn("Cordoned", "boolean", ".spec.cordoned", "Whether writes are frozen.", priority=1),
    ),
    builds="""\
- Status `ready: true`, `namespaces` (its projects' namespaces), condition `Ready` (`Bootstrapped`,
  "Tenant initialized").
- Its fields are enforced at admission in every namespace labelled `app.kubeop.io/tenant: <name>`: owners may
  manage the tenant's Projects; images must come from `allowedRegistries` (and the global
  `KUBEOP_IMAGE_ALLOWLIST`); Ingress and App hosts must match `allowedDomains` and be unused by other tenants;
  the number of Projects is capped by `maxProjects`; project quotas must fit in `quota.hard`; `cordoned: true`
  denies creates and updates.
- Delivers the lifecycle events of its objects (project.ready, app.degraded, ...) to `eventWebhooks` (JSON POST,
  HMAC-SHA256 signed in `X-KubeOP-Signature`, retried with the same body and delivery id).
- Status `usage`: per project and in total, CPU and memory requests and limits, storage requests and pod counts,
  also exported as the gauge `tenantgate_tenant_usage{tenant, project, resource}`.
- A change propagates to every project namespace (RoleBindings, quotas, network policies).
""",
)

PROJECT = _info(
    "Project",
    "projects",
    Project,
    scope="Cluster",
    short_names=("proj",),
    description="Project is one namespace of a Tenant, created with a quota, container defaults and network policies.",
    printer_columns=(
        PrinterColumn("Namespace", "string", ".status.namespace", "Namespace of the project."),
        _READY,
        age_column(),
        PrinterColumn("Tenant", "string", ".spec.tenantRef", "Owning tenant.", priority=1),
    ),
    builds="""\
- Admission: the Tenant `spec.tenantRef` must exist and not be cordoned, the caller must be one of its owners
  (or a cluster administrator), `maxProjects` and the aggregate quota must allow it, and the namespace name
  `kubeop-<tenantRef>-<name>` must be a valid DNS-1123 label (sanitised, at most 63 characters).
- Namespace `kubeop-<tenantRef>-<name>` labelled `app.kubeop.io/tenant` and `app.kubeop.io/project`; a finalizer
  deletes it with the Project.
- In that namespace: LimitRange `kubeop-defaults` and ResourceQuota `kubeop-quota` (from `spec.quota`, else the
  Tenant's `quota.projectDefaults`, else requests 100m/64Mi, limits 500m/256Mi, pods 10, requests.cpu 1,
  requests.memory 1Gi); NetworkPolicy `kubeop-egress` (egress limited to `KUBEOP_EGRESS_BASELINE` when set) and
  `kubeop-ingress` (same namespace, plus the tenant's namespaces with `allowIntraTenant`, plus the ingress
  controller namespace); RoleBinding `tenantgate-owners` granting the admin ClusterRole to the Tenant's owners.
  All are kept in line with the Tenant and Project.
- Status `namespace`, `ready`, condition `Ready` (`Bootstrapped` "Project namespace ready", or `CreateFailed`).
""",
)

APP = _info(
    "App",
    "apps",
    App,
    scope="Namespaced",
    description="App is an application deployed into a project namespace.",
    printer_columns=(
        PrinterColumn("Type", "string", ".spec.type", "Delivery type."),
        PrinterColumn("Host", "string", ".spec.host", "Public hostname."),
        PrinterColumn("Revision", "string", ".status.revision", "Deployed revision."),
        _READY,
        age_column(),
    ),
    builds="""\
- Admission: the namespace must be a tenant namespace; the image must come from an allowed registry; the host
  must be allowed for the tenant and unused by others. The mutating webhook adds label
  `app.kubeop.io/managed-by: kubeop-admission`.
- Type `Image`: Deployment `app-<name>` (labels `app.kubeop.io/app: <name>` on it, its selector and pods;
  annotation `kubeop.io/revision: <revision>` on it and its pod template; `spec.replicas` pods; container `app`
  with the image and `containerPort: spec.port`), Service `app-<name>` (port `spec.port`) and, with `host`,
  Ingress `app-<name>` for the host.
- Type `Helm`: Flux `HelmRepository` and `HelmRelease` `app-<name>`; `spec.helm.chart` names the repository
  and the chart together (`https://charts.example/<chart>` or `oci://registry/path/<chart>`), `version` and
  `values` (YAML) go to the release. Type `Git`: Flux `GitRepository` (`ref`: a branch, `refs/tags/<tag>` or
  a commit) and `Kustomization` `app-<name>` applying `spec.git.path` into the App's namespace. Without the
  Flux CRDs the App reports `Ready=False` with reason `DependencyMissing`.
- Type `Raw`: the documents of `spec.rawManifests` (multi-document YAML), applied into the App's namespace
  and pruned when removed. Each must be a namespaced kind among ConfigMap, Secret, Service, ServiceAccount,
  PersistentVolumeClaim, Pod, Deployment, StatefulSet, DaemonSet, Job, CronJob, HorizontalPodAutoscaler,
  PodDisruptionBudget and Ingress, in the App's namespace (it is forced there); anything else refuses the
  revision (`ManifestRefused`), as does invalid YAML (`InvalidManifests`). Every document is first reviewed by
  the admission guardrails as a service account of the namespace would be, with their defaults kept; one denial
  and nothing of the revision is applied (`GuardrailDenied`, with the deny messages and a Warning Event).
- `hooks`: Jobs `hook-<pre|post>-<name>-<revision[:8]>` (`-<index>` appended when a phase has several; one
  container `hook` with the image and args, restartPolicy Never, backoffLimit 0, ttlSecondsAfterFinished 60,
  labels `app.kubeop.io/app`, `app.kubeop.io/revision`, `app.kubeop.io/phase`), run one after another. When the
  revision changes, pre-hooks must all succeed before the new revision is applied (`PreHooksRunning`; a failure
  reports `PreHookFailed` and keeps the old revision); post-hooks run once the new revision is ready
  (`PostHooksRunning`, `PostHookFailed`). Outcomes are kept in `status.hooks`, so a hook runs once per revision.
- Status `revision` (first 12 hex characters of the SHA-1 of the image or of `rawManifests`; for Helm and Git
  of the chart and version, or repository, ref and path; while a gate holds a new revision back, the revision
  still served), `ready`, `hooks`, condition `Ready` (`Converged` when the Deployment has an available replica,
  the Flux release reports Ready, or every Raw Deployment and StatefulSet has a pod available, and the
  post-hooks succeeded; else `Progressing` "Waiting for rollout" or one of the reasons above).
""",
)

DNS_RECORD = _info(
    "DNSRecord",
    "dnsrecords",
    DNSRecord,
    scope="Cluster",
    description="DNSRecord is a DNS record published by an external DNS service.",
    printer_columns=(
        PrinterColumn("Host", "string", ".spec.host", "Hostname."),
        PrinterColumn("Ready", "boolean", ".status.ready", "Whether the record is published."),
        age_column(),
    ),
    builds="""\
- When `DNS_MOCK_URL` is set, `POST $DNS_MOCK_URL/v1/dnsrecords` with the record as a JSON body (`action`
  `upsert`, and `delete` under a finalizer on removal); otherwise an external-dns `DNSEndpoint` (A, AAAA or
  CNAME) in the tenant's oldest namespace, or tenantgate's for a record of no tenant (when that CRD exists;
  `DependencyMissing` otherwise).
- Status `ready`, `message`, `observedGeneration`, condition `Ready` (`Published`, `Publishing`,
  `ProviderFailed`, `WaitingForNamespace`, `DependencyMissing`).
""",
)

CERTIFICATE = _info(
    "Certificate",
    "certificates",
    Certificate,
    scope="Cluster",
    description="Certificate is a TLS certificate for a hostname.",
    printer_columns=(
        PrinterColumn("Host", "string", ".spec.host", "Hostname."),
        PrinterColumn("Ready", "boolean", ".status.ready", "Whether the certificate is issued."),
        age_column(),
    ),
    builds="""\
- Once the DNSRecord named by `dnsRecordRef` is ready: when `ACME_MOCK_URL` is set, `POST
  $ACME_MOCK_URL/v1/certificates` with the request as a JSON body (`delete` on removal); otherwise a cert-manager
  `Certificate` (secret `<name>-tls`, ClusterIssuer `TENANTGATE_CLUSTER_ISSUER`) beside the tenant's workloads
  (when that CRD exists; `DependencyMissing` otherwise).
- Status `ready`, `message` ("issued"), `observedGeneration`, condition `Ready` (`Issued`, `Issuing`,
  `WaitingForDNS`, `ProviderFailed`, `WaitingForNamespace`, `DependencyMissing`).
""",
)

POLICY = _info(
    "Policy",
    "policies",
    Policy,
    scope="Cluster",
    description="Policy holds cluster-wide network settings for tenant workloads.",
    printer_columns=(_READY, age_column()),
    builds="""\
- `egressAllowCIDRs` extends the egress baseline (`KUBEOP_EGRESS_BASELINE`) used for the `kubeop-egress`
  NetworkPolicy of every project namespace and for admission of tenants' NetworkPolicies.
- Status condition `Ready` once applied.
""",
)

REGISTRY = _info(
    "Registry",
    "registries",
    Registry,
    scope="Cluster",
    description="Registry is a container registry with optional credentials.",
    printer_columns=(PrinterColumn("Host", "string", ".spec.host", "Registry host."), _READY, age_column()),
    builds="""\
- Records the registry and its credentials reference; status condition `Ready` once the referenced password
  Secret is found (`SecretMissing` otherwise). No children.
""",
)

KINDS = (TENANT, PROJECT, APP, DNS_RECORD, CERTIFICATE, POLICY, REGISTRY)
