"""Certificate (`paas.kubeop.io/v1alpha1`, cluster-scoped): a TLS certificate for `spec.host`.

A certificate is requested only once its hostname resolves: when `spec.dnsRecordRef` names a DNSRecord, nothing
happens until that record is Ready (reason `WaitingForDNS`). A record of another tenant counts as absent, so a
Certificate cannot learn anything about other tenants' records.

With `ACME_MOCK_URL` set (kubeOP's knob), the request goes to that HTTP provider: `POST $ACME_MOCK_URL/v1/certificates`
with a JSON body (`action`, `certificate`, `tenant`, `host`, `dnsRecord`, `secretName`), withdrawn with
`action: delete` under finalizer `tenantgate.io/certificate-publication`. Otherwise, when cert-manager's CRD is
served, a `cert-manager.io/v1 Certificate` of the same name (secret `<name>-tls`, DNS name `spec.host`, issued
by the platform's ClusterIssuer `TENANTGATE_CLUSTER_ISSUER`) is applied, and cert-manager's own `Ready`
condition is reported. Which hosts a tenant may certify is the webhook's judgement, made at admission.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from controller.context import Context
from controller.lifecycle import ready_flag_transitions
from controller.manager import Manager
from controller.reconcilers import publishing
from controller.reconcilers.dnsrecord import DNS_RECORD
from controller.reconcilers.publishing import Provider, PublishedKind, Readiness
from controller.reconcilers.tenancy import (
    API_VERSION,
    index_by_tenant_label,
    spec_of,
    status_of,
    tenant_label_mapper,
)
from controller.runtime import Result, owner_mapper
from kube.client import NAMESPACES
from kube.objects import Obj, generation_of, is_deleting, name_of
from kube.store import field_index
from tenancy.hosts import normalize_host
from tenancy.labels import TENANT_LABEL

CERTIFICATE = (API_VERSION, "Certificate")
CERT_MANAGER_CERTIFICATE = ("cert-manager.io/v1", "Certificate")
CERT_MANAGER_CRD = "certificates.cert-manager.io"
KNOB = "ACME_MOCK_URL"
PROVIDER_PATH = "/v1/certificates"
FINALIZER = "tenantgate.io/certificate-publication"
BY_DNS_RECORD_REF = "spec.dnsRecordRef"
DNS_WAIT_SECONDS = 2.0
"""How often a waiting Certificate looks at its DNSRecord again, in the cache (no API call). A change by others
wakes it at once through the watch; the DNSRecord controller's own status write does not, since the cache
records our writes without raising a change."""


# ---- pure ----------------------------------------------------------------------------------------------------


def host_of(certificate: Mapping[str, Any]) -> str:
    """`spec.host` in the form admission judged it (`tenancy.hosts.normalize_host`): what is certified. Pure."""
    return normalize_host(str(spec_of(certificate).get("host") or ""))


def dns_record_ref(certificate: Mapping[str, Any]) -> str:
    return str(spec_of(certificate).get("dnsRecordRef") or "").strip()


def secret_name(certificate: Mapping[str, Any]) -> str:
    return f"{name_of(certificate)}-tls"


def provider_payload(certificate: Obj, action: str) -> dict[str, Any]:
    """The ACME provider's JSON body for `action` (`upsert` or `delete`). Pure."""
    return {
        "action": action,
        "certificate": name_of(certificate),
        "tenant": publishing.tenant_of(certificate),
        "host": host_of(certificate),
        "dnsRecord": dns_record_ref(certificate),
        "secretName": secret_name(certificate),
    }


def cert_manager_certificate(certificate: Obj, namespace: str, cluster_issuer: str) -> Obj:
    """The cert-manager Certificate for `certificate`, in `namespace`, signed by `cluster_issuer`. Pure."""
    labels = {TENANT_LABEL: tenant} if (tenant := publishing.tenant_of(certificate)) else {}
    return {
        "apiVersion": CERT_MANAGER_CERTIFICATE[0],
        "kind": CERT_MANAGER_CERTIFICATE[1],
        "metadata": {"name": name_of(certificate), "namespace": namespace, "labels": labels},
        "spec": {
            "secretName": secret_name(certificate),
            "dnsNames": [host_of(certificate)],
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": cluster_issuer},
        },
    }


def issued_readiness(child: Obj) -> Readiness:
    """Ready from cert-manager's `Ready` condition, when it speaks of the Certificate's current generation. Pure."""
    condition = publishing.condition_of(child, "Ready")
    if condition is None:
        return False, "Issuing", "Waiting for cert-manager to issue the certificate"
    observed = condition.get("observedGeneration")
    if isinstance(observed, int) and observed < generation_of(child):
        return False, "Issuing", "Waiting for cert-manager to process the updated certificate"
    message = str(condition.get("message") or "")
    if condition.get("status") == "True":
        return True, "Issued", message or "cert-manager issued the certificate"
    return False, "Issuing", message or "cert-manager has not issued the certificate yet"


def dns_problem(certificate: Obj, record: Obj | None) -> str | None:
    """Why the certificate must wait for its DNSRecord (None: it need not). Pure.

    A record of another tenant reads exactly like a missing one."""
    ref = dns_record_ref(certificate)
    if not ref:
        return None
    if record is None or publishing.tenant_of(record) != publishing.tenant_of(certificate) or is_deleting(record):
        return f'Waiting for DNSRecord "{ref}" (spec.dnsRecordRef), which does not exist'
    if status_of(record).get("ready") is not True:
        return f'Waiting for DNSRecord "{ref}" (spec.dnsRecordRef) to be ready'
    return None


def _child_message(ready: bool) -> str:
    return "issued" if ready else "issuing"


def _build(certificate: Obj, namespace: str, ctx: Context) -> Obj:
    return cert_manager_certificate(certificate, namespace, ctx.settings().cluster_issuer)


KIND = PublishedKind(
    kind="Certificate",
    knob=KNOB,
    finalizer=FINALIZER,
    child=CERT_MANAGER_CERTIFICATE,
    child_crd=CERT_MANAGER_CRD,
    ready_reason="Issued",
    provider_message="issued",
    payload=provider_payload,
    build_child=_build,
    child_readiness=issued_readiness,
    child_message=_child_message,
)


# ---- reconcile ---------------------------------------------------------------------------------------------


async def reconcile(certificate: Obj, ctx: Context, provider: Provider | None) -> Result:
    if is_deleting(certificate):
        return await publishing.finalize(certificate, ctx, KIND, provider)
    ref = dns_record_ref(certificate)
    record = ctx.informer(*DNS_RECORD).get("", ref) if ref else None
    problem = dns_problem(certificate, record)
    if problem is not None:
        await publishing.report(ctx, certificate, False, "WaitingForDNS", problem, "waiting for DNS")
        return Result(requeue_after=DNS_WAIT_SECONDS)
    return await publishing.publish(certificate, ctx, KIND, provider)


# ---- wiring ------------------------------------------------------------------------------------------------


def setup(manager: Manager) -> None:
    provider = publishing.provider_from_env(
        manager.config.env, KNOB, PROVIDER_PATH, "ACME provider", "acme", manager.metrics
    )
    certificates = manager.informer(*CERTIFICATE)
    certificates.store.add_index(BY_DNS_RECORD_REF, field_index("spec", "dnsRecordRef"))
    index_by_tenant_label(certificates)
    controller = manager.add_controller(
        "Certificate",
        certificates,
        functools.partial(reconcile, provider=provider),
        transitions=ready_flag_transitions("certificate.ready"),
    )
    controller.watch(manager.owned(*CERT_MANAGER_CERTIFICATE), owner_mapper(certificates))
    records = manager.informer(*DNS_RECORD)
    controller.watch(records, lambda record: certificates.store.index_keys(BY_DNS_RECORD_REF, name_of(record)))
    namespaces = manager.owned(NAMESPACES.api_version, NAMESPACES.kind)
    index_by_tenant_label(namespaces)
    controller.watch(namespaces, tenant_label_mapper(certificates))
