"""The certificate I/O shell against fake Kubernetes APIs: Secret lifecycle, caBundle injection, ordering."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from certs.bundle import CertBundle, split_pem_certificates
from certs.kube import Conflict, ca_bundle_patch, ensure_in_cluster, inject_ca_bundle
from certs.rotation import next_bundle

pytestmark = pytest.mark.unit

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class ApiError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class Response:
    def __init__(self, body: dict[str, Any]) -> None:
        self.data = json.dumps(body).encode()


class FakeCluster:
    """Secrets and webhook configurations in memory, with resourceVersions and a shared write log."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.configs: dict[tuple[str, str], dict[str, Any]] = {}
        self.log: list[str] = []
        self.version = 0
        self.before_write: list[Any] = []

    def _bump(self) -> str:
        self.version += 1
        return str(self.version)

    # CoreV1Api
    def read_namespaced_secret(self, name: str, namespace: str, **_: Any) -> Response:
        if (namespace, name) not in self.secrets:
            raise ApiError(404)
        return Response(self.secrets[(namespace, name)])

    def create_namespaced_secret(self, namespace: str, body: dict[str, Any]) -> None:
        for hook in self.before_write:
            hook()
        key = (namespace, body["metadata"]["name"])
        if key in self.secrets:
            raise ApiError(409)
        body["metadata"]["resourceVersion"] = self._bump()
        self.secrets[key] = body
        self.log.append(f"create Secret {key[1]}")

    def replace_namespaced_secret(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        for hook in self.before_write:
            hook()
        current = self.secrets[(namespace, name)]
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise ApiError(409)
        body["metadata"]["resourceVersion"] = self._bump()
        self.secrets[(namespace, name)] = body
        self.log.append(f"replace Secret {name}")

    # AdmissionregistrationV1Api
    def _read(self, kind: str, name: str) -> Response:
        if (kind, name) not in self.configs:
            raise ApiError(404)
        return Response(self.configs[(kind, name)])

    def _patch(self, kind: str, name: str, body: list[dict[str, Any]], _content_type: str) -> None:
        assert _content_type == "application/json-patch+json"
        self.configs[(kind, name)] = jsonpatch.apply_patch(self.configs[(kind, name)], body)
        self.log.append(f"patch {kind} {name}")

    def read_mutating_webhook_configuration(self, name: str, **_: Any) -> Response:
        return self._read("mutating", name)

    def read_validating_webhook_configuration(self, name: str, **_: Any) -> Response:
        return self._read("validating", name)

    def patch_mutating_webhook_configuration(self, name: str, body: list[dict[str, Any]], **kw: Any) -> None:
        self._patch("mutating", name, body, kw["_content_type"])

    def patch_validating_webhook_configuration(self, name: str, body: list[dict[str, Any]], **kw: Any) -> None:
        self._patch("validating", name, body, kw["_content_type"])

    def ca_bundles(self, kind: str, name: str) -> list[bytes]:
        return [base64.b64decode(w["clientConfig"].get("caBundle", "")) for w in self.configs[(kind, name)]["webhooks"]]

    def stored_bundle(self, namespace: str = "ns", name: str = "tls") -> CertBundle:
        data = {k: base64.b64decode(v) for k, v in self.secrets[(namespace, name)]["data"].items()}
        return CertBundle.from_data(data)


def configuration(*names: str, ca_bundle: str | None = None) -> dict[str, Any]:
    webhooks = []
    for name in names:
        client_config: dict[str, Any] = {"service": {"name": "svc", "namespace": "ns", "path": "/validate"}}
        if ca_bundle is not None:
            client_config["caBundle"] = ca_bundle
        webhooks.append({"name": name, "clientConfig": client_config})
    return {"apiVersion": "admissionregistration.k8s.io/v1", "metadata": {"name": "cfg"}, "webhooks": webhooks}


@pytest.fixture
def cluster() -> FakeCluster:
    fake = FakeCluster()
    fake.configs[("mutating", "tenantgate")] = configuration("m.tenantgate.io")
    fake.configs[("validating", "tenantgate")] = configuration("v1.tenantgate.io", "v2.tenantgate.io")
    return fake


def ensure(cluster: FakeCluster, now: datetime, **options: Any) -> Any:
    return ensure_in_cluster(
        cluster,
        cluster,
        namespace="ns",
        secret="tls",
        service="svc",
        webhook_configurations=["tenantgate"],
        now=now,
        **options,
    )


# -- pure patch ---------------------------------------------------------------------------------------------


def test_ca_bundle_patch_sets_every_differing_webhook_and_tests_names() -> None:
    config = configuration("a", "b", ca_bundle="old")
    config["webhooks"][1]["clientConfig"]["caBundle"] = "new"
    ops = ca_bundle_patch(config, "new")
    assert ops == [
        {"op": "test", "path": "/webhooks/0/name", "value": "a"},
        {"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": "new"},
    ]
    assert all(w["clientConfig"]["caBundle"] == "new" for w in jsonpatch.apply_patch(config, ops)["webhooks"])


def test_ca_bundle_patch_is_empty_when_everything_matches() -> None:
    assert ca_bundle_patch(configuration("a", "b", ca_bundle="same"), "same") == []


def test_ca_bundle_patch_fails_if_webhooks_were_reordered_concurrently() -> None:
    config = configuration("a", "b")
    ops = ca_bundle_patch(config, "x")
    reordered = {**config, "webhooks": list(reversed(config["webhooks"]))}
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(reordered, ops)


# -- the shell ---------------------------------------------------------------------------------------------


def test_first_run_creates_secret_then_injects_bundle(cluster: FakeCluster, tmp_path: Path) -> None:
    result = ensure(cluster, T0, cert_dir=tmp_path)
    assert result.changed
    assert cluster.log == ["create Secret tls", "patch mutating tenantgate", "patch validating tenantgate"]
    secret = cluster.secrets[("ns", "tls")]
    assert secret["type"] == "kubernetes.io/tls"
    assert set(secret["data"]) == {"ca.crt", "ca.key", "tls.crt", "tls.key"}
    bundle = cluster.stored_bundle()
    assert cluster.ca_bundles("mutating", "tenantgate") == [bundle.ca_bundle_pem]
    assert cluster.ca_bundles("validating", "tenantgate") == [bundle.ca_bundle_pem] * 2
    assert (tmp_path / "tls.crt").read_bytes() == bundle.serving.cert_pem
    assert (tmp_path / "ca.crt").read_bytes() == bundle.ca_bundle_pem
    assert not (tmp_path / "ca.key").exists(), "the CA key stays in the Secret"


def test_second_run_writes_nothing(cluster: FakeCluster) -> None:
    ensure(cluster, T0)
    cluster.log.clear()
    result = ensure(cluster, T0 + timedelta(days=1))
    assert not result.changed
    assert cluster.log == []
    assert result.injection.unchanged == (
        "MutatingWebhookConfiguration/tenantgate",
        "ValidatingWebhookConfiguration/tenantgate",
    )


def test_bundle_drift_in_a_configuration_is_repaired(cluster: FakeCluster) -> None:
    ensure(cluster, T0)
    cluster.configs[("validating", "tenantgate")] = configuration("v1.tenantgate.io", ca_bundle="c3RhbGU=")
    cluster.log.clear()
    ensure(cluster, T0 + timedelta(days=1))
    assert cluster.log == ["patch validating tenantgate"]


def test_ca_rotation_injects_trust_before_replacing_the_secret(cluster: FakeCluster) -> None:
    ensure(cluster, T0)
    first = cluster.stored_bundle()
    cluster.log.clear()
    ensure(cluster, T0 + timedelta(days=3650) * 0.7)
    rotated = cluster.stored_bundle()
    assert rotated.ca != first.ca
    assert cluster.log == ["patch mutating tenantgate", "patch validating tenantgate", "replace Secret tls"]
    assert split_pem_certificates(cluster.ca_bundles("mutating", "tenantgate")[0]) == [
        rotated.ca.cert_pem,
        first.ca.cert_pem,
    ]


def test_lost_race_adopts_the_winner_bundle(cluster: FakeCluster) -> None:
    winner, _ = next_bundle(None, dns_names=["svc"], now=T0)

    def someone_else_creates_first() -> None:
        cluster.before_write.clear()
        cluster.create_namespaced_secret(
            "ns",
            {
                "metadata": {"name": "tls", "namespace": "ns"},
                "type": "kubernetes.io/tls",
                "data": {k: base64.b64encode(v).decode() for k, v in winner.secret_data().items()},
            },
        )

    cluster.before_write.append(someone_else_creates_first)
    result = ensure(cluster, T0)
    assert result.bundle.ca == winner.ca
    assert cluster.ca_bundles("mutating", "tenantgate") == [winner.ca_bundle_pem]


def test_missing_configuration_is_reported(cluster: FakeCluster) -> None:
    result = ensure_in_cluster(
        cluster,
        cluster,
        namespace="ns",
        secret="tls",
        service="svc",
        webhook_configurations=["tenantgate", "absent"],
        now=T0,
    )
    assert result.injection.missing == ("absent",)


def test_unusable_secret_is_reissued(cluster: FakeCluster) -> None:
    cluster.secrets[("ns", "tls")] = {
        "metadata": {"name": "tls", "resourceVersion": "7"},
        "data": {"tls.crt": base64.b64encode(b"garbage").decode()},
    }
    result = ensure(cluster, T0)
    assert result.changed
    assert "replace Secret tls" in cluster.log


def test_persistent_conflicts_give_up(cluster: FakeCluster) -> None:
    def always_conflict() -> None:
        raise ApiError(409)

    cluster.before_write.append(always_conflict)
    with pytest.raises(Conflict):
        ensure(cluster, T0)


def test_inject_only_where_names_exist() -> None:
    fake = FakeCluster()
    fake.configs[("validating", "only-validating")] = configuration("v")
    result = inject_ca_bundle(fake, ["only-validating"], b"PEM")
    assert result.patched == ("ValidatingWebhookConfiguration/only-validating",)
    assert result.missing == ()
