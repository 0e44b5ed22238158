"""What a Shop builds and reports, as pure functions of the Shop and a `ShopInputs`.

The reconcile (`shop`) gathers the inputs from the caches, applies what these functions return and writes the
status they compute; the monitoring children come from `shop_dashboard`. Names, environment and defaults follow
shop-operator's, so a Shop written for it gets the same children here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.applier import ApplyError
from controller.conditions import Condition, set_conditions
from controller.reconcilers.shop_dashboard import BEST_EFFORT_KINDS, WEBHOOK_KEY, monitoring_children
from crds.shophub_apps import GROUP, REPLICAS_BY_AVAILABILITY, VERSION
from kube.objects import Obj, generation_of, make_key, name_of, namespace_of, owner_references_of, uid_of

SHOP = (f"{GROUP}/{VERSION}", "Shop")
CNPG_CLUSTER = ("postgresql.cnpg.io/v1", "Cluster")
MONGODB = ("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity")
DATABASE_KINDS = (CNPG_CLUSTER, MONGODB)

DEFAULT_IMAGE = "docker.io/urospetraskovic/shop-backend:main"
OTLP_ENDPOINT = "http://tempo.monitoring.svc.cluster.local:4318"
HTTP_PORT = 8080
MONGODB_VERSION = "6.0.5"
MONGODB_SHARED_NAME = "mongodb-database"
SECRET_HASH_ANNOTATION = "tenantgate.io/secret-hash"
PASSWORD_KEY = "password"

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


def index_by_webhook_secret(obj: Mapping[str, Any]) -> list[str]:
    """Index Shops by `namespace/<discordWebhookSecretRef.name>`. Pure."""
    secret = webhook_secret_name(obj)
    return [make_key(namespace_of(obj), secret)] if secret else []


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


def with_owner(live: Mapping[str, Any] | None, shop: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The ownerReferences `live` should have to include `shop` (non-controller), or None if it already does."""
    references = [dict(ref) for ref in owner_references_of(live or {})]
    if any(ref.get("uid") == uid_of(shop) for ref in references):
        return None
    references.append(
        {"apiVersion": shop.get("apiVersion", SHOP[0]), "kind": "Shop", "name": name_of(shop), "uid": uid_of(shop)}
    )
    return references


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

    The shared `mongodb-database` RBAC is not listed: several Shops own it together (see `shop.ensure_shared`).
    """
    children = database_children(shop, inputs)
    if inputs.connection_data is None:
        return children
    children += [
        admin_secret(shop, inputs.admin_data),
        deployment(shop, inputs),
        service(shop),
        ingress(shop, inputs.settings),
        *monitoring_children(shop, webhook_secret_name(shop), inputs.include_best_effort),
    ]
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
    current = shop.get("status")
    conditions = current.get("conditions") if isinstance(current, Mapping) else None
    status: dict[str, Any] = {
        "conditions": set_conditions(conditions, updates, generation_of(shop), now),
        "url": shop_url(name, settings),
        "databaseSecret": connection_secret_name(name),
        "selector": f"app={name}",
    }
    if ready_replicas is not None:
        status["readyReplicas"] = ready_replicas
    return status
