"""Wallet (`payments.shophub.local/v1`): an owner's address checked against its network, or a generated key.

A generated private key exists in one place, Secret `<name>-key`, created once and never replaced: the Secret
is written create-only, and when the create finds one already there (a restart, a second worker, a cache that
had not seen it yet) the new key is dropped and the stored one is used. So a crash at any point makes at most
one key that ever reaches the cluster. Switching a Wallet to `ownerAddress` keeps that Secret until the user
asks for its removal with annotation DELETE_KEY_ANNOTATION: funds may sit at the generated address.

Decisions are pure functions (`owner_status`, `generated_status`, `wants_key_deleted`); `reconcile` gathers
the Secret and the master key and applies them. Nothing here logs, reports or records a private key.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from controller.applier import owner_reference
from controller.conditions import Condition, now_rfc3339, set_condition
from controller.context import Context
from controller.logs import fields
from controller.manager import Manager
from controller.reconcilers.wallet_keys import (
    ADDRESS,
    MasterKey,
    generate_key,
    master_key_from_secret_data,
    secret_data,
)
from controller.runtime import DONE, Result, owner_mapper
from crds.addresses import address_problem
from crds.shophub_payments import GROUP, VERSION
from kube.client import SECRETS, ApiError
from kube.objects import Obj, annotations_of, generation_of, is_deleting, name_of, namespace_of, object_key, uid_of
from tenancy.labels import MANAGED_BY_LABEL, MANAGED_BY_VALUE

log = logging.getLogger(__name__)

WALLET = (f"{GROUP}/{VERSION}", "Wallet")
DELETE_KEY_ANNOTATION: Final = "payments.tenantgate.io/delete-generated-key"
"""Set to "true" on a Wallet with `ownerAddress` to delete its earlier generated key Secret `<name>-key`."""
MASTER_KEY_ENV: Final = "TENANTGATE_WALLET_MASTER_KEY_SECRET"
"""`<namespace>/<name>` of the Secret whose `master-key` wraps the data keys of generated private keys."""
RETRY_SECONDS: Final = 30.0


def key_secret_name(wallet_name: str) -> str:
    return f"{wallet_name}-key"


def network_of(wallet: Mapping[str, Any]) -> str:
    spec = wallet.get("spec")
    return str(spec.get("network", "")) if isinstance(spec, Mapping) else ""


@dataclass(frozen=True)
class Outcome:
    """What the Wallet's status should say: the status fields it owns and its Ready condition."""

    address: str | None
    secret_ref: dict[str, str] | None
    ready: Condition


def wants_key_deleted(annotations: Mapping[str, str]) -> bool:
    return annotations.get(DELETE_KEY_ANNOTATION, "").strip().lower() == "true"


def owner_status(network: str, owner_address: str, key_secret_kept: bool) -> Outcome:
    """The status of a Wallet with `ownerAddress`: the address when it is valid for the network. Pure."""
    problem = address_problem(network, owner_address)
    if problem is not None:
        message = (
            f"spec.ownerAddress {owner_address!r} is not a {network} address: {problem}; "
            "give a valid address or remove ownerAddress to have a key generated"
        )
        return Outcome(None, None, Condition("Ready", "False", "InvalidOwnerAddress", message))
    message = f"Using the owner's address on {network}"
    if key_secret_kept:
        message += (
            "; the earlier generated key stays in its Secret until the Wallet is annotated "
            f'{DELETE_KEY_ANNOTATION}="true"'
        )
    return Outcome(owner_address, None, Condition("Ready", "True", "OwnerAddress", message))


def generated_status(network: str, secret_name: str, namespace: str, stored_address: str | None) -> Outcome:
    """The status of a Wallet whose key Secret holds `stored_address` (None: the Secret has none). Pure.

    A key made for one network family is never silently replaced when `spec.network` moves to the other: the
    Wallet reports the mismatch and keeps the key."""
    ref = {"name": secret_name, "namespace": namespace}
    if not stored_address:
        message = f"Secret {secret_name} has no {ADDRESS!r} key; restore it or delete the Secret to generate a new key"
        return Outcome(None, ref, Condition("Ready", "False", "KeySecretInvalid", message))
    if address_problem(network, stored_address) is not None:
        message = (
            f"the key in Secret {secret_name} is not a {network} key (address {stored_address}); "
            "set spec.network back, or use another Wallet for this network"
        )
        return Outcome(stored_address, ref, Condition("Ready", "False", "KeyNetworkMismatch", message))
    message = f"Generated key in Secret {secret_name}"
    return Outcome(stored_address, ref, Condition("Ready", "True", "KeyStored", message))


def missing_key_status(status: Mapping[str, Any] | None, secret_name: str) -> Outcome | None:
    """When the status records a key generated into `secret_name` that is now gone, the Outcome saying so; else
    None. A vanished key Secret is never silently replaced: the recorded address may hold funds, and a new key
    would change the address the shop is paid at. Pure."""
    if not isinstance(status, Mapping):
        return None
    ref = status.get("privateKeySecretRef")
    address = status.get("address")
    if not isinstance(ref, Mapping) or ref.get("name") != secret_name or not address:
        return None
    message = (
        f"Secret {secret_name} holding the key of {address} is gone; restore it from a backup, "
        "or delete and recreate the Wallet to generate a new key"
    )
    return Outcome(str(address), dict(ref), Condition("Ready", "False", "KeySecretMissing", message))


def render_status(wallet: Mapping[str, Any], outcome: Outcome, now: str) -> dict[str, Any]:
    status = wallet.get("status")
    current = status.get("conditions") if isinstance(status, Mapping) else None
    conditions = set_condition(current, outcome.ready, generation_of(wallet), now)
    return {"address": outcome.address, "privateKeySecretRef": outcome.secret_ref, "conditions": conditions}


def key_secret(wallet: Mapping[str, Any], data: Mapping[str, bytes]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": key_secret_name(name_of(wallet)),
            "namespace": namespace_of(wallet),
            "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE},
            "ownerReferences": [owner_reference(wallet)],
        },
        "data": {key: base64.b64encode(value).decode("ascii") for key, value in data.items()},
    }


def decoded(secret: Mapping[str, Any] | None) -> dict[str, bytes]:
    data = (secret or {}).get("data")
    if not isinstance(data, Mapping):
        return {}
    return {str(key): base64.b64decode(str(value)) for key, value in data.items()}


def stored_address(secret: Mapping[str, Any] | None) -> str | None:
    raw = decoded(secret).get(ADDRESS)
    return raw.decode("ascii", errors="replace") if raw else None


# ---- I/O ---------------------------------------------------------------------------------------------------


class MasterKeyUnavailable(Exception):
    pass


async def load_master_key(ctx: Context) -> MasterKey | None:
    """The configured master key, None when envelope encryption is off; MasterKeyUnavailable when configured
    but missing or malformed (no key is then generated in plain text)."""
    reference = ctx.manager.config.env.get(MASTER_KEY_ENV, "").strip()
    if not reference:
        return None
    namespace, _, name = reference.rpartition("/")
    if not namespace or not name:
        raise MasterKeyUnavailable(f"{MASTER_KEY_ENV} must be <namespace>/<name>")
    secret = await ctx.client.get(SECRETS, name, namespace)
    master = master_key_from_secret_data(decoded(secret)) if secret is not None else None
    if master is None:
        raise MasterKeyUnavailable(f"Secret {reference} has no usable 'master-key' (32 bytes or 64 hex characters)")
    return master


async def live_key_secret(ctx: Context, namespace: str, name: str) -> Obj | None:
    """The key Secret from the cache, else from the API server (a Secret made before tenantgate, unlabelled)."""
    cached = ctx.owned(SECRETS.api_version, SECRETS.kind).get(namespace, name)
    return cached if cached is not None else await ctx.client.get(SECRETS, name, namespace)


async def create_key_secret(ctx: Context, wallet: Obj, master: MasterKey | None) -> Obj:
    """Generate a key and create its Secret; if one appeared meanwhile, drop the new key and return that one."""
    namespace, name = namespace_of(wallet), key_secret_name(name_of(wallet))
    body = key_secret(wallet, secret_data(generate_key(network_of(wallet)), master, f"{namespace}/{name}"))
    try:
        created = await ctx.client.create(SECRETS, body)
    except ApiError as error:
        if not error.conflict:
            raise
        existing = await ctx.client.get(SECRETS, name, namespace)
        if existing is None:
            raise
        log.info("key secret already exists; new key discarded", extra=fields("Wallet", object_key(wallet)))
        return existing
    await ctx.events.normal(wallet, "KeyGenerated", f"Generated a key; stored in Secret {name}", "Create")
    return created


async def reconcile(wallet: Obj, ctx: Context) -> Result:
    if is_deleting(wallet):
        return DONE  # no finalizer: the key Secret goes with its owner through garbage collection
    name, namespace = name_of(wallet), namespace_of(wallet)
    spec = wallet.get("spec")
    network = network_of(wallet)
    owner_address = str(spec.get("ownerAddress") or "") if isinstance(spec, Mapping) else ""
    secret_name = key_secret_name(name)
    secret = await live_key_secret(ctx, namespace, secret_name)
    now = now_rfc3339()

    if owner_address:
        if secret is not None and wants_key_deleted(annotations_of(wallet)):
            await ctx.client.delete(SECRETS, secret_name, namespace, uid=uid_of(secret))
            await ctx.events.normal(wallet, "KeyDeleted", f"Deleted Secret {secret_name} as annotated", "Delete")
            secret = None
        outcome = owner_status(network, owner_address, key_secret_kept=secret is not None)
        await ctx.write_status(wallet, render_status(wallet, outcome, now))
        if outcome.ready.status == "False":
            await ctx.events.warning(wallet, outcome.ready.reason, outcome.ready.message)
        return DONE

    if secret is None and (lost := missing_key_status(wallet.get("status"), secret_name)) is not None:
        await ctx.write_status(wallet, render_status(wallet, lost, now))
        await ctx.events.warning(wallet, lost.ready.reason, lost.ready.message)
        return DONE
    if secret is None:
        try:
            master = await load_master_key(ctx)
        except MasterKeyUnavailable as error:
            ready = Condition("Ready", "False", "MasterKeyMissing", str(error))
            await ctx.write_status(wallet, render_status(wallet, Outcome(None, None, ready), now))
            await ctx.events.warning(wallet, "MasterKeyMissing", str(error))
            return Result(requeue_after=RETRY_SECONDS)
        secret = await create_key_secret(ctx, wallet, master)
    outcome = generated_status(network, secret_name, namespace, stored_address(secret))
    await ctx.write_status(wallet, render_status(wallet, outcome, now))
    if outcome.ready.status == "False":
        await ctx.events.warning(wallet, outcome.ready.reason, outcome.ready.message)
    return DONE


def setup(manager: Manager) -> None:
    wallets = manager.informer(*WALLET)
    controller = manager.add_controller("Wallet", wallets, reconcile)
    controller.watch(manager.owned(SECRETS.api_version, SECRETS.kind), owner_mapper(wallets))
