"""The cluster side of certificate management: the TLS Secret and the webhook configurations' caBundle.

A thin shell: every decision is made by `certs.rotation.next_bundle` and `ca_bundle_patch`; this module only
reads, writes and orders the writes so that trust always precedes use:
- first install: the Secret is created first (a create is atomic, so concurrent replicas agree on one
  bundle), then the caBundle is injected; nothing serves the new certificate before the Secret exists.
- renewal or CA rotation: the caBundle (new CA plus the still-valid old ones) is injected first, then the
  Secret is replaced with its resourceVersion; by the time the kubelet delivers the new certificate to
  the webhook pods, the API server already trusts its CA.
- the caBundle is written only where it differs, with a JSON patch that first tests each webhook's name,
  so a concurrent edit of the configuration fails the patch instead of landing in the wrong webhook.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from certs.bundle import CertBundle, InvalidBundle
from certs.files import write_cert_dir
from certs.issue import service_dns_names
from certs.rotation import next_bundle

log = logging.getLogger("tenantgate.certs")

SECRET_TYPE: Final = "kubernetes.io/tls"
MANAGED_BY: Final = {"app.kubernetes.io/managed-by": "tenantgate"}
CONFLICT_RETRIES: Final = 5


class Conflict(Exception):
    """Someone else wrote the Secret between our read and our write."""


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def _read_json(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.data)
    return data


@dataclass(frozen=True, slots=True)
class StoredSecret:
    data: dict[str, bytes]
    resource_version: str


def read_secret(core: Any, namespace: str, name: str) -> StoredSecret | None:
    try:
        raw = _read_json(core.read_namespaced_secret(name, namespace, _preload_content=False))
    except Exception as exc:
        if _status(exc) == 404:
            return None
        raise
    data = {key: base64.b64decode(value) for key, value in (raw.get("data") or {}).items()}
    return StoredSecret(data, str((raw.get("metadata") or {}).get("resourceVersion") or ""))


def secret_body(namespace: str, name: str, bundle: CertBundle, resource_version: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": SECRET_TYPE,
        "metadata": metadata,
        "data": {key: base64.b64encode(value).decode() for key, value in bundle.secret_data().items()},
    }


def save_secret(core: Any, namespace: str, name: str, bundle: CertBundle, existing: StoredSecret | None) -> None:
    """Create or replace (optimistically, with the read resourceVersion); a lost race raises `Conflict`."""
    try:
        if existing is None:
            core.create_namespaced_secret(namespace, secret_body(namespace, name, bundle, None))
        else:
            core.replace_namespaced_secret(
                name, namespace, secret_body(namespace, name, bundle, existing.resource_version)
            )
    except Exception as exc:
        if _status(exc) == 409:
            raise Conflict(f"Secret {namespace}/{name} changed concurrently") from exc
        raise


def ca_bundle_patch(configuration: Mapping[str, Any], ca_bundle_b64: str) -> list[dict[str, Any]]:
    """JSON patch setting every webhook's `clientConfig.caBundle`; empty when all already match."""
    operations: list[dict[str, Any]] = []
    for index, webhook in enumerate(configuration.get("webhooks") or []):
        client_config = webhook.get("clientConfig")
        if isinstance(client_config, dict) and client_config.get("caBundle") == ca_bundle_b64:
            continue
        operations.append({"op": "test", "path": f"/webhooks/{index}/name", "value": webhook.get("name")})
        if isinstance(client_config, dict):
            operations.append({"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle", "value": ca_bundle_b64})
        else:
            operations.append(
                {"op": "add", "path": f"/webhooks/{index}/clientConfig", "value": {"caBundle": ca_bundle_b64}}
            )
    return operations


_CONFIG_KINDS: Final = (
    ("MutatingWebhookConfiguration", "read_mutating_webhook_configuration", "patch_mutating_webhook_configuration"),
    (
        "ValidatingWebhookConfiguration",
        "read_validating_webhook_configuration",
        "patch_validating_webhook_configuration",
    ),
)


@dataclass(frozen=True, slots=True)
class InjectionResult:
    patched: tuple[str, ...]
    unchanged: tuple[str, ...]
    missing: tuple[str, ...]


def inject_ca_bundle(admission: Any, names: Sequence[str], ca_bundle_pem: bytes) -> InjectionResult:
    """Write the caBundle into the Mutating and Validating configurations of each name, where it differs.

    A name may exist as either kind or both (kubeOP names both configurations the same); a name that
    exists as neither is reported in `missing`.
    """
    encoded = base64.b64encode(ca_bundle_pem).decode()
    patched: list[str] = []
    unchanged: list[str] = []
    missing: list[str] = []
    for name in names:
        found = False
        for kind, read, patch in _CONFIG_KINDS:
            try:
                configuration = _read_json(getattr(admission, read)(name, _preload_content=False))
            except Exception as exc:
                if _status(exc) == 404:
                    continue
                raise
            found = True
            operations = ca_bundle_patch(configuration, encoded)
            if not operations:
                unchanged.append(f"{kind}/{name}")
                continue
            getattr(admission, patch)(name, operations, _content_type="application/json-patch+json")
            patched.append(f"{kind}/{name}")
            log.info("certs.ca_bundle_injected configuration=%s/%s webhooks=%d", kind, name, len(operations) // 2)
        if not found:
            missing.append(name)
    return InjectionResult(tuple(patched), tuple(unchanged), tuple(missing))


@dataclass(frozen=True, slots=True)
class EnsureResult:
    bundle: CertBundle
    changed: bool
    reasons: tuple[str, ...]
    injection: InjectionResult


def _parse(stored: StoredSecret | None, namespace: str, name: str) -> CertBundle | None:
    if stored is None:
        return None
    try:
        return CertBundle.from_data(stored.data)
    except InvalidBundle as exc:
        log.warning("certs.secret_unusable secret=%s/%s error=%s action=reissue", namespace, name, exc)
        return None


def ensure_in_cluster(
    core: Any,
    admission: Any,
    *,
    namespace: str,
    secret: str,
    service: str,
    webhook_configurations: Sequence[str] = (),
    cert_dir: Path | None = None,
    now: datetime | None = None,
) -> EnsureResult:
    """Make the Secret hold a valid bundle for the Service and the configurations trust it."""
    names = service_dns_names(service, namespace)
    for _ in range(CONFLICT_RETRIES):
        moment = now or datetime.now(UTC)
        stored = read_secret(core, namespace, secret)
        existing = _parse(stored, namespace, secret)
        bundle, decision = next_bundle(existing, dns_names=names, now=moment)
        changed = bundle is not existing
        try:
            if not changed:
                injection = inject_ca_bundle(admission, webhook_configurations, bundle.ca_bundle_pem)
            elif stored is None:
                save_secret(core, namespace, secret, bundle, None)
                injection = inject_ca_bundle(admission, webhook_configurations, bundle.ca_bundle_pem)
            else:
                injection = inject_ca_bundle(admission, webhook_configurations, bundle.ca_bundle_pem)
                save_secret(core, namespace, secret, bundle, stored)
        except Conflict as exc:
            log.info("certs.conflict secret=%s/%s error=%s action=reread", namespace, secret, exc)
            continue
        if changed:
            log.info(
                "certs.secret_written secret=%s/%s reasons=%r",
                namespace,
                secret,
                "; ".join(decision.reasons) or "expired CAs pruned",
            )
        if cert_dir is not None:
            write_cert_dir(cert_dir, bundle)
        return EnsureResult(bundle, changed, decision.reasons, injection)
    raise Conflict(f"Secret {namespace}/{secret} kept changing; gave up after {CONFLICT_RETRIES} attempts")
