"""Services reach past the cluster network only as far as the Tenant's spec.serviceOptions allow."""

from __future__ import annotations

from typing import Any

import pytest

from admission.rules.membership import tenant_writes as tenant_writes_rule
from admission.rules.services import service_exposure as service_exposure_rule
from tenancy.tenants import parse_tenant
from tests.unit.test_guardrails_support import (
    ACME,
    ADMIN,
    ALICE,
    TENANTGATE,
    judged,
    request,
    respec,
    world,
)

pytestmark = pytest.mark.unit

service_exposure = judged(service_exposure_rule)
tenant_writes = judged(tenant_writes_rule)


def service(ns: str = "kubeop-acme-web", **spec: Any) -> dict[str, Any]:
    body = {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns}, "spec": body}


def acme_with(**options: Any) -> dict[str, Any]:
    return respec(ACME, serviceOptions=options)


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (
            {"type": "NodePort"},
            'spec.type "NodePort": a NodePort Service opens a port on every node of the cluster, and tenant "acme" '
            "does not allow it (spec.serviceOptions.allowNodePort); allowed: ClusterIP (publish through an Ingress), "
            'or ask a platform admin to set Tenant "acme" spec.serviceOptions.allowNodePort',
        ),
        ({"type": "LoadBalancer"}, 'spec.type "LoadBalancer": a LoadBalancer Service asks for an address outside'),
        (
            {"externalIPs": ["10.96.0.10"]},
            'spec.externalIPs[0] "10.96.0.10": an external IP captures the traffic to that address from the whole '
            'cluster (CVE-2020-8554), and tenant "acme" does not allow it (spec.serviceOptions.allowExternalIPs); '
            "allowed: no external IPs",
        ),
        ({"externalIPs": ["not-an-ip"]}, 'spec.externalIPs[0] "not-an-ip"'),
    ],
)
def test_services_that_leave_the_cluster_network_are_denied_by_default(spec: dict[str, Any], text: str) -> None:
    for who in (ALICE, ADMIN):
        verdict = service_exposure(request(service(**spec), who=who), world())
        assert not verdict.allowed
        assert text in verdict.message


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"type": "ClusterIP"},
        {"type": "ClusterIP", "clusterIP": "None"},
        {"type": "ExternalName", "externalName": "x"},
    ],
)
def test_cluster_internal_services_are_admitted(spec: dict[str, Any]) -> None:
    assert service_exposure(request(service(**spec)), world()).allowed


@pytest.mark.parametrize(
    ("options", "spec", "allowed"),
    [
        ({"allowNodePort": True}, {"type": "NodePort"}, True),
        ({"allowNodePort": True}, {"type": "LoadBalancer"}, False),
        ({"allowLoadBalancer": True}, {"type": "LoadBalancer"}, True),
        ({"allowExternalIPs": ["203.0.113.0/24"]}, {"externalIPs": ["203.0.113.7"]}, True),
        ({"allowExternalIPs": ["203.0.113.0/24"]}, {"externalIPs": ["203.0.113.7", "198.51.100.1"]}, False),
        ({"allowExternalIPs": ["2001:db8::/32"]}, {"externalIPs": ["2001:db8::1"]}, True),
        ({"allowExternalIPs": ["2001:db8::/32"]}, {"externalIPs": ["203.0.113.7"]}, False),
        ({"allowExternalIPs": ["bogus"]}, {"externalIPs": ["203.0.113.7"]}, False),
    ],
)
def test_the_tenant_grants_service_options(options: dict[str, Any], spec: dict[str, Any], allowed: bool) -> None:
    view = world(replace=[acme_with(**options)])
    verdict = service_exposure(request(service(**spec)), view)
    assert verdict.allowed is allowed, verdict.message


def test_denied_external_ips_name_what_the_tenant_allows() -> None:
    view = world(replace=[acme_with(allowExternalIPs=["203.0.113.0/24"])])
    verdict = service_exposure(request(service(externalIPs=["198.51.100.1"])), view)
    assert 'spec.externalIPs[0] "198.51.100.1"' in verdict.message
    assert "allowed: an address in 203.0.113.0/24" in verdict.message


def test_outside_tenants_and_for_tenantgate_services_are_not_judged() -> None:
    assert service_exposure(request(service("default", type="NodePort")), world()).allowed
    assert service_exposure(request(service(type="NodePort"), who=TENANTGATE), world()).allowed


def test_an_unchanged_node_port_stays_updatable() -> None:
    old = service(type="NodePort")
    new = respec(old, ports=[{"port": 8080}])
    verdict = service_exposure(request(new, "UPDATE", old=old), world())
    assert verdict.allowed
    assert verdict.warnings == ('unchanged spec.type "NodePort" breaks current policy; kept',)
    added = respec(old, externalIPs=["10.0.0.1"])
    assert not service_exposure(request(added, "UPDATE", old=old), world()).allowed


def test_service_options_parse_into_tenant_rules() -> None:
    rules = parse_tenant(acme_with(allowNodePort=True, allowExternalIPs=["203.0.113.0/24", "x", "203.0.113.9"]))
    assert rules.allow_node_port
    assert not rules.allow_load_balancer
    assert [str(n) for n in rules.allow_external_ips] == ["203.0.113.0/24", "203.0.113.9/32"]
    assert not parse_tenant(ACME).allow_node_port


@pytest.mark.parametrize(
    "options", [{"allowNodePort": True}, {"allowLoadBalancer": True}, {"allowExternalIPs": ["0.0.0.0/0"]}]
)
def test_owners_may_not_grant_themselves_service_options(options: dict[str, Any]) -> None:
    verdict = tenant_writes(request(acme_with(**options), "UPDATE", old=ACME), world())
    assert not verdict.allowed
    assert "spec.serviceOptions" in verdict.message
    assert "a tenant's owners may not change its guardrails" in verdict.message
    assert tenant_writes(request(acme_with(**options), "UPDATE", old=ACME, who=ADMIN), world()).allowed
