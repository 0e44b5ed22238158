"""Hostnames: inside the tenant's allowed domains, and never one another tenant already uses.

Hosts come from Ingress (`spec.rules[].host`, `spec.tls[].hosts[]`, the ingress-nginx server-alias annotation),
App, thismatters Django, DNSRecord and Certificate (`spec.host`), read by `admission.view.host_fields` for the
index and this rule alike; they compare in `tenancy.hosts.normalize_host` form (lowercase, no trailing dot, punycode).

**Allowed domains** (`Tenant.spec.allowedDomains`; absent allows any host): an entry `acme.example` allows
exactly that host; an entry `*.acme.example` allows every host below `acme.example` at any depth
(`shop.acme.example`, `eu.shop.acme.example`) but not `acme.example` itself, which needs its own entry. Any
depth, because a tenant that owns a domain owns its subtree (DNS delegates subtrees, not single labels) and
because the Tenant field is documented as "every subdomain". A wildcard host in an Ingress (`*.shop.acme.example`)
is allowed when its whole subtree is: by a wildcard entry at or above `shop.acme.example`.

**Reserved domains**: a domain one tenant is allowed is reserved for it (as Capsule's allowed hostnames). A
tenant without `spec.allowedDomains` may use any host except those within another tenant's allowed domains
(a wildcard host also may not cover another tenant's exact entry); the deny names the domain, never the tenant
that holds it. A host another tenant already uses is reported as the collision it is. A tenant with allowed
domains needs no such check: its own list already decides, and an entry it shares with another tenant is
allowed to both (only the collision rule then separates them).

**Collisions**: the view indexes every host by the objects claiming it. A host is denied when an object of another
tenant claims it or a host overlapping it. Overlap follows the Ingress wildcard rule: `*.apps.example` covers
exactly one label in place of the `*` (`shop.apps.example`, not `apps.example` nor `a.shop.apps.example`), so a
wildcard collides with every host of another tenant directly below its parent, and a host collides with another
tenant's wildcard one level up. The deny names the other tenant only to platform admins; a tenant hears "in use
by another tenant" and nothing about who. Objects outside any tenant (an admin's DNSRecord, a Django in a plain
namespace) are not restricted by allowed domains; a non-admin may not use a host a tenant claims, an admin may
(with a warning), so the platform can publish records and certificates for its tenants.

**Server aliases** (`nginx.ingress.kubernetes.io/server-alias`, comma-separated) are hosts like the Ingress's own:
indexed, within the allowed domains, never another tenant's. In tenant namespaces each must be a hostname or a
`*.` wildcard; nginx would read other forms (`~regex`, `.acme.example`, `www.acme.*`) as patterns that no index
can compare. Snippets that set `server_name` are denied by the `snippets` rule.

On UPDATE only hosts absent from `oldObject` are judged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.rules.findings import Finding, new_findings, verdict_for
from admission.rules.guard import guardrail
from admission.rules.text import list_at, q, spec_of
from admission.verdict import Verdict
from admission.view import (
    APP,
    CERTIFICATE,
    DJANGO,
    DNS_RECORD,
    INGRESS,
    ClusterView,
    HostClaim,
    host_fields,
)
from crds.kubeop import HOSTNAME_PATTERN
from tenancy.hosts import normalize_host
from tenancy.tenants import TenantRules

HOST_KINDS: Final = (INGRESS, APP, DJANGO, DNS_RECORD, CERTIFICATE)
_HOSTNAME: Final = re.compile(HOSTNAME_PATTERN)
ALIAS_FORMS: Final = (
    "is not a hostname: the ingress controller would read it as a server_name pattern (a regular expression, a "
    "leading dot or a trailing wildcard) that the hostname rules cannot compare; allowed: hostnames and *. "
    "wildcards, comma-separated, such as www.acme.example"
)


def hosts_with_paths(group: str, kind: str, obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every (field path, normalised host) of an object, from the same reader as the host index; pure.

    Raises `MalformedObject` when an Ingress list holding hosts is not a list (the index skips such an object; the
    rule answers it with a 4xx naming the field).
    """
    if (group, kind) == INGRESS:
        spec = spec_of(obj)
        list_at(spec, "rules", "spec.rules")
        for index, tls in enumerate(list_at(spec, "tls", "spec.tls")):
            if isinstance(tls, dict):
                list_at(tls, "hosts", f"spec.tls[{index}].hosts")
    return [(path, normalize_host(host)) for path, host in host_fields((group, kind), obj)]


def domain_allows(host: str, patterns: Sequence[str]) -> bool:
    """True when `host` (normalised; may be a `*.` wildcard) lies within one of `patterns`; pure."""
    wildcard = host.startswith("*.")
    base = host[2:] if wildcard else host
    for raw in patterns:
        pattern = normalize_host(raw)
        if pattern.startswith("*."):
            parent = pattern[2:]
            if base.endswith("." + parent) or (wildcard and base == parent):
                return True
        elif not wildcard and host == pattern:
            return True
    return False


def reserving_pattern(host: str, patterns: Sequence[str]) -> str | None:
    """The entry of `patterns` (another tenant's allowed domains) that reserves `host`, if any; pure.

    A host is reserved when the entry allows it (`domain_allows`), and a wildcard host also when it covers an
    exact entry one label below its parent (`*.example` covers the entry `acme.example`).
    """
    for raw in patterns:
        if domain_allows(host, (raw,)):
            return raw
        pattern = normalize_host(raw)
        if host.startswith("*.") and not pattern.startswith("*.") and pattern.partition(".")[2] == host[2:]:
            return raw
    return None


def reserved_domains(ctx: RequestContext, tenant: str | None) -> list[str]:
    """Every entry of the other tenants' `spec.allowedDomains`, sorted; O(tenants), read once per request."""
    found: set[str] = set()
    for name in ctx.view.tenant_names():
        rules = ctx.tenant_rules(name)
        if name != tenant and rules is not None and rules.allowed_domains:
            found.update(rules.allowed_domains)
    return sorted(found)


def _is_self(claim: HostClaim, request: AdmissionRequest) -> bool:
    name = request.name or str((request.subject.get("metadata") or {}).get("name") or "")
    return (
        claim.group == request.kind.group
        and claim.kind == request.kind.kind
        and claim.namespace == request.namespace
        and claim.name == name
    )


def foreign_claims(view: ClusterView, host: str, tenant: str | None, request: AdmissionRequest) -> list[HostClaim]:
    """Claims by tenants other than `tenant` on `host` or on a host overlapping it (see `view.overlapping_hosts`)."""
    return [c for c in view.host_claims(host) if c.tenant and c.tenant != tenant and not _is_self(c, request)]


def _overlap_phrase(host: str, claim: HostClaim) -> str:
    """How `host` meets the claimed host: itself, covered by a wildcard, or covering a host as one."""
    if claim.host == host:
        return ""
    if host.startswith("*."):
        return f" (it covers {q(claim.host)})"
    return f" (through wildcard {q(claim.host)})"


def _claim_phrase(claim: HostClaim) -> str:
    where = f"{claim.namespace}/{claim.name}" if claim.namespace else claim.name
    return f"tenant {q(claim.tenant)} ({claim.kind} {where})"


def _allowed_phrase(rules: TenantRules | None) -> str:
    if rules is None or rules.allowed_domains is None:
        return "a hostname no other tenant uses"
    return f"a hostname no other tenant uses within {', '.join(rules.allowed_domains) or 'no domain'}"


def _reserved(path: str, host: str, domain: str, tenant: str | None) -> Finding:
    return Finding(
        path,
        q(host),
        f"{path} {q(host)} is within {q(domain)}, which another tenant's spec.allowedDomains reserves; a domain "
        "allowed to one tenant is reserved for it; allowed: a hostname outside every other tenant's allowed "
        f"domains, or {q(domain)} in spec.allowedDomains of tenant {q(tenant)}, set by a platform admin",
        key=(host,),
    )


@guardrail("its hostnames", tenants_only=False)
def allowed_hosts(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Deny hosts outside the tenant's allowed domains or claimed by another tenant."""
    obj = request.object
    group, kind = request.kind.group, request.kind.kind
    tenancy, rules = ctx.tenancy, ctx.rules
    admin = ctx.actor.admin
    warnings: list[str] = []
    # A tenant without allowed domains may not take a host another tenant's allowed domains reserve.
    reservations: list[str] | None = None

    def collect(source: Mapping[str, Any]) -> list[Finding]:
        nonlocal reservations
        findings = []
        for path, host in hosts_with_paths(group, kind, source):
            shown = f"{path} {q(host)}"
            if path.startswith("metadata.annotations") and tenancy.is_tenant and not _HOSTNAME.match(host):
                findings.append(Finding(path, q(host), f"{shown} {ALIAS_FORMS}", key=(host,)))
                continue
            if (
                rules is not None
                and rules.allowed_domains is not None
                and not domain_allows(host, rules.allowed_domains)
            ):
                findings.append(
                    Finding(
                        path,
                        q(host),
                        f"{shown} is not within the allowed domains of tenant {q(rules.name)}; allowed: "
                        f"{', '.join(rules.allowed_domains) or 'none (spec.allowedDomains is empty)'}",
                        key=(host,),
                    )
                )
                continue
            claims = foreign_claims(ctx.view, host, tenancy.tenant, request)
            if not claims:
                if tenancy.is_tenant and (rules is None or rules.allowed_domains is None):
                    if reservations is None:
                        reservations = reserved_domains(ctx, tenancy.tenant)
                    if (domain := reserving_pattern(host, reservations)) is not None:
                        findings.append(_reserved(path, host, domain, tenancy.tenant))
                continue
            if not tenancy.is_tenant and admin:
                if source is obj:
                    overlap = _overlap_phrase(host, claims[0])
                    warnings.append(f"{path} {q(host)} is also used by {_claim_phrase(claims[0])}{overlap}")
                continue
            who = f"by {_claim_phrase(claims[0])}" if admin else "by another tenant"
            overlap = _overlap_phrase(host, claims[0])
            rule = "; a wildcard covers every name one label in its place" if overlap else ""
            findings.append(
                Finding(
                    path,
                    q(host),
                    f"{shown} is in use {who}{overlap}; a hostname belongs to one tenant only{rule}; "
                    f"allowed: {_allowed_phrase(rules)}",
                    key=(host,),
                )
            )
        return findings

    fresh, kept = new_findings(request, collect)
    return verdict_for(fresh, kept, warnings=warnings)
