"""The two routings on the real API server: one webhook call per write, the same verdicts, and reinvocation.

- With `webhook.singleCall` (the default) a tenant's Pod create costs the API server one call to tenantgate, by
  its own `apiserver_admission_webhook_admission_duration_seconds` counters; with `singleCall=false`, two.
- Both routings give the same verdicts and the same texts (only the webhook's name differs) for defaults,
  refusals, deletions of tenantgate's fences and Namespace label tampering.
- A mutating webhook the platform registers after tenantgate's, which injects a sidecar from a registry the
  tenant may not use, brings the object back to tenantgate (reinvocation), and the Pod is refused.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
import yaml
from aiohttp import web

from tenantgate.devcluster import ControlPlane
from tenantgate.devcluster.platform import LocalPlatform
from tests.conftest import unique
from tests.e2e.test_controller_support import eventually

pytestmark = pytest.mark.e2e

OWNER = ("rita", ("route-owners",))
WEBHOOK_CALLS = re.compile(
    r'^apiserver_admission_webhook_admission_duration_seconds_count\{name="(?P<name>[^"]+)",'
    r'[^}]*type="(?P<type>[^"]+)"\} (?P<count>\d+)',
    re.MULTILINE,
)


def tenantgate_calls(cluster: ControlPlane) -> dict[tuple[str, str], int]:
    """(webhook name, type) -> calls the API server has made to tenantgate's webhooks so far."""
    text = cluster.kubectl("get", "--raw", "/metrics").stdout
    calls: dict[tuple[str, str], int] = {}
    for match in WEBHOOK_CALLS.finditer(text):
        if match["name"].endswith("tenantgate.io"):
            key = (match["name"], match["type"])
            calls[key] = calls.get(key, 0) + int(match["count"])
    return calls


def added_calls(before: dict[tuple[str, str], int], after: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    return {key: count - before.get(key, 0) for key, count in after.items() if count != before.get(key, 0)}


def pod(name: str, namespace: str, image: str = "docker.io/library/nginx:1.25") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": image,
                    "securityContext": {"allowPrivilegeEscalation": False},
                }
            ]
        },
    }


def escalating_pod(namespace: str) -> dict[str, Any]:
    body = pod("esc", namespace)
    body["spec"]["containers"][0]["securityContext"] = {"allowPrivilegeEscalation": True}
    return body


class Tenancy:
    def __init__(self, tenant: str, namespace: str) -> None:
        self.tenant = tenant
        self.namespace = namespace


@pytest.fixture(scope="module")
def tenancy(cluster: ControlPlane, platform: LocalPlatform) -> Iterator[Tenancy]:
    tenant = unique("route")
    namespace = f"kubeop-{tenant}-web"
    documents: list[dict[str, Any]] = [
        {
            "apiVersion": "paas.kubeop.io/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": tenant},
            "spec": {
                "name": tenant,
                "owners": [{"kind": "Group", "name": OWNER[1][0]}],
                "allowedRegistries": {"exact": ["docker.io/library"]},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"app.kubeop.io/tenant": tenant, "app.kubeop.io/project": "web"}},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "owners", "namespace": namespace},
            "subjects": [{"kind": "Group", "name": OWNER[1][0], "apiGroup": "rbac.authorization.k8s.io"}],
            "roleRef": {"kind": "ClusterRole", "name": "admin", "apiGroup": "rbac.authorization.k8s.io"},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": "fence",
                "namespace": namespace,
                "labels": {"app.kubernetes.io/managed-by": "tenantgate"},
            },
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        },
    ]
    cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(documents))
    probe = yaml.safe_dump(pod("probe", namespace))
    eventually(
        lambda: owner(cluster, "apply", "--dry-run=server", "-f", "-", stdin=probe).returncode == 0,
        timeout=60,
        what="the webhook knows the tenant namespace",
    )
    yield Tenancy(tenant, namespace)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)
    cluster.kubectl("delete", "tenant", tenant, "--wait=false", "--ignore-not-found", check=False)


def owner(cluster: ControlPlane, *args: str, stdin: str | None = None) -> Any:
    return cluster.kubectl(*args, as_user=OWNER[0], as_groups=OWNER[1], stdin=stdin, check=False)


def set_routing(cluster: ControlPlane, platform: LocalPlatform, *, single_call: bool) -> None:
    """Re-install the chart with the routing, and wait until the API server calls the webhook that way."""
    ca_bundle = (platform.cert_dir / "ca.crt").read_bytes()
    platform.install_chart(ca_bundle, f"webhook.singleCall={'true' if single_call else 'false'}")
    wanted = "/admit" if single_call else "/mutate"

    def routed() -> bool:
        stored = json.loads(
            cluster.kubectl("get", "mutatingwebhookconfiguration", "tenantgate-mutating", "-o", "json").stdout
        )
        return all(hook["clientConfig"]["url"].endswith(wanted) for hook in stored["webhooks"])

    eventually(routed, timeout=30, what=f"mutating webhooks at {wanted}")


@pytest.fixture
def separate_calls(cluster: ControlPlane, platform: LocalPlatform) -> Iterator[None]:
    set_routing(cluster, platform, single_call=False)
    try:
        yield
    finally:
        set_routing(cluster, platform, single_call=True)


def create_counting_calls(cluster: ControlPlane, namespace: str, count: int) -> dict[tuple[str, str], int]:
    # The API server's counters are read before and after; nothing else writes in tenant namespaces meanwhile.
    before = tenantgate_calls(cluster)
    for index in range(count):
        result = owner(cluster, "create", "-f", "-", stdin=yaml.safe_dump(pod(unique(f"p{index}"), namespace)))
        assert result.returncode == 0, result.stderr
    return added_calls(before, tenantgate_calls(cluster))


def test_a_single_call_per_pod_create(cluster: ControlPlane, tenancy: Tenancy) -> None:
    added = create_counting_calls(cluster, tenancy.namespace, 5)
    assert added == {("tenant-workloads.tenantgate.io", "admit"): 5}


def test_separate_calls_cost_two_per_pod_create(cluster: ControlPlane, tenancy: Tenancy, separate_calls: None) -> None:
    added = create_counting_calls(cluster, tenancy.namespace, 5)
    assert added == {
        ("tenant-workloads.mutate.tenantgate.io", "admit"): 5,
        ("tenant-workloads.validate.tenantgate.io", "validating"): 5,
    }


WEBHOOK_NAME = re.compile(r'admission webhook "[^"]+" denied the request')


def verdicts(cluster: ControlPlane, tenancy: Tenancy) -> list[tuple[str, int, str]]:
    """What a tenant owner sees for a set of writes, with the webhook's name left out."""
    ns = tenancy.namespace
    cases: list[tuple[str, list[str], str | None]] = [
        ("allowed Pod", ["apply", "--dry-run=server", "-o", "json", "-f", "-"], yaml.safe_dump(pod("ok", ns))),
        ("foreign image", ["apply", "--dry-run=server", "-f", "-"], yaml.safe_dump(pod("x", ns, "evil.example/x:1"))),
        (
            "privileged escalation",
            ["apply", "--dry-run=server", "-f", "-"],
            yaml.safe_dump(escalating_pod(ns)),
        ),
        ("fence deletion", ["delete", "networkpolicy", "fence", "-n", ns, "--dry-run=server"], None),
        (
            "namespace relabel",
            ["label", "namespace", ns, "app.kubeop.io/tenant=other", "--overwrite", "--dry-run=server"],
            None,
        ),
    ]
    seen = []
    for what, args, stdin in cases:
        result = owner(cluster, *args, stdin=stdin)
        text = result.stderr if result.returncode else json.loads(result.stdout)["metadata"].get("labels", {})
        seen.append((what, result.returncode, WEBHOOK_NAME.sub("admission webhook denied the request", str(text))))
    return seen


def test_both_routings_give_the_same_verdicts(cluster: ControlPlane, platform: LocalPlatform, tenancy: Tenancy) -> None:
    single = verdicts(cluster, tenancy)
    set_routing(cluster, platform, single_call=False)
    try:
        separate = verdicts(cluster, tenancy)
    finally:
        set_routing(cluster, platform, single_call=True)
    assert single == separate
    by_case = {what: (code, text) for what, code, text in single}
    assert by_case["allowed Pod"][0] == 0
    assert f"'app.kubeop.io/tenant': '{tenancy.tenant}'" in by_case["allowed Pod"][1], "defaulted labels"
    assert 'spec.containers[0].image "evil.example/x:1" is not from an allowed registry' in by_case["foreign image"][1]
    assert "allowPrivilegeEscalation" in by_case["privileged escalation"][1]
    assert by_case["fence deletion"][0] != 0
    assert by_case["namespace relabel"][0] != 0


class SidecarInjector:
    """A platform's mutating webhook: adds a container from a registry the tenant may not use to every Pod."""

    IMAGE = "registry.platform.example/agent:2.1"

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self.calls = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sidecar-injector", daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def start(self) -> SidecarInjector:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/inject", self._inject)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1").configure_cert(context)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        assert site._server is not None
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _inject(self, request: web.Request) -> web.Response:
        self.calls += 1
        review = await request.json()
        containers = review["request"]["object"]["spec"]["containers"]
        response: dict[str, Any] = {"uid": review["request"]["uid"], "allowed": True}
        if all(c.get("image") != self.IMAGE for c in containers):
            sidecar = {"name": "agent", "image": self.IMAGE, "securityContext": {"allowPrivilegeEscalation": False}}
            patch = [{"op": "add", "path": "/spec/containers/-", "value": sidecar}]
            response |= {"patchType": "JSONPatch", "patch": base64.b64encode(json.dumps(patch).encode()).decode()}
        return web.json_response({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    def configuration(self, namespace: str) -> dict[str, Any]:
        # Named to sort after tenantgate-mutating, so the API server calls it after tenantgate.
        return {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "zz-platform-sidecar"},
            "webhooks": [
                {
                    "name": "sidecar.platform.example",
                    "admissionReviewVersions": ["v1"],
                    "clientConfig": {
                        "url": f"https://127.0.0.1:{self.port}/inject",
                        "caBundle": base64.b64encode(self.ca.cert_pem.bytes()).decode(),
                    },
                    "rules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "resources": ["pods"],
                            "operations": ["CREATE"],
                            "scope": "Namespaced",
                        }
                    ],
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                    "failurePolicy": "Fail",
                    "sideEffects": "None",
                    "timeoutSeconds": 5,
                    "reinvocationPolicy": "Never",
                }
            ],
        }


def test_a_later_mutating_webhook_brings_the_pod_back_to_tenantgate(cluster: ControlPlane, tenancy: Tenancy) -> None:
    injector = SidecarInjector().start()
    try:
        cluster.kubectl("apply", "-f", "-", stdin=json.dumps(injector.configuration(tenancy.namespace)))
        manifest = yaml.safe_dump(pod("p", tenancy.namespace))

        def create_once_the_injector_is_called() -> Any:
            result = owner(cluster, "create", "--dry-run=server", "-f", "-", stdin=manifest)
            return result if injector.calls else None

        result = eventually(create_once_the_injector_is_called, timeout=30, what="the sidecar webhook is called")
        assert result.returncode != 0, "the injected sidecar's registry is not the tenant's"
        assert f'"{SidecarInjector.IMAGE}" is not from an allowed registry' in result.stderr
        assert injector.calls >= 1
    finally:
        cluster.kubectl("delete", "mutatingwebhookconfiguration", "zz-platform-sidecar", "--ignore-not-found")
        injector.stop()
