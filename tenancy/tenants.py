"""A Tenant's rules and who acts on them: the tenancy facts every guardrail and reconciler reads.

- **the actor**: a requester's username and groups, and whether it is tenantgate itself or a platform admin
  (groups and users from the global policy, by default `system:masters`). Owners of a tenant are the `User`,
  `Group` and `ServiceAccount` entries of its `spec.owners`; service accounts that live in a tenant's own
  namespaces count as members of that tenant (CI inside a project can deploy there) but not as owners.
- **the tenant's rules**: the Tenant's guardrail fields parsed once into `TenantRules`, so the hot path reads
  attributes, not nested dicts. Malformed fields read as absent: the schema rejects them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from kube.imageref import normalize_registry_entry
from tenancy.policy import GlobalPolicy, IPNetwork, parse_network


def _quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


POD_SECURITY_ANNOTATION: Final = "tenantgate.io/pod-security"
"""Tenant annotation choosing the pod security level (`baseline` or `restricted`) while the Tenant has no field."""
INGRESS_SNIPPETS_ANNOTATION: Final = "tenantgate.io/ingress-snippets"
"""Tenant annotation: `allowed` lets the tenant's Ingresses carry snippet annotations (none may set server_name)."""


BASELINE: Final = "baseline"
RESTRICTED: Final = "restricted"
SERVICE_ACCOUNT_PREFIX: Final = "system:serviceaccount:"


@dataclass(frozen=True, slots=True)
class Actor:
    username: str
    groups: frozenset[str]
    admin: bool
    tenantgate: bool

    def describe(self) -> str:
        return f"user {_quoted(self.username)}"


def actor_for(username: str, groups: frozenset[str], policy: GlobalPolicy) -> Actor:
    """Who `username` in `groups` is under `policy`: tenantgate itself, a platform admin, or neither."""
    tenantgate = username == policy.tenantgate_user
    admin = tenantgate or username in policy.admin_users or not groups.isdisjoint(policy.admin_groups)
    return Actor(username, groups, admin, tenantgate)


def service_account_namespace(username: str) -> str | None:
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    namespace, sep, _ = username[len(SERVICE_ACCOUNT_PREFIX) :].partition(":")
    return namespace if sep else None


@dataclass(frozen=True, slots=True)
class TenantRules:
    """The guardrail fields of one Tenant, parsed once (see the module docstring)."""

    name: str
    owner_users: frozenset[str]
    owner_groups: frozenset[str]
    owner_service_accounts: frozenset[str]
    registries_exact: tuple[str, ...]
    registries_regex: str | None
    registries_restricted: bool
    """True when `spec.allowedRegistries` is set: the tenant narrows the global allowlist."""
    allowed_domains: tuple[str, ...] | None
    quota_hard: Mapping[str, Any]
    project_default_hard: Mapping[str, Any] | None
    max_projects: int | None
    cordoned: bool
    pod_security: str
    allow_node_port: bool = False
    allow_load_balancer: bool = False
    allow_external_ips: tuple[IPNetwork, ...] = ()
    """`spec.serviceOptions`: what a tenant's Services may reach beyond the cluster network (default: nothing)."""
    ingress_snippets: bool = False
    """True when a platform admin annotated the Tenant `tenantgate.io/ingress-snippets: allowed`."""

    def owned_by(self, actor: Actor) -> bool:
        return (
            actor.username in self.owner_users
            or actor.username in self.owner_service_accounts
            or not actor.groups.isdisjoint(self.owner_groups)
        )

    def owners_phrase(self) -> str:
        return f"the owners in Tenant {_quoted(self.name)} spec.owners"


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str) and item.strip())


@dataclass(frozen=True, slots=True)
class Owner:
    """One entry of a Tenant's `spec.owners`: a User, a Group, or a ServiceAccount by its full username."""

    kind: Literal["User", "Group", "ServiceAccount"]
    name: str


def service_account_username(name: str) -> str | None:
    """`system:serviceaccount:<ns>:<name>` for either that form or the short `<ns>:<name>`; None when neither."""
    short = name.removeprefix(SERVICE_ACCOUNT_PREFIX)
    namespace, sep, account = short.partition(":")
    if not sep or not namespace or not account or ":" in account:
        return None
    return SERVICE_ACCOUNT_PREFIX + short


def tenant_owners(tenant: Mapping[str, Any] | None) -> list[Owner]:
    """The owners of a Tenant in `spec.owners` order, deduplicated; malformed entries are skipped.

    Admission decides who may write with these, and the controller binds the same owners to the tenant-admin role,
    so a tenant's owners are the same people in both places.
    """
    found: list[Owner] = []
    for entry in _mapping(_mapping(tenant).get("spec")).get("owners") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            continue
        kind, name = entry.get("kind"), entry["name"]
        owner: Owner | None = None
        if kind == "User":
            owner = Owner("User", name)
        elif kind == "Group":
            owner = Owner("Group", name)
        elif kind == "ServiceAccount" and (username := service_account_username(name)) is not None:
            owner = Owner("ServiceAccount", username)
        if owner is not None and owner not in found:
            found.append(owner)
    return found


def _networks(value: object) -> tuple[IPNetwork, ...]:
    """CIDRs (or single addresses) as networks; entries that do not parse are skipped (they allow nothing)."""
    parsed = (parse_network(entry) for entry in _strings(value))
    return tuple(dict.fromkeys(network for network in parsed if network is not None))


def parse_tenant(tenant: Mapping[str, Any]) -> TenantRules:
    """Pure: a raw Tenant into `TenantRules` (malformed fields read as absent; the schema rejects them)."""
    metadata = _mapping(tenant.get("metadata"))
    spec = _mapping(tenant.get("spec"))
    owners = tenant_owners(tenant)
    users = {owner.name for owner in owners if owner.kind == "User"}
    groups = {owner.name for owner in owners if owner.kind == "Group"}
    accounts = {owner.name for owner in owners if owner.kind == "ServiceAccount"}
    registries = _mapping(spec.get("allowedRegistries"))
    restricted = isinstance(spec.get("allowedRegistries"), dict)
    exact = tuple(normalize_registry_entry(e) for e in _strings(registries.get("exact")))
    regex = registries.get("regex")
    domains = spec.get("allowedDomains")
    quota = _mapping(spec.get("quota"))
    hard = _mapping(quota.get("hard"))
    default_hard = (
        quota.get("projectDefaults", {}).get("hard") if isinstance(quota.get("projectDefaults"), dict) else None
    )
    max_projects = spec.get("maxProjects")
    services = _mapping(spec.get("serviceOptions"))
    annotations = _mapping(metadata.get("annotations"))
    level = spec.get("podSecurity")
    if not isinstance(level, str):
        level = annotations.get(POD_SECURITY_ANNOTATION)
    snippets = annotations.get(INGRESS_SNIPPETS_ANNOTATION)
    return TenantRules(
        name=str(metadata.get("name") or ""),
        owner_users=frozenset(users),
        owner_groups=frozenset(groups),
        owner_service_accounts=frozenset(accounts),
        registries_exact=tuple(dict.fromkeys(exact)),
        registries_regex=regex if isinstance(regex, str) and regex else None,
        registries_restricted=restricted,
        allowed_domains=_strings(domains) if isinstance(domains, list) else None,
        quota_hard=hard,
        project_default_hard=default_hard if isinstance(default_hard, dict) else None,
        max_projects=max_projects if isinstance(max_projects, int) and not isinstance(max_projects, bool) else None,
        cordoned=spec.get("cordoned") is True,
        pod_security=RESTRICTED if isinstance(level, str) and level.strip().lower() == RESTRICTED else BASELINE,
        allow_node_port=services.get("allowNodePort") is True,
        allow_load_balancer=services.get("allowLoadBalancer") is True,
        allow_external_ips=_networks(services.get("allowExternalIPs")),
        ingress_snippets=isinstance(snippets, str) and snippets.strip().lower() == "allowed",
    )
