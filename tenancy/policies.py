"""Which kubeOP `Policy` objects apply to which Project: decided here once, for admission and the controller.

A Policy widens egress (`spec.egressAllowCIDRs`) beyond the platform baseline. Its tenancy labels say for whom:
- no `app.kubeop.io/tenant` label: platform-wide, every project namespace;
- `app.kubeop.io/tenant: <tenant>`: only that tenant's project namespaces;
- with `app.kubeop.io/project: <project>` as well: only that project's namespace (the label's value as the
  namespace carries it, the sanitised Project spec.name).
A project label without a tenant label would name a project of any tenant, so it applies to no namespace: a
label that cannot be read one way only must not open egress. A Policy being deleted applies nowhere.

The validating webhook uses this to decide which NetworkPolicy ipBlocks a tenant may write; the Project reconciler
uses it to decide which CIDRs go into each project's `kubeop-egress`: the same function, so what admission allows
is what the controller opens, and a Policy written for one tenant never reaches another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tenancy.labels import PROJECT_LABEL, TENANT_LABEL
from tenancy.policy import IPNetwork, parse_network


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def policy_applies(policy: Mapping[str, Any], tenant: str | None, project: str | None) -> bool:
    """True when `policy` applies to a namespace of `tenant` and `project` (see the module docstring)."""
    metadata = _metadata(policy)
    if metadata.get("deletionTimestamp"):
        return False
    labels = metadata.get("labels")
    labels = labels if isinstance(labels, Mapping) else {}
    wanted_tenant, wanted_project = labels.get(TENANT_LABEL) or None, labels.get(PROJECT_LABEL) or None
    if wanted_tenant is None:
        return wanted_project is None
    if wanted_tenant != tenant:
        return False
    return wanted_project is None or wanted_project == project


def policy_networks(policy: Mapping[str, Any]) -> list[IPNetwork]:
    """The valid CIDRs of one Policy, normalised (`10.0.0.1/8` -> `10.0.0.0/8`); the Policy reports invalid ones."""
    spec = policy.get("spec")
    cidrs = spec.get("egressAllowCIDRs") if isinstance(spec, Mapping) else None
    found: list[IPNetwork] = []
    for raw in cidrs if isinstance(cidrs, list) else []:
        network = parse_network(raw) if isinstance(raw, str) else None
        if network is not None and network not in found:
            found.append(network)
    return found


def applicable_networks(
    policies: Iterable[Mapping[str, Any]], tenant: str | None, project: str | None
) -> list[IPNetwork]:
    """The CIDRs of every Policy that applies to a namespace of `tenant`/`project`, deduplicated, in order."""
    found: list[IPNetwork] = []
    for policy in policies:
        if policy_applies(policy, tenant, project):
            found.extend(n for n in policy_networks(policy) if n not in found)
    return found
