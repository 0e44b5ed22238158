"""The Helm chart as users install it: lint-clean, values checked by its schema, and every rendering of it routing
exactly what the code routes (the pinned `helm`)."""

from __future__ import annotations

import base64
import subprocess
from typing import Any

import pytest
import yaml

from admission.configuration import RoutingOptions, WebhookEndpoint, webhook_configurations
from tenantgate.chart import CHART_DIR
from tenantgate.devcluster import ControlPlane

pytestmark = pytest.mark.e2e

NAMESPACE = "platform"
CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def render(cluster: ControlPlane, *sets: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    args = ["template", "tenantgate", str(CHART_DIR), "--namespace", NAMESPACE]
    for value in sets:
        args += ["--set", value]
    return cluster.helm(*args, check=check)


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def test_helm_lint_is_clean(cluster: ControlPlane) -> None:
    result = cluster.helm("lint", "--strict", str(CHART_DIR), check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("webhook.replicas=two", "/webhook/replicas"),
        ("webhook.timeoutSeconds=60", "/webhook/timeoutSeconds"),
        ("webhook.url=http://plain.example", "/webhook/url"),
        ("policy.KUBEOP_IMAGE_ALLOWLISTS=docker.io", "KUBEOP_IMAGE_ALLOWLISTS"),
        ("certs.certManager.enabled=maybe", "/certs/certManager/enabled"),
        ("controller.providers.dnsURL=http://user:token@dns.example", "/controller/providers/dnsURL"),
    ],
)
def test_the_values_schema_rejects_a_wrong_value(cluster: ControlPlane, value: str, complaint: str) -> None:
    result = render(cluster, value, check=False)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_the_controller_gets_kubeops_provider_knobs_from_values_or_a_secret(cluster: ControlPlane) -> None:
    def controller_container(*sets: str) -> dict[str, Any]:
        [deployment] = [
            d
            for d in by_kind(documents(render(cluster, *sets).stdout), "Deployment")
            if "controller" in d["metadata"]["name"]
        ]
        container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
        return container

    plain = controller_container()
    assert {e["name"] for e in plain["env"]}.isdisjoint({"DNS_MOCK_URL", "ACME_MOCK_URL"})
    assert "envFrom" not in plain
    configured = controller_container(
        "controller.providers.dnsURL=http://dns-mock.platform.svc:8080",
        "controller.providers.acmeURL=https://acme-mock.platform.svc",
        "controller.providers.secret=provider-urls",
    )
    env = {e["name"]: e.get("value") for e in configured["env"]}
    assert env["DNS_MOCK_URL"] == "http://dns-mock.platform.svc:8080"
    assert env["ACME_MOCK_URL"] == "https://acme-mock.platform.svc"
    assert configured["envFrom"] == [{"secretRef": {"name": "provider-urls", "optional": False}}]


def test_the_rendered_webhook_configurations_are_the_generators(cluster: ControlPlane) -> None:
    url = "https://127.0.0.1:9443"
    docs = documents(render(cluster, f"webhook.url={url}", f"webhook.caBundle={base64.b64encode(CA).decode()}").stdout)
    expected = webhook_configurations(
        WebhookEndpoint(url=url),
        CA,
        RoutingOptions(own_namespace=NAMESPACE, own_usernames=(f"system:serviceaccount:{NAMESPACE}:tenantgate",)),
    )
    for rendered_kind, generated in zip(
        ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"), expected, strict=True
    ):
        [rendered] = by_kind(docs, rendered_kind)
        assert rendered["webhooks"] == generated["webhooks"]
    assert by_kind(docs, "Deployment") == [
        d for d in by_kind(docs, "Deployment") if "controller" in d["metadata"]["name"]
    ]


def test_in_cluster_the_webhooks_call_the_service_and_certs_are_ensured_at_install(cluster: ControlPlane) -> None:
    docs = documents(render(cluster).stdout)
    for configuration in (
        *by_kind(docs, "MutatingWebhookConfiguration"),
        *by_kind(docs, "ValidatingWebhookConfiguration"),
    ):
        for hook in configuration["webhooks"]:
            assert hook["clientConfig"]["service"]["name"] == "tenantgate-webhook"
            assert hook["clientConfig"]["service"]["namespace"] == NAMESPACE
            assert "caBundle" not in hook["clientConfig"], "injected by `tenantgate certs ensure`"
    [job] = by_kind(docs, "Job")
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["certs", "ensure"]
    assert {"tenantgate-mutating", "tenantgate-validating"} <= set(args)


def test_with_cert_manager_its_ca_injector_fills_the_ca_bundle(cluster: ControlPlane) -> None:
    docs = documents(render(cluster, "certs.certManager.enabled=true").stdout)
    [configuration] = by_kind(docs, "ValidatingWebhookConfiguration")
    assert configuration["metadata"]["annotations"] == {
        "cert-manager.io/inject-ca-from": f"{NAMESPACE}/tenantgate-webhook"
    }
    assert by_kind(docs, "Certificate")
    assert not by_kind(docs, "Job")


@pytest.mark.parametrize("kind", ["Deployment", "Job", "CronJob"])
def test_every_container_runs_hardened(cluster: ControlPlane, kind: str) -> None:
    for doc in by_kind(documents(render(cluster).stdout), kind):
        spec = (
            doc["spec"]["template"]["spec"]
            if kind != "CronJob"
            else doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        )
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"] == {"drop": ["ALL"]}
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_webhook_runs_two_replicas_spread_with_a_disruption_budget(cluster: ControlPlane) -> None:
    docs = documents(render(cluster).stdout)
    [webhook] = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "tenantgate-webhook"]
    assert webhook["spec"]["replicas"] == 2
    assert webhook["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    probe = webhook["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]
    assert probe["path"] == "/readyz"
    [budget] = by_kind(docs, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
