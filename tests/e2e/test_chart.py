"""The Helm chart as users install it: lint-clean, values checked by its schema, and every rendering of it routing
exactly what the code routes (the pinned `helm`)."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from admission.configuration import RoutingOptions, WebhookEndpoint, webhook_configurations
from tenantgate.chart import CHART_DIR
from tenantgate.cli import build_parser
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


@pytest.mark.parametrize("single_call", [True, False])
def test_the_rendered_webhook_configurations_are_the_generators(cluster: ControlPlane, single_call: bool) -> None:
    url = "https://127.0.0.1:9443"
    settings = [f"webhook.url={url}", f"webhook.caBundle={base64.b64encode(CA).decode()}"]
    if not single_call:  # the default is a single call per write
        settings.append("webhook.singleCall=false")
    docs = documents(render(cluster, *settings).stdout)
    expected = webhook_configurations(
        WebhookEndpoint(url=url),
        CA,
        RoutingOptions(
            own_namespace=NAMESPACE,
            own_usernames=(f"system:serviceaccount:{NAMESPACE}:tenantgate",),
            single_call=single_call,
        ),
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


def test_a_stopping_webhook_replica_outlives_its_endpoint_and_its_drain(cluster: ControlPlane) -> None:
    from webhook.server import ServerConfig

    pod = _deployment(documents(render(cluster).stdout), "tenantgate-webhook")["spec"]["template"]["spec"]
    pause = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pause == 5
    drain = ServerConfig.__dataclass_fields__["shutdown_timeout"].default
    assert pod["terminationGracePeriodSeconds"] >= pause + drain, "the kubelet must not kill a replica mid-drain"
    without = _deployment(documents(render(cluster, "webhook.preStopSeconds=0").stdout), "tenantgate-webhook")
    assert "lifecycle" not in without["spec"]["template"]["spec"]["containers"][0]


def _deployment(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [found] = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == name]
    return found


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


CLIENT_CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_without_client_auth_the_webhook_takes_any_tls_client_and_probes_over_https(cluster: ControlPlane) -> None:
    container = _container(_deployment(documents(render(cluster).stdout), "tenantgate-webhook"))
    assert "--client-ca-file" not in container["args"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert all(m["name"] != "client-ca" for m in container["volumeMounts"])


@pytest.mark.parametrize(
    ("value", "volume"),
    [
        (f"webhook.clientAuth.caBundle={CLIENT_CA}", {"configMap": {"name": "tenantgate-webhook-client-ca"}}),
        (
            "webhook.clientAuth.secretName=apiserver-client-ca",
            {"secret": {"secretName": "apiserver-client-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        ),
    ],
    ids=["ca-bundle", "secret"],
)
def test_client_auth_mounts_the_ca_and_passes_it_to_the_webhook(
    cluster: ControlPlane, value: str, volume: dict[str, Any]
) -> None:
    docs = documents(render(cluster, value).stdout)
    webhook = _deployment(docs, "tenantgate-webhook")
    container = _container(webhook)
    parsed = build_parser().parse_args(container["args"])
    assert parsed.client_ca_file == Path("/client-ca/ca.crt")
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "client-ca"]
    assert mount == {"name": "client-ca", "mountPath": "/client-ca", "readOnly": True}
    [mounted] = [v for v in webhook["spec"]["template"]["spec"]["volumes"] if v["name"] == "client-ca"]
    assert {k: v for k, v in mounted.items() if k != "name"} == volume
    assert container["readinessProbe"] == {"tcpSocket": {"port": "https"}, "periodSeconds": 5}
    configmaps = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "tenantgate-webhook-client-ca"]
    assert [c["data"] for c in configmaps] == ([{"ca.crt": CLIENT_CA}] if "caBundle" in value else [])


def test_the_client_ca_must_be_pem(cluster: ControlPlane) -> None:
    result = render(
        cluster, f"webhook.clientAuth.caBundle={base64.b64encode(CLIENT_CA.encode()).decode()}", check=False
    )
    assert result.returncode != 0
    assert "/webhook/clientAuth/caBundle" in result.stderr


def _policies(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d["spec"] for d in by_kind(docs, "NetworkPolicy")}


def test_the_network_policy_admits_only_the_api_server_to_the_webhook_and_monitoring_to_metrics(
    cluster: ControlPlane,
) -> None:
    """Rendered only: no CNI enforces NetworkPolicy on the local control plane."""
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    apiserver = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"component": "kube-apiserver"}},
    }
    result = render(
        cluster,
        "networkPolicy.enabled=true",
        "networkPolicy.apiServerCIDRs={10.0.0.10/32,10.0.0.11/32}",
        "networkPolicy.apiServerFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=kube-system",
        "networkPolicy.apiServerFrom[0].podSelector.matchLabels.component=kube-apiserver",
        "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring",
    )
    policies = _policies(documents(result.stdout))
    webhook, controller = policies["tenantgate-webhook"], policies["tenantgate-controller"]
    assert webhook["policyTypes"] == ["Ingress"]
    assert webhook["ingress"] == [
        {
            "from": [{"ipBlock": {"cidr": "10.0.0.10/32"}}, {"ipBlock": {"cidr": "10.0.0.11/32"}}, apiserver],
            "ports": [{"port": 8443, "protocol": "TCP"}],
        },
        {"from": [monitoring], "ports": [{"port": 8443, "protocol": "TCP"}]},
    ]
    assert controller["ingress"] == [{"from": [monitoring], "ports": [{"port": 8081, "protocol": "TCP"}]}]


def test_without_metrics_peers_the_controller_admits_nothing(cluster: ControlPlane) -> None:
    policies = _policies(
        documents(render(cluster, "networkPolicy.enabled=true", "networkPolicy.apiServerCIDRs={10.0.0.10/32}").stdout)
    )
    assert policies["tenantgate-controller"]["ingress"] == []
    assert [rule["from"] for rule in policies["tenantgate-webhook"]["ingress"]] == [
        [{"ipBlock": {"cidr": "10.0.0.10/32"}}]
    ]


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        (["networkPolicy.enabled=true"], "a rule without sources would admit every pod"),
        (["networkPolicy.enabled=true", "networkPolicy.apiServerCIDRs={10.0.0.10}"], "/networkPolicy/apiServerCIDRs/0"),
    ],
)
def test_a_network_policy_without_api_server_sources_is_refused(
    cluster: ControlPlane, values: list[str], complaint: str
) -> None:
    result = render(cluster, *values, check=False)
    assert result.returncode != 0
    assert complaint in result.stderr


# ---- the rendered Deployments against the real command line and servers --------------------------------------


def _probe_port(container: dict[str, Any], probe: dict[str, Any]) -> int:
    port = (probe.get("httpGet") or probe.get("tcpSocket") or {})["port"]
    if isinstance(port, int):
        return port
    [named] = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(named)


@pytest.mark.parametrize("values", [[], [f"webhook.clientAuth.caBundle={CLIENT_CA}"]], ids=["default", "client-auth"])
def test_every_rendered_command_is_accepted_by_the_cli_and_names_only_mounted_paths(
    cluster: ControlPlane, values: list[str]
) -> None:
    docs = documents(render(cluster, *values).stdout)
    parser = build_parser()
    webhook = _container(_deployment(docs, "tenantgate-webhook"))
    args = parser.parse_args(webhook["args"])
    mounts = {m["mountPath"] for m in webhook["volumeMounts"]}
    for path in (args.cert_dir, *([args.client_ca_file.parent] if args.client_ca_file else [])):
        assert str(path) in mounts, f"{path} is not mounted"
    assert {p["containerPort"] for p in webhook["ports"]} == {args.port}
    for probe in ("readinessProbe", "livenessProbe"):
        assert _probe_port(webhook, webhook[probe]) == args.port
        path = webhook[probe].get("httpGet", {}).get("path")
        assert path in (None, "/readyz", "/healthz"), "served by webhook.server"

    controller = _container(_deployment(docs, "tenantgate-controller"))
    parsed = parser.parse_args(controller["args"])
    assert parsed.namespace == NAMESPACE
    env = {e["name"]: e.get("value") for e in controller["env"]}
    health_port = int(env["TENANTGATE_HEALTH_ADDR"].rpartition(":")[2])
    assert {p["containerPort"] for p in controller["ports"]} == {health_port}
    for probe in ("readinessProbe", "livenessProbe"):
        assert _probe_port(controller, controller[probe]) == health_port
        assert controller[probe]["httpGet"]["path"] in ("/readyz", "/healthz"), "served by controller.health"

    for job in by_kind(docs, "Job"):
        [certs] = job["spec"]["template"]["spec"]["containers"]
        assert parser.parse_args(certs["args"]).certs_command == "ensure"
