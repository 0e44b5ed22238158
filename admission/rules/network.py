"""Network guardrails: egress stays inside the baseline, and tenantgate's own policies and quotas stay put.

**Egress** (kubeOP's rule, with its message `egress CIDR <cidr> not in baseline allowlist`): in a tenant
namespace every address a NetworkPolicy egress rule opens must lie inside the CIDRs of `KUBEOP_EGRESS_BASELINE`
and of the applicable Policies' `spec.egressAllowCIDRs` (which Policies apply to a namespace is
`tenancy.policies`' rule, the one the controller builds each project's `kubeop-egress` from). The rule judges
what a rule opens, not how it is written, so equivalent forms get the same answer:

- an `ipBlock` opens its `cidr` minus its `except` entries, and that set must be covered by the union of the
  permitted CIDRs (`10.0.0.0/8` is inside `10.0.0.0/9, 10.128.0.0/9`; `0.0.0.0/0` except everything outside
  `10.0.0.0/8` is `10.0.0.0/8`);
- an egress rule without peers (no `to`, or `to: []`) opens every address, exactly as ipBlocks `0.0.0.0/0`
  and `::/0` do, and is judged as those two;
- an IPv4-mapped IPv6 CIDR (`::ffff:10.0.0.0/104`) is its IPv4 CIDR (`10.0.0.0/8`).

Pod and namespace selectors open no address range and are not judged. An empty baseline leaves egress
unrestricted (kubeOP's default: egress allowed everywhere); then Policies have nothing to widen.

**Managed objects**: NetworkPolicies, ResourceQuotas and LimitRanges labelled
`app.kubernetes.io/managed-by: tenantgate` are the tenant's fences (`kubeop-egress`, `kubeop-ingress`,
`kubeop-quota`, `kubeop-defaults`). Only tenantgate and platform admins may delete them, change their spec or
remove that label, and only they may create an object carrying it. Metadata edits (annotations, other labels)
stay possible, so `kubectl annotate` and `kubectl apply` bookkeeping never break.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.rules.findings import Finding, new_findings, verdict_for
from admission.rules.guard import guardrail, unknown_namespace_message
from admission.rules.text import describe, q, spec_of, verb
from admission.verdict import Verdict, allowed, denied
from admission.view import labels_of
from tenancy.policies import applicable_networks
from tenancy.policy import EGRESS_BASELINE, IPNetwork, parse_network

MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_TENANTGATE: Final = "tenantgate"
MANAGED_KINDS: Final = (
    ("networking.k8s.io", "NetworkPolicy"),
    ("", "ResourceQuota"),
    ("", "LimitRange"),
)


_MAPPED_IPV4: Final = ipaddress.IPv6Network("::ffff:0:0/96")
ALL_ADDRESSES: Final[tuple[IPNetwork, ...]] = (ipaddress.IPv4Network("0.0.0.0/0"), ipaddress.IPv6Network("::/0"))
"""What an egress rule without peers opens."""
MAX_SHOWN: Final = 3


def parse_cidr(cidr: str) -> IPNetwork | None:
    """A CIDR as the network it denotes (host bits dropped, IPv4-mapped IPv6 as IPv4), or None; pure."""
    network = parse_network(cidr)
    if network is None:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED_IPV4):
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None
        return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def _minus(pieces: list[IPNetwork], removed: IPNetwork) -> list[IPNetwork]:
    """`pieces` without the addresses of `removed`; pure."""
    left: list[IPNetwork] = []
    for piece in pieces:
        if piece.version != removed.version or not piece.overlaps(removed):
            left.append(piece)
        elif not piece.subnet_of(removed):  # type: ignore[arg-type]
            left.extend(piece.address_exclude(removed))  # type: ignore[arg-type]
    return left


def uncovered(opened: Sequence[IPNetwork], permitted: Sequence[IPNetwork]) -> list[IPNetwork]:
    """The parts of `opened` outside the union of `permitted`, collapsed and sorted (empty: all inside); pure."""
    pieces = list(opened)
    for network in permitted:
        pieces = _minus(pieces, network)
        if not pieces:
            return []
    v4 = [p for p in pieces if isinstance(p, ipaddress.IPv4Network)]
    v6 = [p for p in pieces if isinstance(p, ipaddress.IPv6Network)]
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


def inside(network: IPNetwork, allowed_networks: Sequence[IPNetwork]) -> bool:
    """True when every address of `network` lies in the union of `allowed_networks`; pure."""
    return not uncovered([network], allowed_networks)


@dataclass(frozen=True, slots=True)
class EgressPeer:
    """What one egress peer (or a rule without peers) opens, and where it is written."""

    path: str
    """Field path of the `ipBlock.cidr`, or of the rule's absent/empty `to`."""
    cidr: str
    """The `cidr` as written; empty for a rule without peers."""
    excepts: tuple[tuple[str, str], ...] = ()
    """(field path, CIDR as written) of each `except` entry."""

    @property
    def allows_all(self) -> bool:
        return not self.cidr


def egress_peers(obj: Mapping[str, Any]) -> list[EgressPeer]:
    """Every egress ipBlock, and every egress rule without peers, of a NetworkPolicy; pure."""
    found = []
    egress = spec_of(obj).get("egress")
    for i, rule in enumerate(egress if isinstance(egress, list) else []):
        peers = rule.get("to") if isinstance(rule, dict) else None
        if not peers:
            found.append(EgressPeer(f"spec.egress[{i}].to", ""))
            continue
        for j, peer in enumerate(peers if isinstance(peers, list) else []):
            block = peer.get("ipBlock") if isinstance(peer, dict) else None
            if not isinstance(block, dict) or not isinstance(block.get("cidr"), str):
                continue
            base = f"spec.egress[{i}].to[{j}].ipBlock"
            excepts = block.get("except")
            listed = tuple(
                (f"{base}.except[{k}]", cidr)
                for k, cidr in enumerate(excepts if isinstance(excepts, list) else [])
                if isinstance(cidr, str)
            )
            found.append(EgressPeer(f"{base}.cidr", block["cidr"], listed))
    return found


def _shown(networks: Sequence[IPNetwork]) -> str:
    text = ", ".join(str(n) for n in networks[:MAX_SHOWN])
    return text + (f" and {len(networks) - MAX_SHOWN} more" if len(networks) > MAX_SHOWN else "")


def _peer_finding(peer: EgressPeer, permitted: Sequence[IPNetwork], listing: str) -> Finding | None:
    """The finding for one peer against the permitted networks, or None when it opens nothing outside them."""
    allowed_text = f"allowed: CIDRs inside {listing} ({EGRESS_BASELINE} and Policy spec.egressAllowCIDRs)"
    if peer.allows_all:
        outside = [family for family in ALL_ADDRESSES if uncovered([family], permitted)]
        if not outside:
            return None
        return Finding(
            peer.path,
            "(no peers)",
            f"{peer.path} (no peers): an egress rule without peers allows every destination, as ipBlocks "
            f"0.0.0.0/0 and ::/0 do; egress CIDR {_shown(outside)} not in baseline allowlist; {allowed_text}, "
            "written as ipBlock peers in to, or pod and namespace selectors",
            key=("(no peers)",),
        )
    shown = f"{peer.path} {q(peer.cidr)}"
    network = parse_cidr(peer.cidr)
    if network is None:
        return Finding(
            peer.path, q(peer.cidr), f"{shown} is not a CIDR; allowed: a CIDR such as 10.0.0.0/8", key=(peer.cidr,)
        )
    opened = [network]
    for path, cidr in peer.excepts:
        excepted = parse_cidr(cidr)
        if excepted is None:
            return Finding(
                path, q(cidr), f"{path} {q(cidr)} is not a CIDR; allowed: a CIDR such as 10.0.0.0/8", key=(cidr,)
            )
        opened = _minus(opened, excepted)
    outside = uncovered(opened, permitted)
    if not outside:
        return None
    narrowed = outside != uncovered([network], permitted)
    left = f" (after its except entries it still opens {_shown(outside)})" if narrowed else ""
    return Finding(
        peer.path,
        q(peer.cidr),
        f"{shown}: egress CIDR {peer.cidr} not in baseline allowlist{left}; {allowed_text}",
        key=(str(network), *sorted(str(parse_cidr(c) or c) for _, c in peer.excepts)),
    )


@guardrail("its egress rules")
def egress_cidrs(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """What tenant NetworkPolicies open for egress stays inside the baseline plus applicable Policies."""
    tenancy = ctx.tenancy
    broken = ctx.policy.problem(EGRESS_BASELINE)
    baseline = ctx.policy.egress_baseline
    if not baseline and broken is None:
        return allowed()
    extra = applicable_networks(ctx.view.policies(), tenancy.tenant, tenancy.project)
    permitted = [*baseline, *extra]
    listing = ", ".join(str(n) for n in permitted)

    def collect(source: Mapping[str, Any]) -> list[Finding]:
        findings = []
        for peer in egress_peers(source):
            if broken is not None:
                value = q(peer.cidr) if peer.cidr else "(no peers)"
                findings.append(
                    Finding(
                        peer.path,
                        value,
                        f"{peer.path} {value}: egress CIDR {peer.cidr or '0.0.0.0/0'} not in baseline allowlist: the "
                        f"baseline cannot be read ({broken}), so egress checks fail closed; allowed: none until "
                        "platform operators fix it",
                        key=(peer.cidr or "(no peers)",),
                    )
                )
            elif (finding := _peer_finding(peer, permitted, listing)) is not None:
                findings.append(finding)
        return findings

    fresh, kept = new_findings(request, collect)
    return verdict_for(fresh, kept)


def _managed(obj: Mapping[str, Any] | None) -> bool:
    return labels_of(obj).get(MANAGED_BY) == MANAGED_BY_TENANTGATE


def managed_objects(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """tenantgate's NetworkPolicies, ResourceQuotas and LimitRanges are changed by tenantgate (and admins) only."""
    new, old = request.object, request.old_object
    operation = request.operation
    label = f'metadata.labels["{MANAGED_BY}"]'
    mark = f"{label} {q(MANAGED_BY_TENANTGATE)}"
    problem: str | None = None
    if operation == "CREATE" and _managed(new):
        problem = f"{mark}: only tenantgate creates objects it manages"
    elif operation == "DELETE" and _managed(old):
        problem = f"{describe(request)} is managed by tenantgate ({mark})"
    elif operation == "UPDATE" and _managed(old) and not _managed(new):
        problem = f"{mark}: removing it would take {describe(request)} out of tenantgate's care"
    elif operation == "UPDATE" and _managed(old) and (new or {}).get("spec") != (old or {}).get("spec"):
        problem = f"spec of {describe(request)}: it is managed by tenantgate ({mark})"
    if problem is None:
        return allowed()
    if ctx.actor.admin:
        return allowed()
    tenancy = ctx.namespace_tenancy(request.namespace)
    if not tenancy.known and request.namespace:
        return denied(unknown_namespace_message(request, describe(request)))
    return denied(
        f"{problem}; it is one of the fences tenantgate keeps around the tenant, so you may not {verb(request)} it; "
        "allowed: tenantgate and platform admins change it (ask for a quota or egress change through your "
        "Project or a platform admin)"
    )
