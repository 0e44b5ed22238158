"""`apps.shophub.local/v1` Shop: a storefront with its own database, as served by shop-operator.

Field names, enums, defaults, printer columns and the scale subresource match shop-operator, so its manifests
and its Helm chart's Shop apply unchanged. Differences, each a fix: `spec.replicas` may not be negative, and
`spec.database` cannot change once set (switching used to leave the old database behind).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from crds.common import (
    ApiModel,
    Conditions,
    CustomResource,
    Immutable,
    Int32,
    KindInfo,
    PrinterColumn,
    ScaleSubresource,
    SchemaRequired,
    SecretReference,
    age_column,
    condition_column,
    conditions_field,
)

GROUP = "apps.shophub.local"
VERSION = "v1"

REPLICAS_BY_AVAILABILITY = {"standard": 2, "high": 3}
"""Replicas of a Shop's Deployment when `spec.replicas` is not set."""


class ShopSpec(ApiModel):
    """What a shop owner asks for."""

    title: str = Field(description="Storefront display name.")
    availability: Annotated[Literal["standard", "high"], SchemaRequired()] = Field(
        default="standard",
        description="Replica tier used when spec.replicas is not set: standard runs 2 replicas, high runs 3.",
    )
    replicas: Int32 | None = Field(
        default=None,
        ge=0,
        description="Explicit replica count of the shop Deployment; wins over availability. The scale "
        "subresource (kubectl scale, HorizontalPodAutoscaler) writes this field.",
    )
    database: Annotated[Literal["postgres", "mongodb"], SchemaRequired(), Immutable()] = Field(
        default="postgres",
        description="Database engine provisioned for the shop: postgres (a CloudNativePG Cluster) or mongodb "
        "(a MongoDBCommunity replica set). Immutable: delete and re-create the Shop to switch.",
    )
    wallet_address: str = Field(
        description="On-chain payout address, passed to the shop as WALLET_ADDRESS. Not validated; may be empty.",
    )
    discord_webhook_secret_ref: SecretReference | None = Field(
        default=None,
        description="Secret holding a Discord webhook URL under key webhook-url, used for alerts and passed "
        "as DISCORD_WEBHOOK_URL. The Shop's own namespace is always used; the namespace field is ignored. "
        "Absent means no Discord alerts.",
    )
    image: str | None = Field(
        default=None,
        description="Container image of the shop; empty or absent means the platform's default shop image.",
    )


class ShopStatus(ApiModel):
    """What the controller observed."""

    conditions: Conditions | None = conditions_field(
        "types Available, Progressing, Degraded and (with Grafana) DashboardSynced."
    )
    url: str | None = Field(default=None, description="Public URL of the storefront.")
    database_secret: str | None = Field(
        default=None,
        description="Name of the Secret with the database connection string (<name>-app).",
    )
    ready_replicas: Int32 | None = Field(
        default=None,
        description="Ready replicas of the shop Deployment; the scale subresource reports it.",
    )
    selector: str | None = Field(
        default=None,
        description="Label selector of the shop's pods (app=<name>), for the scale subresource.",
    )


class Shop(CustomResource):
    """A Shop object."""

    spec: ShopSpec = Field(description="Desired state of the shop.")
    status: ShopStatus | None = Field(default=None, description="Observed state of the shop.")


SHOP = KindInfo(
    group=GROUP,
    version=VERSION,
    kind="Shop",
    plural="shops",
    singular="shop",
    scope="Namespaced",
    short_names=("sh",),
    categories=("shophub",),
    model=Shop,
    origin="shop-operator",
    description="Shop is a storefront: a web Deployment backed by its own PostgreSQL or MongoDB database, "
    "exposed through an Ingress and monitored.",
    printer_columns=(
        PrinterColumn("TITLE", "string", ".spec.title", "Storefront display name."),
        PrinterColumn("DB", "string", ".spec.database", "Database engine."),
        PrinterColumn("AVAILABILITY", "string", ".spec.availability", "Replica tier."),
        PrinterColumn("READY", "integer", ".status.readyReplicas", "Ready replicas."),
        PrinterColumn("URL", "string", ".status.url", "Public URL."),
        age_column("AGE"),
        condition_column("AVAILABLE", "Available", priority=1),
    ),
    scale=ScaleSubresource(".spec.replicas", ".status.readyReplicas", ".status.selector"),
    builds="""\
- Database, through its operator: `database: postgres` → CloudNativePG `Cluster <name>` (1 instance, 1Gi,
  database and owner `<name>`, tables `items` and `orders` created by `postInitApplicationSQL`);
  `database: mongodb` → ServiceAccount/Role/RoleBinding `mongodb-database` (shared by the namespace's MongoDB
  shops, each Shop a non-controller owner), Secret `<name>-mongo-pw` (32 hex characters, created once) and
  `MongoDBCommunity <name>` (one member, version 6.0.5, SCRAM user `<name>` owning database `<name>`, connection
  Secret `<name>-app`). A missing operator CRD gives `Degraded=True` with reason `DependencyMissing`.
- Waits for the connection Secret `<name>-app` the operator publishes (`Progressing=True`, reason
  `DatabaseProvisioning`, checked every 10 s), then builds Secret `<name>-admin` (`password`, 32 hex characters,
  created once, never regenerated).
- Deployment `<name>`: replicas = `spec.replicas` (the scale subresource's target), else 2 (`standard`) or 3
  (`high`); pods labelled `app: <name>` with annotation `tenantgate.io/secret-hash` (a digest of `<name>-app`
  and `<name>-admin`, so new credentials roll the pods); container `shop` (image `spec.image`, else
  `DEFAULT_SHOP_IMAGE`, else `docker.io/urospetraskovic/shop-backend:main`), port `http` 8080, probes
  `/probe/liveness` and `/probe/readiness`; env in order `DATABASE_URL` (`<name>-app`, key `uri` or
  `connectionString.standard`), `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`, `WALLET_ADDRESS`,
  `SHOP_DB_NAME`, `ADMIN_PASSWORD` (`<name>-admin`), and with `discordWebhookSecretRef` the optional
  `DISCORD_WEBHOOK_URL` (key `webhook-url`).
- Service `<name>` (ClusterIP, port `http` 8080) and Ingress `<name>` for host
  `<name>.<INGRESS_BASE_DOMAIN or localhost>`.
- ConfigMap `<name>-dashboard` (label `grafana_dashboard: "1"`, annotation `grafana_folder: <namespace>`, key
  `<name>.json`: Grafana dashboard `shop-<name>` with request rate, error rate, p95 latency and replicas).
- With `GRAFANA_URL` set on the controller: the same dashboard uploaded into the Grafana organisation named after
  the namespace (created once, with Prometheus and Loki datasources), removed on deletion under finalizer
  `apps.shophub.local/grafana-tenant-dashboard`; condition `DashboardSynced`.
- Best effort, when the prometheus-operator CRDs exist (otherwise skipped with a warning Event):
  ServiceMonitor `<name>` (`/metrics` every 15s) and, with `discordWebhookSecretRef`, AlertmanagerConfig
  `<name>` routing alerts labelled `service=<name>` to the Discord webhook (removed when the reference is cleared).
- Status: `readyReplicas` (the Deployment's), `selector` (`app=<name>`), `url`
  (`http://<name>.<INGRESS_BASE_DOMAIN or localhost><INGRESS_URL_PORT>`), `databaseSecret`, conditions
  `Available`, `Progressing`, `Degraded` (`Deploying` or `Ready` once the connection Secret exists;
  `DatabaseFailed`, `ApplyFailed` or `DependencyMissing` on failure), and `DashboardSynced` with Grafana.
""",
)

KINDS = (SHOP,)
