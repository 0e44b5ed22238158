"""Shop (`apps.shophub.local/v1`): a storefront Deployment on a database its operator provisions.

The database comes first: a CloudNativePG `Cluster` (postgres) or a `MongoDBCommunity` replica set (mongodb,
with the namespace's shared `mongodb-database` ServiceAccount/Role/RoleBinding the MongoDB operator expects).
The shop cannot start without the connection Secret `<name>-app` that operator publishes, so until it exists the
Shop reports `Progressing/DatabaseProvisioning` and looks again every ten seconds. Then come the admin password
Secret, the Deployment (with a hash of both Secrets in its pod template, so a new credential rolls the pods),
Service, Ingress, a Grafana dashboard ConfigMap and, when the prometheus-operator CRDs exist, a ServiceMonitor
and an AlertmanagerConfig routing the shop's alerts to its Discord webhook.

Everything the Shop builds is computed by pure functions (`shop_builders`, `shop_dashboard`); this module only
gathers their inputs from the caches, applies, and reports. The operator-published Secret and the user's
Discord Secret carry no tenantgate label, so this controller caches Secrets unfiltered (as shop-operator's own
client did) to be woken when one appears or changes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from controller.applier import ApplyError
from controller.conditions import Condition, now_rfc3339
from controller.context import Context
from controller.finalizers import ensure_finalizer, remove_finalizer
from controller.lifecycle import shop_transitions
from controller.logs import fields
from controller.manager import Manager
from controller.reconcilers.shop_builders import (
    CNPG_CLUSTER,
    DATABASE_KINDS,
    MONGODB,
    MONGODB_SHARED_NAME,
    PASSWORD_KEY,
    SHOP,
    ShopInputs,
    admin_secret_name,
    connection_secret_name,
    database_failed_conditions,
    database_of,
    database_provisioning_conditions,
    desired_children,
    desired_replicas,
    failure_conditions,
    index_by_webhook_secret,
    mongo_password_secret_name,
    mongodb_shared_rbac,
    new_password,
    rollout_conditions,
    secret_data,
    shop_for_secret,
    shop_settings,
    shop_status,
    with_owner,
)
from controller.reconcilers.shop_dashboard import BEST_EFFORT_KINDS, dashboard
from controller.reconcilers.shop_grafana import (
    GRAFANA_FINALIZER,
    GrafanaClient,
    GrafanaError,
    GrafanaSettings,
    failed_condition,
    grafana_settings,
    retry_delay,
    seconds_failing,
    synced_condition,
)
from controller.runtime import DONE, Mapper, Result, owner_mapper
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
from kube.objects import Obj, finalizers_of, is_deleting, make_key, name_of, namespace_of, object_key
from kube.store import BY_UID
from tenancy.labels import MANAGED_BY_LABEL, MANAGED_BY_VALUE

log = logging.getLogger(__name__)

BUILTIN_CHILD_KINDS: tuple[ResourceType, ...] = (DEPLOYMENTS, SERVICES, INGRESSES, SECRETS, CONFIGMAPS)
SHARED_KINDS: tuple[ResourceType, ...] = (SERVICE_ACCOUNTS, ROLES, ROLE_BINDINGS)
DATABASE_POLL_SECONDS = 10.0
FAILURE_RETRY_SECONDS = 30.0
BY_WEBHOOK_SECRET = "spec.discordWebhookSecretRef"


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


async def sync_dashboard(ctx: Context, shop: Obj, grafana: GrafanaSettings | None) -> tuple[list[Condition], Result]:
    """Upload the Shop's dashboard into its namespace's Grafana organisation, after its children are applied.

    A failure is a condition and a retry with backoff, never an error of the reconcile: Grafana being down must
    not hold back the Shop itself."""
    if grafana is None:
        return [], DONE
    name, namespace = name_of(shop), namespace_of(shop)
    try:
        async with GrafanaClient(grafana) as client:
            await client.sync(namespace, dashboard(namespace, name))
    except GrafanaError as error:
        delay = retry_delay(seconds_failing(shop, datetime.now(UTC)))
        log.warning("grafana sync failed", extra=fields("Shop", object_key(shop), error=str(error), retry_in=delay))
        await ctx.events.warning(shop, "DashboardSyncFailed", str(error))
        return [failed_condition(error)], Result(requeue_after=delay)
    return [synced_condition()], DONE


def _sooner(first: Result, second: Result) -> Result:
    delays = [r.requeue_after for r in (first, second) if r.requeue_after is not None]
    return Result(requeue_after=min(delays)) if delays else DONE


async def finalize(ctx: Context, shop: Obj, grafana: GrafanaSettings | None) -> Result:
    """A deleted Shop's dashboard leaves Grafana before the finalizer goes (a missing org or dashboard is gone);
    while Grafana fails the finalizer stays and the deletion is retried with backoff."""
    if GRAFANA_FINALIZER not in finalizers_of(shop):
        return DONE
    if grafana is not None:
        try:
            async with GrafanaClient(grafana) as client:
                await client.delete_dashboard(namespace_of(shop), f"shop-{name_of(shop)}")
        except GrafanaError as error:
            delay = retry_delay(seconds_failing(shop, datetime.now(UTC)))
            await ctx.events.warning(shop, "DashboardDeleteFailed", str(error))
            with contextlib.suppress(ApiError):
                conditions = [failed_condition(error)]
                await ctx.write_status(
                    shop, shop_status(shop, shop_settings(ctx.manager.config.env), conditions, None, now_rfc3339())
                )
            return Result(requeue_after=delay)
    await remove_finalizer(ctx.client, await ctx.primary_resource(), shop, GRAFANA_FINALIZER, ctx.primary)
    return DONE


async def reconcile(shop: Obj, ctx: Context) -> Result:
    settings = shop_settings(ctx.manager.config.env)
    grafana = grafana_settings(ctx.manager.config.env)
    if is_deleting(shop):
        return await finalize(ctx, shop, grafana)
    if grafana is not None:
        shop = await ensure_finalizer(ctx.client, await ctx.primary_resource(), shop, GRAFANA_FINALIZER, ctx.primary)
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
        dashboard_conditions, dashboard_result = await sync_dashboard(ctx, shop, grafana)
        conditions = failure_conditions(error, database_kind[1]) + dashboard_conditions
        await ctx.write_status(shop, shop_status(shop, settings, conditions, None, now))
        log.warning("shop apply failed", extra=fields("Shop", object_key(shop), error=str(error)))
        return _sooner(Result(requeue_after=FAILURE_RETRY_SECONDS), dashboard_result)

    dashboard_conditions, dashboard_result = await sync_dashboard(ctx, shop, grafana)
    if connection is None:
        conditions = database_provisioning_conditions() + dashboard_conditions
        await ctx.write_status(shop, shop_status(shop, settings, conditions, None, now))
        return _sooner(Result(requeue_after=DATABASE_POLL_SECONDS), dashboard_result)
    ready = _ready_replicas(report.applied)
    conditions = rollout_conditions(ready, desired_replicas(shop)) + dashboard_conditions
    await ctx.write_status(shop, shop_status(shop, settings, conditions, ready, now))
    return dashboard_result


# ---- wiring ------------------------------------------------------------------------------------------------


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
    controller = manager.add_controller("Shop", shops, reconcile, degraded_condition=True, transitions=shop_transitions)
    controller.watch(manager.informer(SECRETS.api_version, SECRETS.kind), secret_to_shops(shops))
    to_owner = owner_mapper(shops)
    for rt in (*BUILTIN_CHILD_KINDS, *SHARED_KINDS):
        controller.watch(manager.owned(rt.api_version, rt.kind), to_owner)
    for api_version, kind in (*DATABASE_KINDS, *BEST_EFFORT_KINDS):
        controller.watch(manager.owned(api_version, kind), to_owner)
