"""DNSRecord and Certificate against a real control plane: kubeOP's EndToEnd_Minimal with either backend.

kubeOP's manifests (Tenant acme, Project web, App web, DNSRecord and Certificate web-local) are applied unchanged
from `tests/fixtures/manifests/kubeop/`. The HTTP providers are `tenantgate dev`'s strict local providers
(`tenantgate.devcluster.providers`), served from this process; external-dns and cert-manager are played by the
test, which writes their status on the children, as their controllers would. Each scenario runs its own
`tenantgate controller` process, as a user bound to the controller's ClusterRole alone.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.rbac import controller_cluster_role
from tenantgate.devcluster import ControlPlane
from tenantgate.devcluster.platform import LocalPlatform
from tenantgate.devcluster.providers import ACME_API, DNS_API, ThreadedProvider
from tenantgate.devcluster.standins import THIRD_PARTY_CRDS
from tests.conftest import unique
from tests.e2e.test_controller_support import (
    LEASE_NAMESPACE,
    REPO,
    ControllerProcess,
    adoptable_by_the_chart,
    apply,
    eventually,
    get_json,
    install_platform,
    project,
    tenant,
)

pytestmark = pytest.mark.e2e

KUBEOP = REPO / "tests" / "fixtures" / "manifests" / "kubeop"
THIRD_PARTY = THIRD_PARTY_CRDS
RECONCILERS = "tenant,project,app,dnsrecord,certificate"
KUBEOP_API = "paas.kubeop.io/v1alpha1"
RECORDS = "dnsrecords.paas.kubeop.io"
CERTIFICATES = "certificates.paas.kubeop.io"
ENDPOINTS = "dnsendpoints.externaldns.k8s.io"
CM_CERTIFICATES = "certificates.cert-manager.io"
PROVIDER_SECRET = "e2e-provider-token"
"""Userinfo in the provider URLs: it must never reach a log line, an Event or a status."""


def manifest(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((KUBEOP / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def status(cluster: ControlPlane, resource: str, name: str) -> dict[str, Any]:
    return dict(((get_json(cluster, resource, name) or {}).get("status")) or {})


def ready_condition(cluster: ControlPlane, resource: str, name: str) -> tuple[str, str]:
    for condition in status(cluster, resource, name).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status")), str(condition.get("reason"))
    return "", ""


def controller_kubeconfig(cluster: ControlPlane) -> Path:
    """A user bound to the controller's ClusterRole and nothing else, so a missing rule shows as a 403."""
    user = unique("tenantgate-controller")
    role = adoptable_by_the_chart(controller_cluster_role())
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(role))
    cluster.kubectl("create", "clusterrolebinding", user, "--clusterrole=tenantgate-controller", f"--user={user}")
    return cluster.mint_user(user)


@contextlib.contextmanager
def controller(
    cluster: ControlPlane, log_dir: Path, name: str, kubeconfig: Path | None = None, **env: str
) -> Iterator[ControllerProcess]:
    """The controller with `env`, as `kubeconfig` (default: a user bound to the controller's ClusterRole alone)."""
    process = ControllerProcess(
        cluster,
        LEASE_NAMESPACE,
        unique(name),
        log_dir,
        extra_env={"TENANTGATE_RECONCILERS": RECONCILERS, **env},
        kubeconfig=kubeconfig or controller_kubeconfig(cluster),
    )
    process.start()
    try:
        eventually(process.is_leader, timeout=60, what="leadership")
        yield process
        assert "forbidden" not in process.log_path.read_text().lower(), process.log_tail()
    finally:
        assert process.stop() == 0, process.log_tail()


def delete(cluster: ControlPlane, resource: str, name: str) -> None:
    cluster.kubectl("delete", resource, name, "--wait=false", "--ignore-not-found")


def gone(cluster: ControlPlane, resource: str, name: str, namespace: str = "") -> bool:
    return get_json(cluster, resource, name, *(["-n", namespace] if namespace else [])) is None


@pytest.fixture(scope="module")
def kubeop_minimal(cluster: ControlPlane) -> Iterator[str]:
    """kubeOP's Tenant and Project, unchanged; yields the project namespace. No third-party CRD yet."""
    install_platform(cluster, LEASE_NAMESPACE)
    for crd in THIRD_PARTY:
        cluster.kubectl("delete", "crd", crd, "--ignore-not-found")
    apply(cluster, manifest("tenant-minimal.yaml"), manifest("project.yaml"))
    yield "kubeop-acme-web"
    # No controller runs between tests to release the Project's finalizer: release it here and wait for the
    # namespace to go, so later tests can use the same names (the examples' Project "web" has this namespace).
    cluster.kubectl("delete", "project", "acme-web", "--wait=false", "--ignore-not-found", check=False)
    no_finalizers = json.dumps({"metadata": {"finalizers": None}})
    cluster.kubectl("patch", "project", "acme-web", "--type=merge", "-p", no_finalizers, check=False)
    cluster.kubectl("delete", "namespace", "kubeop-acme-web", "--ignore-not-found", "--timeout=120s", check=False)
    cluster.kubectl("delete", "tenant", "acme", "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def providers() -> Iterator[tuple[ThreadedProvider, ThreadedProvider]]:
    dns, acme = ThreadedProvider(DNS_API), ThreadedProvider(ACME_API)
    dns.start()
    acme.start()
    yield dns, acme
    dns.stop()
    acme.stop()


def with_secret(url: str) -> str:
    return url.replace("http://", f"http://tenantgate:{PROVIDER_SECRET}@")


def apply_app(cluster: ControlPlane, namespace: str) -> None:
    """The App goes into the Project's namespace, which exists only once the controller has made it."""
    eventually(lambda: get_json(cluster, "namespace", namespace), what=f"namespace {namespace}")
    cluster.kubectl("apply", "-n", namespace, "-f", str(KUBEOP / "app-image.yaml"))


def test_neither_backend_reports_dependency_missing(cluster: ControlPlane, kubeop_minimal: str, tmp_path: Path) -> None:
    record, cert = unique("dns"), unique("cert")
    with controller(cluster, tmp_path, "nobackend"):
        apply(
            cluster,
            {**manifest("dnsrecord.yaml"), "metadata": {"name": record}},
            {**manifest("certificate.yaml"), "metadata": {"name": cert}, "spec": {"host": "web.local"}},
        )
        for resource, name in ((RECORDS, record), (CERTIFICATES, cert)):
            eventually(
                lambda r=resource, n=name: ready_condition(cluster, r, n) == ("False", "DependencyMissing"),
                what=f"{resource} {name} DependencyMissing",
            )
            assert status(cluster, resource, name)["ready"] is False
        assert "DNS_MOCK_URL" in status(cluster, RECORDS, record)["message"]

        # external-dns installed later: the record is published without a restart (rediscovery, 30 s).
        install_third_party_crds(cluster)
        eventually(lambda: status(cluster, RECORDS, record).get("ready") is True, timeout=120, what="CRD picked up")
        assert get_json(cluster, ENDPOINTS, record, "-n", LEASE_NAMESPACE) is not None
        delete(cluster, RECORDS, record)
        delete(cluster, CERTIFICATES, cert)
        eventually(lambda: gone(cluster, RECORDS, record) and gone(cluster, CERTIFICATES, cert), what="deleted")
        assert gone(cluster, ENDPOINTS, record, LEASE_NAMESPACE)


def test_end_to_end_minimal_with_the_http_providers(
    cluster: ControlPlane,
    kubeop_minimal: str,
    providers: tuple[ThreadedProvider, ThreadedProvider],
    tmp_path: Path,
) -> None:
    dns, acme = providers
    env = {"DNS_MOCK_URL": with_secret(dns.provider.url), "ACME_MOCK_URL": with_secret(acme.provider.url)}
    with controller(cluster, tmp_path, "http", **env) as process:
        apply_app(cluster, kubeop_minimal)
        started = time.monotonic()
        apply(cluster, manifest("dnsrecord.yaml"), manifest("certificate.yaml"))
        for resource in (RECORDS, CERTIFICATES):
            eventually(
                lambda r=resource: status(cluster, r, "web-local").get("ready") is True, timeout=60, what=resource
            )
        elapsed = time.monotonic() - started
        print(f"EndToEnd_Minimal with HTTP providers: DNSRecord and Certificate ready in {elapsed:.1f}s")
        assert status(cluster, RECORDS, "web-local")["message"] == "mocked"
        assert status(cluster, CERTIFICATES, "web-local")["message"] == "issued"
        assert ready_condition(cluster, CERTIFICATES, "web-local") == ("True", "Issued")
        # The knobs win over the CRDs installed by the previous test: no children.
        assert gone(cluster, ENDPOINTS, "web-local", LEASE_NAMESPACE)
        assert gone(cluster, CM_CERTIFICATES, "web-local", LEASE_NAMESPACE)
        [upsert] = dns.run(lambda: dns.provider.bodies("upsert", "web-local"))
        assert upsert == {
            "action": "upsert",
            "record": "web-local",
            "tenant": "",
            "host": "web.local",
            "target": "10.0.0.10",
            "type": "A",
            "ttl": 300,
        }
        [issued] = acme.run(lambda: acme.provider.bodies("upsert", "web-local"))
        assert (issued["host"], issued["dnsRecord"], issued["secretName"]) == (
            "web.local",
            "web-local",
            "web-local-tls",
        )

        delete(cluster, CERTIFICATES, "web-local")
        delete(cluster, RECORDS, "web-local")
        eventually(
            lambda: gone(cluster, RECORDS, "web-local") and gone(cluster, CERTIFICATES, "web-local"),
            what="DNSRecord and Certificate deleted",
        )
        assert len(dns.run(lambda: dns.provider.bodies("delete", "web-local"))) == 1
        assert len(acme.run(lambda: acme.provider.bodies("delete", "web-local"))) == 1
        # Only this test's objects: Certificates other tests left in the shared cluster are published too.
        assert "web-local" not in dns.run(lambda: dict(dns.provider.held))
        assert "web-local" not in acme.run(lambda: dict(acme.provider.held))
        events = cluster.kubectl("get", "events.events.k8s.io", "-A", "-o", "json").stdout
        statuses = json.dumps([status(cluster, RECORDS, "web-local"), status(cluster, CERTIFICATES, "web-local")])
        log_text = process.log_path.read_text(errors="replace")
    for text in (events, statuses, log_text):
        assert PROVIDER_SECRET not in text
        assert dns.provider.url not in text


def test_a_failing_provider_converges_once_it_recovers(
    cluster: ControlPlane,
    kubeop_minimal: str,
    providers: tuple[ThreadedProvider, ThreadedProvider],
    tmp_path: Path,
) -> None:
    dns, _ = providers
    name = unique("flaky")
    dns.run(lambda: dns.provider.fail_next(3, 503))
    with controller(cluster, tmp_path, "flaky", DNS_MOCK_URL=dns.provider.url) as process:
        apply(cluster, {**manifest("dnsrecord.yaml"), "metadata": {"name": name}})
        eventually(
            lambda: ready_condition(cluster, RECORDS, name) == ("False", "ProviderFailed"), what="ProviderFailed"
        )
        eventually(lambda: status(cluster, RECORDS, name).get("ready") is True, timeout=60, what="ready after recovery")
        time.sleep(3)  # a steady state sends nothing more
        attempts = dns.run(lambda: [c.status for c in dns.provider.attempts("upsert", name)])
        assert attempts == [503, 503, 503, 200], attempts
        assert process.errors() == []

        # The same calls, as the controller's /metrics counts them.
        def dns_calls(outcome: str) -> float:
            return process.sum_metric(
                "tenantgate_provider_requests_total",
                lambda labels: labels["provider"] == "dns" and labels["outcome"] == outcome,
            )

        assert dns_calls("http_5xx") == 3
        assert dns_calls("accepted") >= 1
        assert process.sum_metric("tenantgate_provider_request_duration_seconds_count") >= 4
        delete(cluster, RECORDS, name)
        eventually(lambda: gone(cluster, RECORDS, name), what="record deleted")
        assert len(dns.run(lambda: dns.provider.bodies("delete", name))) == 1


def install_third_party_crds(cluster: ControlPlane) -> None:
    for path in THIRD_PARTY.values():
        cluster.kubectl("apply", "-f", str(path))
    for crd in THIRD_PARTY:
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")


def play_cert_manager(cluster: ControlPlane, name: str, namespace: str) -> None:
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Ready",
        "message": "Certificate is up to date and has not expired",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    cluster.kubectl(
        *("patch", CM_CERTIFICATES, name, "-n", namespace, "--subresource=status", "--type=merge"),
        "-p",
        json.dumps({"status": {"conditions": [ready]}}),
    )


def test_end_to_end_minimal_with_the_external_dns_and_cert_manager_crds(
    cluster: ControlPlane, kubeop_minimal: str, tmp_path: Path
) -> None:
    install_third_party_crds(cluster)
    tenant_record = unique("tenant-dns")
    with controller(cluster, tmp_path, "crds"):
        apply_app(cluster, kubeop_minimal)
        started = time.monotonic()
        apply(cluster, manifest("dnsrecord.yaml"), manifest("certificate.yaml"))
        # A record of no tenant (a platform admin's, as kubeOP's are) publishes from tenantgate's namespace.
        endpoint = eventually(
            lambda: get_json(cluster, ENDPOINTS, "web-local", "-n", LEASE_NAMESPACE), what="DNSEndpoint"
        )
        assert endpoint["spec"]["endpoints"] == [
            {"dnsName": "web.local", "recordType": "A", "recordTTL": 300, "targets": ["10.0.0.10"]}
        ]
        eventually(lambda: status(cluster, RECORDS, "web-local").get("ready") is True, timeout=60, what="DNS ready")
        requested = eventually(
            lambda: get_json(cluster, CM_CERTIFICATES, "web-local", "-n", LEASE_NAMESPACE),
            what="cert-manager Certificate",
        )
        assert requested["spec"]["secretName"] == "web-local-tls"
        assert requested["spec"]["dnsNames"] == ["web.local"]
        assert requested["spec"]["issuerRef"]["kind"] == "ClusterIssuer"
        assert ready_condition(cluster, CERTIFICATES, "web-local") == ("False", "Issuing")
        play_cert_manager(cluster, "web-local", LEASE_NAMESPACE)
        eventually(lambda: status(cluster, CERTIFICATES, "web-local").get("ready") is True, timeout=60, what="issued")
        elapsed = time.monotonic() - started
        print(f"EndToEnd_Minimal with CRDs: DNSRecord and Certificate ready in {elapsed:.1f}s")
        assert ready_condition(cluster, CERTIFICATES, "web-local") == ("True", "Issued")

        # A tenant's record publishes from the tenant's namespace; external-dns reporting progress is honoured.
        labelled = manifest("dnsrecord.yaml")
        labelled["metadata"] = {"name": tenant_record, "labels": {"app.kubeop.io/tenant": "acme"}}
        apply(cluster, labelled)
        eventually(
            lambda: get_json(cluster, ENDPOINTS, tenant_record, "-n", kubeop_minimal), what="tenant's DNSEndpoint"
        )
        cluster.kubectl(
            *("patch", ENDPOINTS, tenant_record, "-n", kubeop_minimal, "--subresource=status", "--type=merge"),
            "-p",
            json.dumps({"status": {"observedGeneration": 0}}),
        )
        eventually(
            lambda: ready_condition(cluster, RECORDS, tenant_record) == ("False", "Publishing"), what="Publishing"
        )
        cluster.kubectl(
            *("patch", ENDPOINTS, tenant_record, "-n", kubeop_minimal, "--subresource=status", "--type=merge"),
            "-p",
            json.dumps({"status": {"observedGeneration": 1}}),
        )
        eventually(lambda: ready_condition(cluster, RECORDS, tenant_record) == ("True", "Published"), what="Published")

        for resource, name in ((CERTIFICATES, "web-local"), (RECORDS, "web-local"), (RECORDS, tenant_record)):
            delete(cluster, resource, name)
        eventually(
            lambda: (
                gone(cluster, ENDPOINTS, "web-local", LEASE_NAMESPACE)
                and gone(cluster, CM_CERTIFICATES, "web-local", LEASE_NAMESPACE)
                and gone(cluster, ENDPOINTS, tenant_record, kubeop_minimal)
                and gone(cluster, RECORDS, "web-local")
                and gone(cluster, CERTIFICATES, "web-local")
            ),
            what="children deleted with their owners",
        )


def test_a_tenant_owners_record_and_certificate_publish_from_the_tenants_namespace(
    cluster: ControlPlane, kubeop_minimal: str, platform: LocalPlatform, tmp_path: Path
) -> None:
    """Through the webhook: an owner writes them without a tenant label, admission stamps it, the children follow."""
    install_third_party_crds(cluster)
    name, owner = unique("own"), unique("carol")
    host, namespace = f"www.{name}.example", f"kubeop-{name}-web"
    apply(
        cluster,
        tenant(name, owners=[{"kind": "User", "name": owner}], allowedDomains=[f"*.{name}.example"]),
        project(name, name, "web"),
    )
    cluster.kubectl("create", "clusterrolebinding", owner, "--clusterrole=tenantgate-tenant-owner", f"--user={owner}")
    record = {
        "apiVersion": KUBEOP_API,
        "kind": "DNSRecord",
        "metadata": {"name": name},
        "spec": {"host": host, "target": "lb.example.net"},
    }
    cert = {
        "apiVersion": KUBEOP_API,
        "kind": "Certificate",
        "metadata": {"name": name},
        "spec": {"host": host, "dnsRecordRef": name},
    }
    # With the webhook installed, the controller is tenantgate's own ServiceAccount (the chart's identity).
    with controller(cluster, tmp_path, "owner", kubeconfig=platform.controller_kubeconfig):
        eventually(lambda: get_json(cluster, "namespace", namespace), what=f"namespace {namespace}")
        stdin = yaml.safe_dump_all([record, cert])
        eventually(  # the webhook's view of the new Tenant trails the API server by a moment
            lambda: cluster.kubectl("apply", "-f", "-", stdin=stdin, as_user=owner, check=False).returncode == 0,
            what="owner's DNSRecord and Certificate admitted",
        )
        labels = (get_json(cluster, RECORDS, name) or {})["metadata"]["labels"]
        assert labels["app.kubeop.io/tenant"] == name
        endpoint = eventually(lambda: get_json(cluster, ENDPOINTS, name, "-n", namespace), what="tenant's DNSEndpoint")
        assert endpoint["spec"]["endpoints"][0]["recordType"] == "CNAME"
        eventually(lambda: get_json(cluster, CM_CERTIFICATES, name, "-n", namespace), what="cert-manager Certificate")
        play_cert_manager(cluster, name, namespace)
        eventually(lambda: status(cluster, CERTIFICATES, name).get("ready") is True, timeout=60, what="issued")
        cluster.kubectl("delete", CERTIFICATES, name, "--wait=false", as_user=owner)
        cluster.kubectl("delete", RECORDS, name, "--wait=false", as_user=owner)
        eventually(
            lambda: gone(cluster, ENDPOINTS, name, namespace) and gone(cluster, CM_CERTIFICATES, name, namespace),
            what="children deleted",
        )
    cluster.kubectl("delete", "project", name, "--wait=false", check=False)
    cluster.kubectl("delete", "tenant", name, "--wait=false", check=False)
    cluster.kubectl("delete", "clusterrolebinding", owner, "--ignore-not-found", check=False)
