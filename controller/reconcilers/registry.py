"""Registry: a pull secret in every namespace of its tenant, attached to each namespace's `default` ServiceAccount.

The Registry API (kubeOP's) has no tenant field, so a Registry names its tenant with the `app.kubeop.io/tenant`
label (or `spec.tenantRef`, should the API gain one); a Registry without a tenant distributes nothing and reads
nothing, so no credentials ever reach a namespace by accident. `spec.passwordRef` is
`<namespace>/<name>[#<key>]`: a Secret in `<namespace>` whose key `<key>` (default `password`) holds the password.

The controller reads Secrets with its own privileges, so it reads one only where the Registry's tenant could read
it itself: `<namespace>` must be one of the tenant's namespaces (labelled `app.kubeop.io/tenant` for it), whatever
the Registry says and whoever wrote it. A bare name (no namespace), or a namespace outside the tenant, sets
`Ready=False` with reason `PasswordRefOutsideTenant` before any read, so the status never tells whether such a
Secret exists, and the pull secrets already distributed are removed. The password is read when needed and never
logged; it reaches the cluster only inside the pull secrets.

ServiceAccounts are shared with other writers (the ServiceAccount controller, users, other platforms), and
`imagePullSecrets` is an atomic list, so it is never applied as a whole: one entry is added or removed with a JSON
patch guarded by a `test` operation, and entries of others are never touched.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from controller.conditions import Condition, now_rfc3339, set_condition
from controller.context import Context, ManagerView
from controller.finalizers import ensure_finalizer, remove_finalizer
from controller.logs import fields
from controller.manager import Manager
from controller.reconcilers.tenancy import (
    BY_TENANT_LABEL,
    REGISTRY,
    TENANT_LABEL,
    index_by_tenant_label,
    registry_tenant,
    schema_status,
    spec_of,
    status_of,
)
from controller.runtime import DONE, Result, owner_mapper
from kube.client import NAMESPACES, SECRETS, SERVICE_ACCOUNTS
from kube.informer import Informer
from kube.objects import (
    Obj,
    generation_of,
    is_deleting,
    labels_of,
    name_of,
    namespace_of,
    object_key,
    resource_version_of,
)
from tenancy.registries import parse_password_ref

log = logging.getLogger(__name__)

FINALIZER = "tenantgate.io/registry-pull-secrets"
BY_REGISTRY_TENANT = "registry-tenant"
PASSWORD_RECHECK_SECONDS = 300.0
SECRET_MISSING_RETRY_SECONDS = 30.0


# ---- pure ----------------------------------------------------------------------------------------------------


def pull_secret_name(registry_name: str) -> str:
    return f"kubeop-registry-{registry_name}"[:253]


def password_ref_problem(ref_text: str, tenant: str, tenant_namespaces: Collection[str]) -> str | None:
    """Why the controller will not read `ref_text` for a Registry of `tenant` (None: it may). Pure.

    The message is the same whether or not such a Secret exists: nothing is read to write it.
    """
    ref = parse_password_ref(ref_text)
    if ref.namespace is None:
        return (
            f'spec.passwordRef "{ref_text}" names no namespace; write <namespace>/{ref.name or "<name>"} with a '
            f'namespace of tenant "{tenant}"'
        )
    if ref.namespace not in tenant_namespaces:
        return (
            f'spec.passwordRef "{ref_text}": namespace "{ref.namespace}" is not a namespace of tenant "{tenant}", '
            "so its Secrets are not read; allowed: a Secret in one of the tenant's namespaces"
        )
    return None


def docker_config_json(host: str, username: str, password: str) -> str:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    document = {"auths": {host: {"username": username, "password": password, "auth": auth}}}
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def desired_pull_secrets(registry: Mapping[str, Any], namespaces: Iterable[str], password: str) -> list[Obj]:
    """One `kubernetes.io/dockerconfigjson` Secret per namespace. Pure."""
    spec = spec_of(registry)
    payload = base64.b64encode(
        docker_config_json(str(spec.get("host", "")), str(spec.get("username", "")), password).encode()
    ).decode()
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": pull_secret_name(name_of(registry)), "namespace": namespace},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": payload},
        }
        for namespace in sorted(set(namespaces))
    ]


def _pull_secrets(service_account: Mapping[str, Any]) -> list[Any]:
    value = service_account.get("imagePullSecrets")
    return value if isinstance(value, list) else []


def attach_patch(service_account: Mapping[str, Any], secret: str) -> list[dict[str, Any]] | None:
    """JSON patch adding `{name: secret}` to `imagePullSecrets`, or None when it is there. Pure."""
    entries = _pull_secrets(service_account)
    if any(isinstance(e, Mapping) and e.get("name") == secret for e in entries):
        return None
    if "imagePullSecrets" not in service_account or service_account.get("imagePullSecrets") is None:
        return [
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version_of(service_account)},
            {"op": "add", "path": "/imagePullSecrets", "value": [{"name": secret}]},
        ]
    return [{"op": "add", "path": "/imagePullSecrets/-", "value": {"name": secret}}]


def detach_patch(service_account: Mapping[str, Any], secret: str) -> list[dict[str, Any]] | None:
    """JSON patch removing our entries (each guarded by a `test` of its name), or None. Pure."""
    entries = _pull_secrets(service_account)
    indexes = [i for i, e in enumerate(entries) if isinstance(e, Mapping) and e.get("name") == secret]
    if not indexes:
        return None
    patch: list[dict[str, Any]] = []
    for index in reversed(indexes):  # from the end, so earlier indexes stay valid
        patch.append({"op": "test", "path": f"/imagePullSecrets/{index}/name", "value": secret})
        patch.append({"op": "remove", "path": f"/imagePullSecrets/{index}"})
    return patch


def registry_status(registry: Mapping[str, Any], ready: bool, reason: str, message: str, now: str) -> dict[str, Any]:
    condition = Condition("Ready", "True" if ready else "False", reason, message)
    conditions = set_condition(status_of(registry).get("conditions"), condition, generation_of(registry), now)
    return schema_status(REGISTRY[0], REGISTRY[1], {"conditions": conditions})


def tenant_namespaces(namespaces: Sequence[Mapping[str, Any]]) -> list[str]:
    return sorted(name_of(ns) for ns in namespaces if not is_deleting(ns))


# ---- reconcile ---------------------------------------------------------------------------------------------


async def _read_password(ctx: Context, ref_text: str) -> str | None:
    """The password behind `ref_text`; callers check `password_ref_problem` first (never read outside the tenant)."""
    ref = parse_password_ref(ref_text)
    if not ref.name or ref.namespace is None:
        return None
    secret = await ctx.client.get(SECRETS, ref.name, ref.namespace)
    data = (secret or {}).get("data") or {}
    encoded = data.get(ref.key)
    if not isinstance(encoded, str):
        return None
    try:
        return base64.b64decode(encoded).decode()
    except (ValueError, UnicodeDecodeError):
        return None


DEFAULT_ACCOUNT = "metadata.name=default"


def default_accounts(manager: ManagerView) -> Informer:
    """The cache of every namespace's `default` ServiceAccount (and of nothing else), shared by key."""
    return manager.informer(SERVICE_ACCOUNTS.api_version, SERVICE_ACCOUNTS.kind, field_selector=DEFAULT_ACCOUNT)


async def _sync_service_accounts(ctx: Context, registry: Obj, wanted: set[str]) -> int:
    """Attach our pull secret to `default` in `wanted` namespaces, detach it everywhere else; returns writes."""
    secret = pull_secret_name(name_of(registry))
    accounts = default_accounts(ctx.manager)
    writes = 0
    for account in accounts.store.objects():
        namespace = namespace_of(account)
        if namespace in wanted:
            patch, verb = attach_patch(account, secret), "Attached"
        else:
            patch, verb = detach_patch(account, secret), "Detached"
        if patch is None:
            continue
        result = await ctx.client.patch(SERVICE_ACCOUNTS, name_of(account), patch, namespace, patch_type="json")
        accounts.write_through(result)
        writes += 1
        preposition = "to" if verb == "Attached" else "from"
        await ctx.events.normal(
            registry, "Updated", f"{verb} pull secret {secret} {preposition} ServiceAccount {namespace}/default"
        )
    return writes


async def reconcile(registry: Obj, ctx: Context) -> Result:
    registries, rt = ctx.primary, await ctx.primary_resource()
    if is_deleting(registry):
        await _sync_service_accounts(ctx, registry, set())
        await ctx.applier.apply(registry, rt, [], prune=[(SECRETS.api_version, SECRETS.kind)])
        await remove_finalizer(ctx.client, rt, registry, FINALIZER, registries)
        return DONE
    registry = await ensure_finalizer(ctx.client, rt, registry, FINALIZER, registries)
    now = now_rfc3339()
    tenant = registry_tenant(registry)
    namespaces_informer = ctx.owned(NAMESPACES.api_version, NAMESPACES.kind)
    namespaces = tenant_namespaces(namespaces_informer.store.by_index(BY_TENANT_LABEL, tenant)) if tenant else []
    username = str(spec_of(registry).get("username") or "")
    password = ""
    if username and tenant:
        ref = str(spec_of(registry).get("passwordRef") or "")
        problem = password_ref_problem(ref, tenant, namespaces)
        if problem is not None:  # nothing is read; what was distributed from such a reference is taken back
            await ctx.applier.apply(registry, rt, [], prune=[(SECRETS.api_version, SECRETS.kind)])
            await _sync_service_accounts(ctx, registry, set())
            status = registry_status(registry, False, "PasswordRefOutsideTenant", problem, now)
            await ctx.write_status(registry, status)
            return Result(requeue_after=SECRET_MISSING_RETRY_SECONDS)
        found = await _read_password(ctx, ref)
        if found is None:
            message = f'spec.passwordRef "{ref}" does not name a Secret key holding the password'
            await ctx.write_status(registry, registry_status(registry, False, "SecretMissing", message, now))
            return Result(requeue_after=SECRET_MISSING_RETRY_SECONDS)
        password = found
    desired = desired_pull_secrets(registry, namespaces, password) if username and tenant else []
    await ctx.applier.apply(registry, rt, desired, prune=[(SECRETS.api_version, SECRETS.kind)])
    await _sync_service_accounts(ctx, registry, set(namespaces) if desired else set())
    if not username:
        reason, message = "Anonymous", "No credentials: the registry needs no pull secret"
    elif not tenant:
        reason, message = "NoTenant", f"Label the Registry {TENANT_LABEL}=<tenant> to distribute its pull secret"
    else:
        reason, message = "Distributed", f"Pull secret in {len(namespaces)} namespace(s) of tenant {tenant}"
    await ctx.write_status(registry, registry_status(registry, True, reason, message, now))
    log.debug("registry reconciled", extra=fields("Registry", object_key(registry), namespaces=len(namespaces)))
    return Result(requeue_after=PASSWORD_RECHECK_SECONDS) if username else DONE


# ---- wiring ------------------------------------------------------------------------------------------------


def setup(manager: Manager) -> None:
    registries = manager.informer(*REGISTRY)
    registries.store.add_index(BY_REGISTRY_TENANT, lambda r: [t] if (t := registry_tenant(r)) else [])
    controller = manager.add_controller("Registry", registries, reconcile)
    namespaces = manager.owned(NAMESPACES.api_version, NAMESPACES.kind)
    index_by_tenant_label(namespaces)

    def by_namespace_tenant(namespace_name: str) -> list[str]:
        namespace = namespaces.get("", namespace_name)
        tenant = labels_of(namespace).get(TENANT_LABEL) if namespace else None
        return registries.store.index_keys(BY_REGISTRY_TENANT, tenant) if tenant else []

    controller.watch(namespaces, lambda ns: by_namespace_tenant(name_of(ns)))
    accounts = default_accounts(manager)

    def account_to_registries(account: Obj) -> set[str]:
        keys = set(by_namespace_tenant(namespace_of(account)))
        listed = {e.get("name") for e in _pull_secrets(account) if isinstance(e, Mapping)}
        keys.update(k for k in registries.store.all_keys() if pull_secret_name(k) in listed)
        return keys

    controller.watch(accounts, account_to_registries)
    controller.watch(manager.owned(SECRETS.api_version, SECRETS.kind), owner_mapper(registries))
