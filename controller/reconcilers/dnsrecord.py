"""DNSRecord (`paas.kubeop.io/v1alpha1`, cluster-scoped): a hostname published by an outside DNS service.

With `DNS_MOCK_URL` set (kubeOP's knob), the record goes to that HTTP provider: `POST $DNS_MOCK_URL/v1/dnsrecords`
with a JSON body (`action`, `record`, `tenant`, `host`, `target`, `type`, `ttl`); withdrawn with `action: delete`
under finalizer `tenantgate.io/dns-publication`. Otherwise, when external-dns's CRD is served, an external-dns
`DNSEndpoint` of the same name carries it (A for an IPv4 target, AAAA for IPv6, CNAME for a hostname).

external-dns writes no status on a DNSEndpoint unless it reports progress in `status.observedGeneration`: when
that field is there, the record is Ready once it has caught up with the DNSEndpoint's generation; when it is not,
the record is Ready as soon as the DNSEndpoint exists (reason `Published`, and the message says that nothing
reported on it). The host (and a hostname target) leaves in the canonical form admission judged it in: lower
case, no trailing dot, punycode (`tenancy.hosts.normalize_host`). See `controller.reconcilers.publishing` for
what both kinds share.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from typing import Any

from controller.context import Context
from controller.lifecycle import ready_flag_transitions
from controller.manager import Manager
from controller.reconcilers import publishing
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
from tenancy.hosts import normalize_host
from tenancy.labels import TENANT_LABEL

DNS_RECORD = (API_VERSION, "DNSRecord")
DNS_ENDPOINT = ("externaldns.k8s.io/v1alpha1", "DNSEndpoint")
DNS_ENDPOINT_CRD = "dnsendpoints.externaldns.k8s.io"
KNOB = "DNS_MOCK_URL"
PROVIDER_PATH = "/v1/dnsrecords"
FINALIZER = "tenantgate.io/dns-publication"
TTL_SECONDS = 300


# ---- pure ----------------------------------------------------------------------------------------------------


def record_type(target: str) -> str:
    """A for an IPv4 address, AAAA for an IPv6 address, CNAME for anything else (a hostname)."""
    try:
        address = ipaddress.ip_address(target.strip())
    except ValueError:
        return "CNAME"
    return "AAAA" if address.version == 6 else "A"


def host_and_target(record: Mapping[str, Any]) -> tuple[str, str]:
    """The record's host and target in the form admission judged them (`tenancy.hosts.normalize_host`); a target
    that is an IP address stays as written. Pure."""
    spec = spec_of(record)
    target = str(spec.get("target") or "").strip()
    if record_type(target) == "CNAME":
        target = normalize_host(target)
    return normalize_host(str(spec.get("host") or "")), target


def provider_payload(record: Obj, action: str) -> dict[str, Any]:
    """The DNS provider's JSON body for `action` (`upsert` or `delete`). Pure."""
    host, target = host_and_target(record)
    return {
        "action": action,
        "record": name_of(record),
        "tenant": publishing.tenant_of(record),
        "host": host,
        "target": target,
        "type": record_type(target),
        "ttl": TTL_SECONDS,
    }


def dns_endpoint(record: Obj, namespace: str) -> Obj:
    """The external-dns DNSEndpoint publishing `record` from `namespace`. Pure."""
    host, target = host_and_target(record)
    labels = {TENANT_LABEL: tenant} if (tenant := publishing.tenant_of(record)) else {}
    return {
        "apiVersion": DNS_ENDPOINT[0],
        "kind": DNS_ENDPOINT[1],
        "metadata": {"name": name_of(record), "namespace": namespace, "labels": labels},
        "spec": {
            "endpoints": [
                {"dnsName": host, "recordType": record_type(target), "recordTTL": TTL_SECONDS, "targets": [target]}
            ]
        },
    }


def endpoint_readiness(endpoint: Obj) -> Readiness:
    """Ready from a DNSEndpoint: external-dns's `status.observedGeneration` when it reports one. Pure."""
    observed = status_of(endpoint).get("observedGeneration")
    generation = generation_of(endpoint)
    if isinstance(observed, int) and not isinstance(observed, bool):
        if observed >= generation:
            return True, "Published", f"external-dns processed DNSEndpoint {name_of(endpoint)} (generation {observed})"
        return False, "Publishing", f"Waiting for external-dns to process generation {generation} of the DNSEndpoint"
    return True, "Published", f"DNSEndpoint {name_of(endpoint)} created; external-dns reports no status on it"


def _child_message(ready: bool) -> str:
    return "published" if ready else "publishing"


def _build(record: Obj, namespace: str, _ctx: Context) -> Obj:
    return dns_endpoint(record, namespace)


KIND = PublishedKind(
    kind="DNSRecord",
    knob=KNOB,
    finalizer=FINALIZER,
    child=DNS_ENDPOINT,
    child_crd=DNS_ENDPOINT_CRD,
    ready_reason="Published",
    provider_message="mocked",
    payload=provider_payload,
    build_child=_build,
    child_readiness=endpoint_readiness,
    child_message=_child_message,
)


# ---- reconcile ---------------------------------------------------------------------------------------------


async def reconcile(record: Obj, ctx: Context, provider: Provider | None) -> Result:
    if is_deleting(record):
        return await publishing.finalize(record, ctx, KIND, provider)
    return await publishing.publish(record, ctx, KIND, provider)


# ---- wiring ------------------------------------------------------------------------------------------------


def setup(manager: Manager) -> None:
    provider = publishing.provider_from_env(
        manager.config.env, KNOB, PROVIDER_PATH, "DNS provider", "dns", manager.metrics
    )
    records = manager.informer(*DNS_RECORD)
    index_by_tenant_label(records)
    controller = manager.add_controller(
        "DNSRecord",
        records,
        functools.partial(reconcile, provider=provider),
        transitions=ready_flag_transitions("dns.ready"),
    )
    controller.watch(manager.owned(*DNS_ENDPOINT), owner_mapper(records))
    namespaces = manager.owned(NAMESPACES.api_version, NAMESPACES.kind)
    index_by_tenant_label(namespaces)
    controller.watch(namespaces, tenant_label_mapper(records))
