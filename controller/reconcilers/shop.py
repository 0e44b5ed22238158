"""Shop (`apps.shophub.local/v1`): a storefront Deployment on a database its operator provisions.

The database comes first: a CloudNativePG `Cluster` (postgres) or a `MongoDBCommunity` replica set (mongodb,
with the namespace's shared `mongodb-database` ServiceAccount/Role/RoleBinding the MongoDB operator expects).
The shop cannot start without the connection Secret `<name>-app` that operator publishes, so until it exists the
Shop reports `Progressing/DatabaseProvisioning` and looks again every ten seconds. Then come the admin password
Secret, the Deployment (with a hash of both Secrets in its pod template, so a new credential rolls the pods),
Service, Ingress, a Grafana dashboard ConfigMap and, when the prometheus-operator CRDs exist, a ServiceMonitor
and an AlertmanagerConfig routing the shop's alerts to its Discord webhook.

Everything the Shop builds is computed by the pure functions below from the Shop and a `ShopInputs`; the
reconcile only gathers inputs from the caches, applies, and reports. The operator-published Secret and the
user's Discord Secret carry no tenantgate label, so this controller caches Secrets unfiltered (as shop-operator's
own client did) to be woken when one appears or changes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.applier import ApplyError
from controller.conditions import Condition, now_rfc3339, set_conditions
from controller.context import Context
from controller.logs import fields
from controller.manager import Manager
from controller.runtime import DONE, Mapper, Result, owner_mapper
from crds.shophub_apps import GROUP, REPLICAS_BY_AVAILABILITY, VERSION
from kube.client import (
    CONFIGMAPS,
    DEPLOYMENTS,
    INGRESSES,
    ROLE_BINDINGS,
    ROLES,
    SECRETS,
    SERVICE_ACCOUNTS,
    SERVICES,
    ApiError,
    NotServed,
    ResourceType,
)
from kube.informer import Informer
from kube.objects import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    Obj,
    generation_of,
    make_key,
    name_of,
    namespace_of,
    object_key,
    owner_references_of,
    uid_of,
)
from kube.store import BY_UID

log = logging.getLogger(__name__)

SHOP = (f"{GROUP}/{VERSION}", "Shop")
CNPG_CLUSTER = ("postgresql.cnpg.io/v1", "Cluster")
MONGODB = ("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity")
SERVICE_MONITOR = ("monitoring.coreos.com/v1", "ServiceMonitor")
ALERTMANAGER_CONFIG = ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig")

DATABASE_KINDS = (CNPG_CLUSTER, MONGODB)
BEST_EFFORT_KINDS = (SERVICE_MONITOR, ALERTMANAGER_CONFIG)
BUILTIN_CHILD_KINDS: tuple[ResourceType, ...] = (DEPLOYMENTS, SERVICES, INGRESSES, SECRETS, CONFIGMAPS)
SHARED_KINDS: tuple[ResourceType, ...] = (SERVICE_ACCOUNTS, ROLES, ROLE_BINDINGS)

DEFAULT_IMAGE = "docker.io/urospetraskovic/shop-backend:main"
OTLP_ENDPOINT = "http://tempo.monitoring.svc.cluster.local:4318"
HTTP_PORT = 8080
MONGODB_VERSION = "6.0.5"
MONGODB_SHARED_NAME = "mongodb-database"
WEBHOOK_KEY = "webhook-url"
SECRET_HASH_ANNOTATION = "tenantgate.io/secret-hash"
DASHBOARD_LABEL = "grafana_dashboard"
DASHBOARD_FOLDER_ANNOTATION = "grafana_folder"
PASSWORD_KEY = "password"
DATABASE_POLL_SECONDS = 10.0
FAILURE_RETRY_SECONDS = 30.0
BY_WEBHOOK_SECRET = "spec.discordWebhookSecretRef"

CONNECTION_KEY = {"postgres": "uri", "mongodb": "connectionString.standard"}
"""The key of `<name>-app` holding the connection string, per database engine."""


# ---- settings and field readers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopSettings:
    """shop-operator's environment knobs, with its defaults."""

    default_image: str = DEFAULT_IMAGE
    base_domain: str = "localhost"
    url_port: str = ""


def shop_settings(env: Mapping[str, str]) -> ShopSettings:
    """Read DEFAULT_SHOP_IMAGE, INGRESS_BASE_DOMAIN and INGRESS_URL_PORT (empty means the default). Pure."""
    return ShopSettings(
        default_image=env.get("DEFAULT_SHOP_IMAGE", "").strip() or DEFAULT_IMAGE,
        base_domain=env.get("INGRESS_BASE_DOMAIN", "").strip() or "localhost",
        url_port=env.get("INGRESS_URL_PORT", "").strip(),
    )


def _spec(shop: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = shop.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def database_of(shop: Mapping[str, Any]) -> str:
    return "mongodb" if _spec(shop).get("database") == "mongodb" else "postgres"


def desired_replicas(shop: Mapping[str, Any]) -> int:
    """`spec.replicas` when set (the scale subresource writes it), else 2 for standard and 3 for high."""
    explicit = _spec(shop).get("replicas")
    if isinstance(explicit, int) and not isinstance(explicit, bool):
        return max(explicit, 0)
    return REPLICAS_BY_AVAILABILITY.get(str(_spec(shop).get("availability") or "standard"), 2)


def webhook_secret_name(shop: Mapping[str, Any]) -> str | None:
    """The Discord webhook Secret's name; its namespace is always the Shop's (upstream ignored the field too)."""
    ref = _spec(shop).get("discordWebhookSecretRef")
    name = ref.get("name") if isinstance(ref, Mapping) else None
    return str(name) if name else None


def image_of(shop: Mapping[str, Any], settings: ShopSettings) -> str:
    return str(_spec(shop).get("image") or "") or settings.default_image


def connection_secret_name(name: str) -> str:
    return f"{name}-app"


def admin_secret_name(name: str) -> str:
    return f"{name}-admin"


def mongo_password_secret_name(name: str) -> str:
    return f"{name}-mongo-pw"


def shop_host(name: str, settings: ShopSettings) -> str:
    return f"{name}.{settings.base_domain}"


def shop_url(name: str, settings: ShopSettings) -> str:
    return f"http://{shop_host(name, settings)}{settings.url_port}"


def new_password() -> str:
    """32 hex characters (16 random bytes), as shop-operator generated."""
    return secrets.token_hex(16)


def shop_for_secret(secret_name: str) -> str | None:
    """`<x>-app` is the connection Secret of Shop `<x>`; any other name belongs to no Shop."""
    suffix = "-app"
    if secret_name.endswith(suffix) and len(secret_name) > len(suffix):
        return secret_name[: -len(suffix)]
    return None


# ---- pure builders -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopInputs:
    """What a Shop's children depend on besides the Shop itself, gathered from the caches."""

    settings: ShopSettings = field(default_factory=ShopSettings)
    connection_data: Mapping[str, str] | None = None
    """`data` of `<name>-app` (None while the database operator has not published it)."""
    admin_data: Mapping[str, str] = field(default_factory=dict)
    """`data` of `<name>-admin` as it exists, or freshly generated; it is never regenerated."""
    mongo_password_data: Mapping[str, str] = field(default_factory=dict)
    """`data` of `<name>-mongo-pw` as it exists, or freshly generated."""
    include_best_effort: frozenset[tuple[str, str]] = frozenset(BEST_EFFORT_KINDS)
    """Which optional third-party kinds are served (the others are skipped)."""


def secret_data(password: str) -> dict[str, str]:
    """A Secret's `data` with one base64-encoded `password`."""
    return {PASSWORD_KEY: base64.b64encode(password.encode()).decode()}


def secrets_hash(*datas: Mapping[str, str] | None) -> str:
    """A digest of Secret data that drives a rollout when a credential changes. Pure."""
    canonical = json.dumps([dict(d or {}) for d in datas], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def postgres_cluster(shop: Mapping[str, Any]) -> Obj:
    name = name_of(shop)
    statements = [
        "CREATE TABLE IF NOT EXISTS items(id text PRIMARY KEY, name text NOT NULL, "
        "price_usdt numeric(36,18) NOT NULL, stock int NOT NULL DEFAULT 0)",
        f'ALTER TABLE items OWNER TO "{name}"',
        "CREATE TABLE IF NOT EXISTS orders(id text PRIMARY KEY, buyer_wallet text NOT NULL, tx_hash text, "
        "amount_usdt numeric(36,18) NOT NULL, created_at timestamptz DEFAULT now())",
        f'ALTER TABLE orders OWNER TO "{name}"',
    ]
    return {
        "apiVersion": CNPG_CLUSTER[0],
        "kind": CNPG_CLUSTER[1],
        "metadata": {"name": name, "namespace": namespace_of(shop)},
        "spec": {
            "instances": 1,
            "storage": {"size": "1Gi"},
            "bootstrap": {"initdb": {"database": name, "owner": name, "postInitApplicationSQL": statements}},
        },
    }


def mongodb_children(shop: Mapping[str, Any], password_data: Mapping[str, str]) -> list[Obj]:
    """The password Secret and the MongoDBCommunity replica set (the shared RBAC is `mongodb_shared_rbac`)."""
    name, namespace = name_of(shop), namespace_of(shop)
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": mongo_password_secret_name(name), "namespace": namespace},
            "type": "Opaque",
            "data": dict(password_data),
        },
        {
            "apiVersion": MONGODB[0],
            "kind": MONGODB[1],
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "members": 1,
                "type": "ReplicaSet",
                "version": MONGODB_VERSION,
                "security": {"authentication": {"modes": ["SCRAM"]}},
                "users": [
                    {
                        "name": name,
                        "db": "admin",
                        "passwordSecretRef": {"name": mongo_password_secret_name(name), "key": PASSWORD_KEY},
                        "roles": [{"name": "dbOwner", "db": name}],
                        "scramCredentialsSecretName": f"{name}-scram",
                        "connectionStringSecretName": connection_secret_name(name),
                    }
                ],
            },
        },
    ]


def mongodb_shared_rbac(namespace: str) -> list[Obj]:
    """ServiceAccount, Role and RoleBinding `mongodb-database`: one set per namespace, shared by its Shops."""
    metadata = {"name": MONGODB_SHARED_NAME, "namespace": namespace}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(metadata)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": dict(metadata),
            "rules": [
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["patch", "delete", "get"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": dict(metadata),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": MONGODB_SHARED_NAME},
            "subjects": [{"kind": "ServiceAccount", "name": MONGODB_SHARED_NAME, "namespace": namespace}],
        },
    ]


def database_children(shop: Mapping[str, Any], inputs: ShopInputs) -> list[Obj]:
    if database_of(shop) == "mongodb":
        return mongodb_children(shop, inputs.mongo_password_data)
    return [postgres_cluster(shop)]


def shop_env(shop: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The shop container's environment, in shop-operator's order. Pure."""
    name = name_of(shop)
    env: list[dict[str, Any]] = [
        {
            "name": "DATABASE_URL",
            "valueFrom": {
                "secretKeyRef": {"name": connection_secret_name(name), "key": CONNECTION_KEY[database_of(shop)]}
            },
        },
        {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": OTLP_ENDPOINT},
        {"name": "OTEL_SERVICE_NAME", "value": name},
        {"name": "WALLET_ADDRESS", "value": str(_spec(shop).get("walletAddress") or "")},
        {"name": "SHOP_DB_NAME", "value": name},
        {"name": "ADMIN_PASSWORD", "valueFrom": {"secretKeyRef": {"name": admin_secret_name(name), "key": "password"}}},
    ]
    webhook = webhook_secret_name(shop)
    if webhook:
        env.append(
            {
                "name": "DISCORD_WEBHOOK_URL",
                "valueFrom": {"secretKeyRef": {"name": webhook, "key": WEBHOOK_KEY, "optional": True}},
            }
        )
    return env


def deployment(shop: Mapping[str, Any], inputs: ShopInputs) -> Obj:
    name = name_of(shop)
    labels = {"app": name}
    probe_port = "http"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace_of(shop)},
        "spec": {
            "replicas": desired_replicas(shop),
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {
                    "labels": dict(labels),
                    "annotations": {
                        SECRET_HASH_ANNOTATION: secrets_hash(inputs.connection_data, inputs.admin_data),
                    },
                },
                "spec": {
                    "containers": [
                        {
                            "name": "shop",
                            "image": image_of(shop, inputs.settings),
                            "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
                            "livenessProbe": {
                                "httpGet": {"path": "/probe/liveness", "port": probe_port},
                                "initialDelaySeconds": 5,
                                "periodSeconds": 10,
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/probe/readiness", "port": probe_port},
                                "initialDelaySeconds": 3,
                                "periodSeconds": 5,
                            },
                            "env": shop_env(shop),
                        }
                    ]
                },
            },
        },
    }


def service(shop: Mapping[str, Any]) -> Obj:
    name = name_of(shop)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace_of(shop), "labels": {"app": name}},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": name},
            "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def ingress(shop: Mapping[str, Any], settings: ShopSettings) -> Obj:
    name = name_of(shop)
    backend = {"service": {"name": name, "port": {"number": HTTP_PORT}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace_of(shop)},
        "spec": {
            "rules": [
                {
                    "host": shop_host(name, settings),
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ]
        },
    }


def service_monitor(shop: Mapping[str, Any]) -> Obj:
    name = name_of(shop)
    return {
        "apiVersion": SERVICE_MONITOR[0],
        "kind": SERVICE_MONITOR[1],
        "metadata": {"name": name, "namespace": namespace_of(shop), "labels": {"release": "kube-prometheus-stack"}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
        },
    }


def alertmanager_config(shop: Mapping[str, Any], webhook_secret: str) -> Obj:
    name = name_of(shop)
    return {
        "apiVersion": ALERTMANAGER_CONFIG[0],
        "kind": ALERTMANAGER_CONFIG[1],
        "metadata": {"name": name, "namespace": namespace_of(shop)},
        "spec": {
            "route": {
                "receiver": "discord",
                "matchers": [{"name": "service", "value": name, "matchType": "="}],
                "groupBy": ["alertname"],
                "groupWait": "30s",
                "groupInterval": "5m",
                "repeatInterval": "1h",
            },
            "receivers": [
                {
                    "name": "discord",
                    "discordConfigs": [
                        {"apiURL": {"name": webhook_secret, "key": WEBHOOK_KEY}, "sendResolved": True},
                    ],
                }
            ],
        },
    }


def _panel(panel_id: int, title: str, expr: str, unit: str, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": "{{pod}}"}],
    }


def dashboard(namespace: str, name: str) -> dict[str, Any]:
    """A Grafana dashboard for one shop: request rate, error rate, p95 latency and replicas. Pure.

    The queries select the shop's pods by the `service`/`namespace` labels its ServiceMonitor produces and
    the kube-state-metrics Deployment series, so the dashboard works without template variables.
    """
    selector = f'namespace="{namespace}",service="{name}"'
    requests = f"http_requests_total{{{selector}}}"
    return {
        "uid": f"shop-{name}",
        "title": f"Shop — {name}",
        "tags": ["shophub", "shop"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": []},
        "panels": [
            _panel(1, "Request rate", f"sum(rate({requests}[5m]))", "reqps", 0, 0),
            _panel(
                2,
                "Error rate (5xx)",
                f'sum(rate(http_requests_total{{{selector},status=~"5.."}}[5m]))'
                f" / clamp_min(sum(rate({requests}[5m])), 1e-9)",
                "percentunit",
                12,
                0,
            ),
            _panel(
                3,
                "Latency p95",
                f"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{{{selector}}}[5m])))",
                "s",
                0,
                8,
            ),
            _panel(
                4,
                "Replicas (ready / desired)",
                f'kube_deployment_status_replicas_ready{{namespace="{namespace}",deployment="{name}"}}',
                "short",
                12,
                8,
            ),
        ],
    }


def dashboard_configmap(shop: Mapping[str, Any]) -> Obj:
    name, namespace = name_of(shop), namespace_of(shop)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{name}-dashboard",
            "namespace": namespace,
            "labels": {DASHBOARD_LABEL: "1"},
            "annotations": {DASHBOARD_FOLDER_ANNOTATION: namespace},
        },
        "data": {f"{name}.json": json.dumps(dashboard(namespace, name), indent=2, ensure_ascii=False)},
    }


def admin_secret(shop: Mapping[str, Any], data: Mapping[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": admin_secret_name(name_of(shop)), "namespace": namespace_of(shop)},
        "type": "Opaque",
        "data": dict(data),
    }


def desired_children(shop: Mapping[str, Any], inputs: ShopInputs) -> list[Obj]:
    """Every child of a Shop, in apply order; without the connection Secret only the database. Pure.

    The shared `mongodb-database` RBAC is not listed: several Shops own it together (see `ensure_shared`).
    """
    children = database_children(shop, inputs)
    if inputs.connection_data is None:
        return children
    children += [
        admin_secret(shop, inputs.admin_data),
        deployment(shop, inputs),
        service(shop),
        ingress(shop, inputs.settings),
        dashboard_configmap(shop),
    ]
    if SERVICE_MONITOR in inputs.include_best_effort:
        children.append(service_monitor(shop))
    webhook = webhook_secret_name(shop)
    if webhook and ALERTMANAGER_CONFIG in inputs.include_best_effort:
        children.append(alertmanager_config(shop, webhook))
    return children


# ---- status ------------------------------------------------------------------------------------------------


def database_provisioning_conditions() -> list[Condition]:
    return [
        Condition("Available", "False", "DatabaseProvisioning", "database not ready"),
        Condition("Progressing", "True", "DatabaseProvisioning", "waiting for database connection secret"),
    ]


def database_failed_conditions(message: str, reason: str = "DatabaseFailed") -> list[Condition]:
    return [
        Condition("Available", "False", reason, "database provisioning failed"),
        Condition("Degraded", "True", reason, message),
    ]


def failure_conditions(error: Exception, database_kind: str) -> list[Condition]:
    """`DatabaseFailed` when the database child failed (upstream's row), `ApplyFailed` for any other child."""
    failed = [what for what, _ in error.failures] if isinstance(error, ApplyError) else []
    if not failed or any(what.startswith(f"{database_kind} ") for what in failed):
        return database_failed_conditions(str(error))
    return [
        Condition("Available", "False", "ApplyFailed", "children could not be applied"),
        Condition("Degraded", "True", "ApplyFailed", str(error)),
    ]


def rollout_conditions(ready: int, desired: int) -> list[Condition]:
    """shop-operator's table, except that Degraded is cleared while deploying too. Pure."""
    if ready >= desired:
        return [
            Condition("Available", "True", "Ready", "all replicas are ready"),
            Condition("Progressing", "False", "Ready", "deployment complete"),
            Condition("Degraded", "False", "Ready", "no errors"),
        ]
    return [
        Condition("Available", "False", "Deploying", f"{ready}/{desired} replicas ready"),
        Condition("Progressing", "True", "Deploying", "waiting for replicas to become ready"),
        Condition("Degraded", "False", "Deploying", "no errors"),
    ]


def shop_status(
    shop: Mapping[str, Any], settings: ShopSettings, updates: Sequence[Condition], ready_replicas: int | None, now: str
) -> dict[str, Any]:
    """The Shop's status with `updates` applied to its conditions. Pure."""
    name = name_of(shop)
    current = shop.get("status") if isinstance(shop.get("status"), Mapping) else {}
    assert isinstance(current, Mapping)
    status: dict[str, Any] = {
        "conditions": set_conditions(current.get("conditions"), updates, generation_of(shop), now),
        "url": shop_url(name, settings),
        "databaseSecret": connection_secret_name(name),
        "selector": f"app={name}",
    }
    if ready_replicas is not None:
        status["readyReplicas"] = ready_replicas
    return status


# ---- reconcile ---------------------------------------------------------------------------------------------


def _data(obj: Mapping[str, Any] | None) -> dict[str, str] | None:
    if obj is None:
        return None
    data = obj.get("data")
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, Mapping) else {}


def _created_once(live: Mapping[str, Any] | None) -> dict[str, str]:
    """The data of a create-once password Secret: what exists, or a new password when it does not."""
    existing = _data(live)
    if existing and existing.get(PASSWORD_KEY):
        return existing
    return secret_data(new_password())


async def _served(ctx: Context, kinds: Iterable[tuple[str, str]]) -> tuple[set[tuple[str, str]], list[str]]:
    """Which of `kinds` the API server serves, and the CRD names of those it does not."""
    served: set[tuple[str, str]] = set()
    missing: list[str] = []
    for api_version, kind in kinds:
        try:
            await ctx.discovery.resolve(api_version, kind)
        except NotServed as error:
            missing.append(error.crd_name)
        else:
            served.add((api_version, kind))
    return served, missing


def with_owner(live: Mapping[str, Any] | None, shop: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The ownerReferences `live` should have to include `shop` (non-controller), or None if it already does."""
    references = [dict(ref) for ref in owner_references_of(live or {})]
    if any(ref.get("uid") == uid_of(shop) for ref in references):
        return None
    references.append(
        {"apiVersion": shop.get("apiVersion", SHOP[0]), "kind": "Shop", "name": name_of(shop), "uid": uid_of(shop)}
    )
    return references


async def ensure_shared(ctx: Context, shop: Obj) -> None:
    """Create the namespace's `mongodb-database` RBAC, or add this Shop as one more (non-controller) owner.

    Shared by every MongoDB Shop of the namespace, it is garbage-collected when the last of them goes.
    """
    for manifest, rt in zip(mongodb_shared_rbac(namespace_of(shop)), SHARED_KINDS, strict=True):
        live = ctx.owned(rt.api_version, rt.kind).get(namespace_of(shop), MONGODB_SHARED_NAME)
        if live is None:
            live = await ctx.client.get(rt, MONGODB_SHARED_NAME, namespace_of(shop))
        references = with_owner(live, shop)
        if live is not None and references is None:
            continue
        body = dict(manifest)
        metadata = dict(body["metadata"])
        metadata["labels"] = {MANAGED_BY_LABEL: MANAGED_BY_VALUE}
        metadata["ownerReferences"] = references or []
        body["metadata"] = metadata
        if live is None:
            try:
                await ctx.client.create(rt, body)
            except ApiError as error:
                if not error.conflict:
                    raise
                continue  # another Shop created it meanwhile; its watch event brings us back
            await ctx.events.normal(shop, "Created", f"Created {rt.kind} {MONGODB_SHARED_NAME}", "Create")
        else:
            patch = {"metadata": {"ownerReferences": references, "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}}}
            await ctx.client.patch(rt, MONGODB_SHARED_NAME, patch, namespace_of(shop), patch_type="merge")


def _ready_replicas(report_applied: Mapping[Any, Obj]) -> int:
    live = next((obj for key, obj in report_applied.items() if key.kind == "Deployment"), None)
    status = (live or {}).get("status")
    value = status.get("readyReplicas") if isinstance(status, Mapping) else None
    return value if isinstance(value, int) else 0


async def reconcile(shop: Obj, ctx: Context) -> Result:
    settings = shop_settings(ctx.manager.config.env)
    name, namespace = name_of(shop), namespace_of(shop)
    now = now_rfc3339()
    database_kind = MONGODB if database_of(shop) == "mongodb" else CNPG_CLUSTER

    _, missing = await _served(ctx, [database_kind])
    if missing:
        message = f"CustomResourceDefinition {', '.join(missing)} is not installed; the database cannot be provisioned"
        conditions = database_failed_conditions(message, "DependencyMissing")
        await ctx.write_status(shop, shop_status(shop, settings, conditions, None, now))
        await ctx.events.warning(shop, "DependencyMissing", message)
        return Result(requeue_after=ctx.manager.config.rediscovery_interval)
    best_effort, skipped = await _served(ctx, BEST_EFFORT_KINDS)
    if skipped:
        await ctx.events.warning(
            shop, "DependencyMissing", f"CustomResourceDefinition {', '.join(skipped)} is not installed; skipped"
        )

    secrets_cache = ctx.manager.informer(SECRETS.api_version, SECRETS.kind)
    owned_secrets = ctx.owned(SECRETS.api_version, SECRETS.kind)
    connection = _data(secrets_cache.get(namespace, connection_secret_name(name)))
    inputs = ShopInputs(
        settings=settings,
        connection_data=connection,
        admin_data=_created_once(owned_secrets.get(namespace, admin_secret_name(name))),
        mongo_password_data=_created_once(owned_secrets.get(namespace, mongo_password_secret_name(name))),
        include_best_effort=frozenset(best_effort),
    )
    prune = [(rt.api_version, rt.kind) for rt in BUILTIN_CHILD_KINDS] + [database_kind, *sorted(best_effort)]
    try:
        if database_of(shop) == "mongodb":
            await ensure_shared(ctx, shop)
        report = await ctx.applier.apply(
            shop,
            await ctx.primary_resource(),
            desired_children(shop, inputs),
            prune=prune if connection is not None else (),
            owner_alive=lambda uid: bool(ctx.primary.store.index_keys(BY_UID, uid)),
        )
    except (ApplyError, ApiError) as error:
        conditions = failure_conditions(error, database_kind[1])
        await ctx.write_status(shop, shop_status(shop, settings, conditions, None, now))
        log.warning("shop apply failed", extra=fields("Shop", object_key(shop), error=str(error)))
        return Result(requeue_after=FAILURE_RETRY_SECONDS)

    if connection is None:
        await ctx.write_status(shop, shop_status(shop, settings, database_provisioning_conditions(), None, now))
        return Result(requeue_after=DATABASE_POLL_SECONDS)
    ready = _ready_replicas(report.applied)
    conditions = rollout_conditions(ready, desired_replicas(shop))
    await ctx.write_status(shop, shop_status(shop, settings, conditions, ready, now))
    return DONE


# ---- wiring ------------------------------------------------------------------------------------------------


def index_by_webhook_secret(obj: Mapping[str, Any]) -> list[str]:
    """Index Shops by `namespace/<discordWebhookSecretRef.name>`. Pure."""
    secret = webhook_secret_name(obj)
    return [make_key(namespace_of(obj), secret)] if secret else []


def secret_to_shops(shops: Informer) -> Mapper:
    """Secret -> Shops: `<x>-app` wakes Shop `<x>`; a Discord webhook Secret wakes the Shops naming it."""

    def mapper(secret: Obj) -> Iterable[str]:
        keys = set(shops.store.index_keys(BY_WEBHOOK_SECRET, object_key(secret)))
        owner = shop_for_secret(name_of(secret))
        if owner is not None:
            key = make_key(namespace_of(secret), owner)
            if shops.store.get(key) is not None:
                keys.add(key)
        return keys

    return mapper


def setup(manager: Manager) -> None:
    shops = manager.informer(*SHOP)
    shops.store.add_index(BY_WEBHOOK_SECRET, index_by_webhook_secret)
    controller = manager.add_controller("Shop", shops, reconcile, degraded_condition=True)
    controller.watch(manager.informer(SECRETS.api_version, SECRETS.kind), secret_to_shops(shops))
    to_owner = owner_mapper(shops)
    for rt in (*BUILTIN_CHILD_KINDS, *SHARED_KINDS):
        controller.watch(manager.owned(rt.api_version, rt.kind), to_owner)
    for api_version, kind in (*DATABASE_KINDS, *BEST_EFFORT_KINDS):
        controller.watch(manager.owned(api_version, kind), to_owner)
