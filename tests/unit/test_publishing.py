"""DNSRecord and Certificate publication: the pure decisions (record types, children, readiness, namespaces)."""

from __future__ import annotations

from typing import Any

import pytest

from controller.reconcilers import certificate, dnsrecord
from controller.reconcilers.publishing import Provider, answer_outcome, child_namespace, publish_status, retry_delay
from tenancy.labels import TENANT_LABEL
from tenancy.policy import DEFAULT_CLUSTER_ISSUER, policy_from_configmap_data


def record(name: str = "web-local", host: str = "web.local", target: str = "10.0.0.10", tenant: str = "") -> Any:
    labels = {TENANT_LABEL: tenant} if tenant else {}
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "DNSRecord",
        "metadata": {"name": name, "uid": "u-1", "generation": 3, "labels": labels},
        "spec": {"host": host, "target": target},
    }


def cert(ref: str | None = "web-local", tenant: str = "acme") -> Any:
    spec: dict[str, Any] = {"host": "web.local"}
    if ref is not None:
        spec["dnsRecordRef"] = ref
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Certificate",
        "metadata": {"name": "web-local", "uid": "u-2", "generation": 1, "labels": {TENANT_LABEL: tenant}},
        "spec": spec,
    }


def namespace(name: str, tenant: str, created: str, deleting: bool = False) -> Any:
    metadata: dict[str, Any] = {"name": name, "labels": {TENANT_LABEL: tenant}, "creationTimestamp": created}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("10.0.0.10", "A"),
        (" 192.0.2.1 ", "A"),
        ("2001:db8::1", "AAAA"),
        ("ingress.example.com", "CNAME"),
        ("10.0.0.300", "CNAME"),
    ],
)
def test_record_type_follows_the_target(target: str, expected: str) -> None:
    assert dnsrecord.record_type(target) == expected


def test_dns_endpoint_carries_host_type_ttl_and_target_in_the_chosen_namespace() -> None:
    endpoint = dnsrecord.dns_endpoint(record(target="2001:db8::1", tenant="acme"), "kubeop-acme-web")
    assert endpoint["apiVersion"] == "externaldns.k8s.io/v1alpha1"
    assert endpoint["metadata"] == {
        "name": "web-local",
        "namespace": "kubeop-acme-web",
        "labels": {TENANT_LABEL: "acme"},
    }
    assert endpoint["spec"]["endpoints"] == [
        {"dnsName": "web.local", "recordType": "AAAA", "recordTTL": 300, "targets": ["2001:db8::1"]}
    ]


def test_dns_provider_payload_names_record_tenant_and_action() -> None:
    assert dnsrecord.provider_payload(record(tenant="acme"), "delete") == {
        "action": "delete",
        "record": "web-local",
        "tenant": "acme",
        "host": "web.local",
        "target": "10.0.0.10",
        "type": "A",
        "ttl": 300,
    }


@pytest.mark.parametrize(
    ("status", "generation", "ready", "reason"),
    [
        (None, 1, True, "Published"),
        ({"observedGeneration": 2}, 2, True, "Published"),
        ({"observedGeneration": 1}, 2, False, "Publishing"),
    ],
)
def test_dns_endpoint_readiness(status: Any, generation: int, ready: bool, reason: str) -> None:
    endpoint: dict[str, Any] = {"metadata": {"name": "web-local", "generation": generation}}
    if status is not None:
        endpoint["status"] = status
    got_ready, got_reason, message = dnsrecord.endpoint_readiness(endpoint)
    assert (got_ready, got_reason) == (ready, reason)
    if status is None:
        assert "reports no status" in message


def test_children_go_to_the_tenants_oldest_live_namespace() -> None:
    namespaces = [
        namespace("kubeop-acme-b", "acme", "2026-01-02T00:00:00Z"),
        namespace("kubeop-acme-a", "acme", "2026-01-03T00:00:00Z"),
        namespace("kubeop-acme-old", "acme", "2026-01-01T00:00:00Z", deleting=True),
        namespace("kubeop-other-x", "other", "2025-01-01T00:00:00Z"),
    ]
    assert child_namespace("acme", namespaces, "tenantgate-system") == "kubeop-acme-b"


def test_children_of_no_tenant_go_to_tenantgates_namespace_and_a_tenant_without_namespace_waits() -> None:
    assert child_namespace("", [], "tenantgate-system") == "tenantgate-system"
    assert child_namespace("acme", [namespace("kubeop-b-x", "b", "2026-01-01T00:00:00Z")], "ns") is None


def test_retry_delay_doubles_up_to_the_cap() -> None:
    assert [retry_delay(n) for n in range(0, 5)] == [0.0, 1.0, 2.0, 4.0, 8.0]
    assert retry_delay(40) == 300.0


def test_provider_backs_off_per_object_and_forgets_on_success() -> None:
    now = [100.0]
    provider = Provider("DNS provider", "http://127.0.0.1:1/v1/dnsrecords", clock=lambda: now[0])
    assert provider.wait_before_next("a") == 0.0
    assert provider.failed("a") == 1.0
    assert provider.failed("a") == 2.0
    assert provider.wait_before_next("a") == 2.0
    assert provider.wait_before_next("b") == 0.0
    now[0] += 2.0
    assert provider.wait_before_next("a") == 0.0
    provider.succeeded("a", "digest")
    assert provider.failed("a") == 1.0
    assert provider.published == {"a": "digest"}


def test_publish_status_has_kubeops_fields_conditions_and_observed_generation() -> None:
    status = publish_status(
        record(), True, "Published", "Accepted by the DNS provider", "mocked", "2026-01-01T00:00:00Z"
    )
    assert status["ready"] is True
    assert status["message"] == "mocked"
    assert status["observedGeneration"] == 3
    [condition] = status["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == ("Ready", "True", "Published")
    assert condition["observedGeneration"] == 3


def test_cert_manager_certificate_uses_the_platform_issuer_and_a_tls_secret() -> None:
    built = certificate.cert_manager_certificate(cert(), "kubeop-acme-web", "letsencrypt-staging")
    assert built["apiVersion"] == "cert-manager.io/v1"
    assert built["metadata"]["namespace"] == "kubeop-acme-web"
    assert built["spec"] == {
        "secretName": "web-local-tls",
        "dnsNames": ["web.local"],
        "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt-staging"},
    }


def test_cluster_issuer_knob_comes_from_the_configmap_over_the_environment() -> None:
    assert policy_from_configmap_data(None, {}).cluster_issuer == DEFAULT_CLUSTER_ISSUER
    env = {"TENANTGATE_CLUSTER_ISSUER": "from-env"}
    assert policy_from_configmap_data(None, env).cluster_issuer == "from-env"
    assert policy_from_configmap_data({"TENANTGATE_CLUSTER_ISSUER": "from-cm"}, env).cluster_issuer == "from-cm"


@pytest.mark.parametrize(
    ("conditions", "generation", "ready", "reason"),
    [
        ([], 1, False, "Issuing"),
        ([{"type": "Ready", "status": "False", "reason": "Pending", "message": "order pending"}], 1, False, "Issuing"),
        ([{"type": "Ready", "status": "True", "message": "Certificate is up to date"}], 1, True, "Issued"),
        ([{"type": "Ready", "status": "True", "observedGeneration": 1}], 2, False, "Issuing"),
    ],
)
def test_certificate_readiness_follows_cert_managers_ready_condition(
    conditions: list[Any], generation: int, ready: bool, reason: str
) -> None:
    child = {"metadata": {"name": "web-local", "generation": generation}, "status": {"conditions": conditions}}
    assert certificate.issued_readiness(child)[:2] == (ready, reason)


def ready_record(tenant: str = "acme", ready: bool = True) -> Any:
    found = record(tenant=tenant)
    found["status"] = {"ready": ready}
    return found


@pytest.mark.parametrize(
    ("certificate_obj", "record_obj", "waits"),
    [
        (cert(ref=None), None, None),
        (cert(), None, "does not exist"),
        (cert(), ready_record(tenant="other"), "does not exist"),
        (cert(), ready_record(ready=False), "to be ready"),
        (cert(), ready_record(), None),
    ],
)
def test_certificate_waits_for_its_dns_record(certificate_obj: Any, record_obj: Any, waits: str | None) -> None:
    problem = certificate.dns_problem(certificate_obj, record_obj)
    assert (problem is None) if waits is None else (problem is not None and waits in problem)


def test_acme_provider_payload() -> None:
    assert certificate.provider_payload(cert(), "upsert") == {
        "action": "upsert",
        "certificate": "web-local",
        "tenant": "acme",
        "host": "web.local",
        "dnsRecord": "web-local",
        "secretName": "web-local-tls",
    }


@pytest.mark.parametrize(
    ("status", "absent_is_done", "outcome"),
    [
        (200, False, "accepted"),
        (204, True, "accepted"),
        (404, True, "absent"),
        (404, False, "http_4xx"),
        (429, False, "http_4xx"),
        (503, True, "http_5xx"),
        (301, False, "http_other"),
    ],
)
def test_a_provider_answer_is_counted_by_its_class_only(status: int, absent_is_done: bool, outcome: str) -> None:
    assert answer_outcome(status, absent_is_done) == outcome
