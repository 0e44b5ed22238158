"""Tenant isolation holes, closed, against the real API server: an owner of `globex` tries each way around.

The two-tenant world of `test_guardrails_e2e` (an owner of `acme`, an owner of `globex`, one project namespace
each) is reused; every hostile write is made by `globex`'s owner through `kubectl --as`, and every deny is
asserted on the guardrail's message. The webhook answers from its watched view, which trails the API server by a
moment, so steps that depend on an object just written retry until the view has it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tenantgate.devcluster import ControlPlane
from tests.e2e import test_guardrails_e2e as guardrails

pytestmark = pytest.mark.e2e

Tenancy = guardrails.Tenancy
tenancy = guardrails.tenancy
until, _apply, _create, _ok, _denied_with = (
    guardrails.until,
    guardrails._apply,
    guardrails._create,
    guardrails._ok,
    guardrails._denied_with,
)
KUBEOP = guardrails.KUBEOP
POLICY_NAMESPACE = "tenantgate-system"


def _ingress(name: str, namespace: str, *hosts: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": {"rules": [{"host": host} for host in hosts]},
    }


@pytest.fixture(scope="module")
def acme_shop(cluster: ControlPlane, tenancy: Tenancy) -> str:
    """acme's Ingress for `shop.<acme>.example`, admitted (and in the webhook's view) before globex tries."""
    host = f"shop.{tenancy.acme}.example"
    created = until(lambda: _apply(cluster, _ingress("shop", tenancy.acme_ns, host), tenancy.alice, check=False), _ok)
    assert created.returncode == 0, created.stderr
    return host


def test_a_wildcard_over_another_tenants_host_is_denied(
    cluster: ControlPlane, tenancy: Tenancy, acme_shop: str
) -> None:
    wildcard = f"*.{tenancy.acme}.example"
    result = until(
        lambda: _create(cluster, _ingress("wild", tenancy.globex_ns, wildcard), tenancy.bob),
        _denied_with("in use by another tenant"),
    )
    assert result.returncode != 0
    assert (
        f'spec.rules[0].host "{wildcard}" is in use by another tenant (it covers "{acme_shop}"); a hostname belongs '
        "to one tenant only; a wildcard covers every name one label in its place"
    ) in result.stderr
    certificate = {
        "apiVersion": KUBEOP,
        "kind": "Certificate",
        "metadata": {"name": f"{tenancy.globex}-wild", "labels": {"app.kubeop.io/tenant": tenancy.globex}},
        "spec": {"host": wildcard},
    }
    result = _create(cluster, certificate, tenancy.bob)
    assert result.returncode != 0
    assert f'spec.host "{wildcard}" is in use by another tenant (it covers "{acme_shop}")' in result.stderr


def test_a_server_alias_of_another_tenants_host_is_denied(
    cluster: ControlPlane, tenancy: Tenancy, acme_shop: str
) -> None:
    alias = {"nginx.ingress.kubernetes.io/server-alias": f"www.{tenancy.globex}.example, {acme_shop}"}
    ingress = _ingress("alias", tenancy.globex_ns, f"www.{tenancy.globex}.example", annotations=alias)
    result = until(lambda: _create(cluster, ingress, tenancy.bob), _denied_with("in use by another tenant"))
    assert result.returncode != 0
    assert (
        f'metadata.annotations["nginx.ingress.kubernetes.io/server-alias"] "{acme_shop}" is in use by another tenant'
    ) in result.stderr


def test_a_snippet_setting_server_name_is_denied(cluster: ControlPlane, tenancy: Tenancy, acme_shop: str) -> None:
    snippet = {"nginx.ingress.kubernetes.io/server-snippet": f"server_name {acme_shop};"}
    ingress = _ingress("snippet", tenancy.globex_ns, f"api.{tenancy.globex}.example", annotations=snippet)
    result = _create(cluster, ingress, tenancy.bob)
    assert result.returncode != 0
    assert (
        f'metadata.annotations["nginx.ingress.kubernetes.io/server-snippet"] "server_name {acme_shop};" sets '
        "server_name: a snippet may not add server names"
    ) in result.stderr


@pytest.fixture
def egress_baseline(cluster: ControlPlane, platform: Any) -> Iterator[str]:
    """ConfigMap `kubeop-policy` with an egress baseline for one test, removed afterwards."""
    policy = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kubeop-policy", "namespace": POLICY_NAMESPACE},
        "data": {"KUBEOP_EGRESS_BASELINE": "10.0.0.0/8"},
    }
    _apply(cluster, policy)
    try:
        yield "10.0.0.0/8"
    finally:
        cluster.kubectl("delete", "configmap", "kubeop-policy", "-n", POLICY_NAMESPACE, "--ignore-not-found")


@pytest.mark.parametrize("rule", [{}, {"to": []}, {"ports": [{"port": 443, "protocol": "TCP"}]}], ids=str)
def test_an_egress_rule_without_peers_is_judged_as_allow_all(
    cluster: ControlPlane, tenancy: Tenancy, egress_baseline: str, rule: dict[str, Any]
) -> None:
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "open", "namespace": tenancy.globex_ns},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [rule]},
    }
    result = until(lambda: _create(cluster, policy, tenancy.bob), _denied_with("without peers"))
    assert result.returncode != 0
    assert (
        "spec.egress[0].to (no peers): an egress rule without peers allows every destination, as ipBlocks "
        "0.0.0.0/0 and ::/0 do; egress CIDR 0.0.0.0/0, ::/0 not in baseline allowlist; allowed: CIDRs inside "
        f"{egress_baseline}"
    ) in result.stderr


@pytest.fixture(scope="module")
def bounded_globex(cluster: ControlPlane, tenancy: Tenancy) -> Tenancy:
    """globex with an aggregate quota, as a platform admin sets it."""
    patch = {"spec": {"quota": {"hard": {"requests.cpu": "4", "requests.memory": "4Gi"}}}}
    cluster.kubectl("patch", "tenants.paas.kubeop.io", tenancy.globex, "--type=merge", "-p", json.dumps(patch))
    return tenancy


def _project(t: Tenancy, name: str, hard: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": KUBEOP,
        "kind": "Project",
        "metadata": {"name": f"{t.globex}-{name}"},
        "spec": {"tenantRef": t.globex, "name": name, "quota": {"hard": hard}},
    }


def test_a_project_quota_omitting_a_bounded_resource_is_denied(cluster: ControlPlane, bounded_globex: Tenancy) -> None:
    t = bounded_globex
    result = until(
        lambda: _create(cluster, _project(t, "loose", {"requests.cpu": "1"}), t.bob),
        _denied_with("omits requests.memory"),
    )
    assert result.returncode != 0
    assert (
        f'spec.quota.hard omits requests.memory, which Tenant "{t.globex}" spec.quota.hard bounds, so the namespace '
        "would not be bounded in it; allowed: add requests.memory to spec.quota.hard"
    ) in result.stderr


@pytest.mark.parametrize("value", ["-8", -8], ids=["string", "integer"])
def test_a_negative_project_quota_is_refused(cluster: ControlPlane, bounded_globex: Tenancy, value: object) -> None:
    t = bounded_globex
    result = _create(cluster, _project(t, "negative", {"requests.cpu": value, "requests.memory": "1Gi"}), t.bob)
    assert result.returncode != 0
    assert "spec.quota.hard.requests.cpu" in result.stderr
    assert cluster.kubectl("get", "projects.paas.kubeop.io", f"{t.globex}-negative", check=False).returncode != 0


def test_an_equivalent_spelling_of_another_tenants_host_is_denied(cluster: ControlPlane, tenancy: Tenancy) -> None:
    def certificate(name: str, tenant: str, host: str) -> dict[str, Any]:
        labels = {"app.kubeop.io/tenant": tenant}
        return {
            "apiVersion": KUBEOP,
            "kind": "Certificate",
            "metadata": {"name": name, "labels": labels},
            "spec": {"host": host},
        }

    ours = certificate(f"{tenancy.acme}-books", tenancy.acme, f"Bücher.{tenancy.acme}.example.")
    created = until(lambda: _apply(cluster, ours, tenancy.alice, check=False), _ok)
    assert created.returncode == 0, created.stderr
    punycode = f"xn--bcher-kva.{tenancy.acme}.example"
    theirs = certificate(f"{tenancy.globex}-books", tenancy.globex, punycode)
    result = until(lambda: _create(cluster, theirs, tenancy.bob), _denied_with("in use by another tenant"))
    assert result.returncode != 0
    assert f'spec.host "{punycode}" is in use by another tenant' in result.stderr
