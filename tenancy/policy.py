"""The platform-wide knobs, and the one parser of where they come from: ConfigMap `kubeop-policy` over the environment.

kubeOP's knobs keep their names (`KUBEOP_IMAGE_ALLOWLIST`, `KUBEOP_EGRESS_BASELINE`, `KUBEOP_QUOTA_MAX_REQUESTS_CPU`,
`KUBEOP_QUOTA_MAX_REQUESTS_MEMORY`); tenantgate adds who counts as a platform admin (`TENANTGATE_ADMIN_GROUPS`,
`TENANTGATE_ADMIN_USERS`) and where the ingress controller and the cluster DNS run (`TENANTGATE_INGRESS_NAMESPACE`,
`TENANTGATE_DNS_NAMESPACE`), which cert-manager ClusterIssuer signs tenants' Certificates
(`TENANTGATE_CLUSTER_ISSUER`), and whether tenants' event webhooks may use plain http to a loopback host
(`TENANTGATE_EVENTS_ALLOW_HTTP_LOOPBACK`, for tests). Each is read from ConfigMap `kubeop-policy` in tenantgate's
namespace when the key is present there, else from the process environment, so a platform team changes policy
with `kubectl edit configmap` and the next request (and the next reconcile) sees it: no restart, no re-rollout.

The webhook and the controller both call `policy_from_configmap_data` and get one frozen `GlobalPolicy`. Values
that cannot be parsed are not silently dropped: they are recorded in `problems`. Admission rules that depend on a
broken knob fail closed with a message that names it; the controller builds from the entries that parsed (a broken
CIDR opens nothing) and reports the problem.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Final

from kube.imageref import normalize_registry_entry
from kube.quantity import QuantityError, parse_quantity

IMAGE_ALLOWLIST: Final = "KUBEOP_IMAGE_ALLOWLIST"
EGRESS_BASELINE: Final = "KUBEOP_EGRESS_BASELINE"
QUOTA_MAX_CPU: Final = "KUBEOP_QUOTA_MAX_REQUESTS_CPU"
QUOTA_MAX_MEMORY: Final = "KUBEOP_QUOTA_MAX_REQUESTS_MEMORY"
ADMIN_GROUPS: Final = "TENANTGATE_ADMIN_GROUPS"
ADMIN_USERS: Final = "TENANTGATE_ADMIN_USERS"
INGRESS_NAMESPACE: Final = "TENANTGATE_INGRESS_NAMESPACE"
DNS_NAMESPACE: Final = "TENANTGATE_DNS_NAMESPACE"
EVENTS_ALLOW_HTTP_LOOPBACK: Final = "TENANTGATE_EVENTS_ALLOW_HTTP_LOOPBACK"
CLUSTER_ISSUER: Final = "TENANTGATE_CLUSTER_ISSUER"
KNOBS: Final = (
    IMAGE_ALLOWLIST,
    EGRESS_BASELINE,
    QUOTA_MAX_CPU,
    QUOTA_MAX_MEMORY,
    ADMIN_GROUPS,
    ADMIN_USERS,
    INGRESS_NAMESPACE,
    DNS_NAMESPACE,
    EVENTS_ALLOW_HTTP_LOOPBACK,
    CLUSTER_ISSUER,
)

POLICY_CONFIGMAP: Final = "kubeop-policy"
"""The ConfigMap, in tenantgate's own namespace, that overrides the environment knob by knob."""
OWN_NAMESPACE_ENV: Final = "TENANTGATE_NAMESPACE"
DEFAULT_NAMESPACE: Final = "tenantgate-system"
DEFAULT_INGRESS_NAMESPACE: Final = "ingress-nginx"
DEFAULT_DNS_NAMESPACE: Final = "kube-system"
DEFAULT_CLUSTER_ISSUER: Final = "letsencrypt"
DEFAULT_ADMIN_GROUPS: Final = frozenset({"system:masters"})

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def own_service_account(namespace: str = DEFAULT_NAMESPACE) -> str:
    """The username of tenantgate's own controller and webhook: always a platform admin."""
    return f"system:serviceaccount:{namespace}:tenantgate"


@dataclass(frozen=True, slots=True)
class GlobalPolicy:
    """Platform-wide policy, immutable; rules narrow it further with each Tenant's fields."""

    image_allowlist: tuple[str, ...] = ()
    """Normalised registries or repository prefixes; empty allows every registry (kubeOP's meaning)."""
    egress_baseline: tuple[IPNetwork, ...] = ()
    """CIDRs tenant NetworkPolicies may open egress to; empty leaves egress ipBlocks unrestricted."""
    quota_max_requests_cpu: Fraction | None = None
    quota_max_requests_cpu_text: str = ""
    quota_max_requests_memory: Fraction | None = None
    quota_max_requests_memory_text: str = ""
    admin_groups: frozenset[str] = DEFAULT_ADMIN_GROUPS
    admin_users: frozenset[str] = frozenset({own_service_account()})
    tenantgate_user: str = own_service_account()
    ingress_namespace: str = DEFAULT_INGRESS_NAMESPACE
    """Namespace of the ingress controller, allowed into every project namespace unless a Tenant says otherwise."""
    dns_namespace: str = DEFAULT_DNS_NAMESPACE
    """Namespace of the cluster DNS, reachable on port 53 from every project namespace."""
    events_allow_http_loopback: bool = False
    """Tenants' eventWebhooks may use http:// to a loopback host (development and tests only)."""
    cluster_issuer: str = DEFAULT_CLUSTER_ISSUER
    """cert-manager ClusterIssuer of the Certificates built for kubeOP Certificates (Tenants name none)."""
    problems: Mapping[str, str] = field(default_factory=dict)
    """Knob name -> why its value was rejected; rules that need the knob deny while it is broken."""

    def problem(self, knob: str) -> str | None:
        return self.problems.get(knob)


def parse_network(text: str) -> IPNetwork | None:
    """A CIDR (or a single address) as the network it denotes, host bits dropped (`10.0.0.1/8` is `10.0.0.0/8`);
    None when it is neither. The one reading of a CIDR for the baseline, Policies and Tenants."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def own_namespace(env: Mapping[str, str]) -> str:
    """tenantgate's namespace: where ConfigMap `kubeop-policy` lives."""
    return env.get(OWN_NAMESPACE_ENV) or DEFAULT_NAMESPACE


def _split(value: str) -> list[str]:
    """Entries separated by commas or newlines (names may hold spaces)."""
    return [item.strip() for item in value.replace("\n", ",").split(",") if item.strip()]


def _quantity(value: str, knob: str, problems: dict[str, str]) -> Fraction | None:
    if not value.strip():
        return None
    try:
        return parse_quantity(value.strip())
    except QuantityError as exc:
        problems[knob] = f"{knob}={value!r} is not a quantity ({exc})"
        return None


def policy_from_configmap_data(
    data: Mapping[str, Any] | None, env: Mapping[str, str], *, namespace: str | None = None
) -> GlobalPolicy:
    """The policy for ConfigMap `data` (None when there is no ConfigMap) over environment `env`.

    A key present in the ConfigMap wins, even when empty (an empty allowlist there means "allow all", as in
    kubeOP's manager API); an absent key falls back to the environment.
    """

    def knob(name: str) -> str:
        if data is not None and name in data:
            value = data[name]
            return value if isinstance(value, str) else str(value or "")
        return env.get(name, "")

    problems: dict[str, str] = {}
    allowlist = tuple(dict.fromkeys(normalize_registry_entry(e) for e in _split(knob(IMAGE_ALLOWLIST))))
    baseline: list[IPNetwork] = []
    for entry in knob(EGRESS_BASELINE).replace(",", " ").split():  # CIDRs hold no spaces
        network = parse_network(entry)
        if network is None:
            problems[EGRESS_BASELINE] = f"{EGRESS_BASELINE} entry {entry!r} is not a CIDR"
            continue
        if network not in baseline:
            baseline.append(network)
    cpu_text = knob(QUOTA_MAX_CPU).strip()
    memory_text = knob(QUOTA_MAX_MEMORY).strip()
    own_ns = namespace or own_namespace(env)
    own = own_service_account(own_ns)
    groups_text = knob(ADMIN_GROUPS)
    groups = frozenset(_split(groups_text)) if groups_text.strip() else DEFAULT_ADMIN_GROUPS
    users = frozenset({own, *_split(knob(ADMIN_USERS))})
    return GlobalPolicy(
        image_allowlist=allowlist,
        egress_baseline=tuple(baseline),
        quota_max_requests_cpu=_quantity(cpu_text, QUOTA_MAX_CPU, problems),
        quota_max_requests_cpu_text=cpu_text,
        quota_max_requests_memory=_quantity(memory_text, QUOTA_MAX_MEMORY, problems),
        quota_max_requests_memory_text=memory_text,
        admin_groups=groups,
        admin_users=users,
        tenantgate_user=own,
        ingress_namespace=knob(INGRESS_NAMESPACE).strip() or DEFAULT_INGRESS_NAMESPACE,
        dns_namespace=knob(DNS_NAMESPACE).strip() or DEFAULT_DNS_NAMESPACE,
        events_allow_http_loopback=knob(EVENTS_ALLOW_HTTP_LOOPBACK).strip().lower() in {"1", "true", "yes"},
        cluster_issuer=knob(CLUSTER_ISSUER).strip() or DEFAULT_CLUSTER_ISSUER,
        problems=problems,
    )
