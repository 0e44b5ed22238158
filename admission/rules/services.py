"""Services stay inside the cluster network unless the Tenant says otherwise.

Three Service fields reach past a tenant's namespaces, so a tenant gets them only through its Tenant's
`spec.serviceOptions`, which only platform admins change (Capsule's per-tenant service options):

- `spec.type: NodePort` opens a port on every node of the cluster (`allowNodePort`);
- `spec.type: LoadBalancer` asks the cloud for an external address, and usually node ports too
  (`allowLoadBalancer`);
- `spec.externalIPs`: the cluster routes traffic for those addresses to the Service, from every pod and node,
  so a tenant could intercept another's traffic to any address (CVE-2020-8554); each one must lie in one of the
  tenant's `allowExternalIPs` CIDRs.

Like the other "what" rules it applies to everyone in a tenant's namespaces but tenantgate itself (an admin who
needs an exception changes the Tenant), and on UPDATE only what is new is judged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, Final

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.rules.findings import Finding, new_findings, verdict_for
from admission.rules.guard import guardrail
from admission.rules.text import q, spec_of
from admission.verdict import Verdict
from tenancy.tenants import TenantRules

SERVICE_KINDS: Final = (("", "Service"),)
_TYPE_OPTIONS: Final = {"NodePort": "allowNodePort", "LoadBalancer": "allowLoadBalancer"}
_TYPE_REACH: Final = {
    "NodePort": "opens a port on every node of the cluster",
    "LoadBalancer": "asks for an address outside the cluster",
}


def _type_allowed(rules: TenantRules | None, service_type: str) -> bool:
    if rules is None:
        return False
    return rules.allow_node_port if service_type == "NodePort" else rules.allow_load_balancer


def _in_allowed(rules: TenantRules | None, address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return rules is not None and any(ip.version == net.version and ip in net for net in rules.allow_external_ips)


def service_findings(tenant: str, rules: TenantRules | None, obj: Mapping[str, Any]) -> list[Finding]:
    """Every field of Service `obj` that reaches past the cluster network and tenant `tenant` does not allow."""
    spec = spec_of(obj)
    ask = f"or ask a platform admin to set Tenant {q(tenant)} spec.serviceOptions"
    found: list[Finding] = []
    service_type = spec.get("type")
    if isinstance(service_type, str) and service_type in _TYPE_OPTIONS and not _type_allowed(rules, service_type):
        found.append(
            Finding(
                "spec.type",
                q(service_type),
                f"spec.type {q(service_type)}: a {service_type} Service {_TYPE_REACH[service_type]}, and tenant "
                f"{q(tenant)} does not allow it (spec.serviceOptions.{_TYPE_OPTIONS[service_type]}); allowed: "
                f"ClusterIP (publish through an Ingress), {ask}.{_TYPE_OPTIONS[service_type]}",
            )
        )
    external = spec.get("externalIPs")
    allowed_cidrs = ", ".join(str(net) for net in rules.allow_external_ips) if rules is not None else ""
    for index, address in enumerate(external if isinstance(external, list) else []):
        if isinstance(address, str) and _in_allowed(rules, address):
            continue
        instead = f"an address in {allowed_cidrs}" if allowed_cidrs else "no external IPs"
        found.append(
            Finding(
                f"spec.externalIPs[{index}]",
                q(address),
                f"spec.externalIPs[{index}] {q(address)}: an external IP captures the traffic to that address from "
                f"the whole cluster (CVE-2020-8554), and tenant {q(tenant)} does not allow it "
                f"(spec.serviceOptions.allowExternalIPs); allowed: {instead}, {ask}.allowExternalIPs",
                key=("spec.externalIPs", q(address)),
            )
        )
    return found


@guardrail("its Service type and external IPs")
def service_exposure(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Deny NodePort, LoadBalancer and external IPs the tenant's `spec.serviceOptions` do not allow."""
    tenant = ctx.tenancy.tenant or ""
    rules = ctx.rules
    fresh, kept = new_findings(request, lambda obj: service_findings(tenant, rules, obj))
    return verdict_for(fresh, kept)
