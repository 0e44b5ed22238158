"""Shops against a real control plane with `tenantgate controller` running and the third-party CRDs installed.

There is no kubelet and no database operator: the tests publish `<shop>-app` themselves, as CNPG or the MongoDB
operator would, and write the Deployment's status as a node would.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tenantgate.devcluster import ControlPlane
from tests.conftest import unique
from tests.e2e.test_controller_support import (
    LEASE_NAMESPACE,
    ControllerProcess,
    apply,
    eventually,
    get_json,
    install_platform,
)

WALLET_ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"

pytestmark = pytest.mark.e2e

FIXTURE_CRDS = Path(__file__).resolve().parents[1] / "fixtures" / "crds"
RECONCILERS = "tenant,project,shop,app"


def install_third_party_crds(cluster: ControlPlane) -> None:
    cluster.kubectl("apply", "-f", str(FIXTURE_CRDS))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


def start_controller(cluster: ControlPlane, log_dir: Path, name: str) -> ControllerProcess:
    install_platform(cluster, LEASE_NAMESPACE)
    install_third_party_crds(cluster)
    process = ControllerProcess(
        cluster, LEASE_NAMESPACE, unique(name), log_dir, extra_env={"TENANTGATE_RECONCILERS": RECONCILERS}
    )
    process.start()
    eventually(process.is_leader, timeout=60, what="leadership")
    return process


@pytest.fixture(scope="module")
def controller(cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    process = start_controller(cluster, tmp_path_factory.mktemp("controller"), "shops")
    yield process
    assert process.stop() == 0, process.log_tail()


def shop(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    body = {
        "title": name.title(),
        "walletAddress": WALLET_ADDRESS,
        "image": "ghcr.io/acme/shop:1",
        **spec,
    }
    return {
        "apiVersion": "apps.shophub.local/v1",
        "kind": "Shop",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def secret(name: str, namespace: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": dict(data),
    }


def conditions(obj: dict[str, Any] | None) -> dict[str, tuple[str, str]]:
    found = ((obj or {}).get("status") or {}).get("conditions") or []
    return {c["type"]: (c["status"], c["reason"]) for c in found}


def deployment(cluster: ControlPlane, namespace: str, name: str) -> dict[str, Any] | None:
    return get_json(cluster, "deployment", name, "-n", namespace)


def replicas_are(cluster: ControlPlane, namespace: str, name: str, replicas: int) -> bool:
    found = deployment(cluster, namespace, name)
    return bool(found and found["spec"]["replicas"] == replicas)


def test_postgres_shop_lifecycle(cluster: ControlPlane, controller: ControllerProcess, namespace: str) -> None:
    name = unique("shop")
    apply(cluster, secret(f"{name}-webhook", namespace, **{"webhook-url": "https://discord.invalid/x"}))
    apply(cluster, shop(name, namespace, discordWebhookSecretRef={"name": f"{name}-webhook"}))

    cnpg = eventually(lambda: get_json(cluster, "clusters.postgresql.cnpg.io", name, "-n", namespace), what="Cluster")
    assert cnpg["spec"]["bootstrap"]["initdb"]["owner"] == name
    waiting = eventually(
        lambda: (
            (o := get_json(cluster, "shop", name, "-n", namespace))
            and conditions(o).get("Progressing") == ("True", "DatabaseProvisioning")
            and o
        ),
        what="Progressing/DatabaseProvisioning",
    )
    assert conditions(waiting)["Available"] == ("False", "DatabaseProvisioning")
    assert deployment(cluster, namespace, name) is None

    apply(cluster, secret(f"{name}-app", namespace, uri="postgresql://shop@db/shop"))
    built = eventually(lambda: deployment(cluster, namespace, name), what="Deployment after <shop>-app")
    [container] = built["spec"]["template"]["spec"]["containers"]
    assert container["env"][0]["valueFrom"]["secretKeyRef"] == {"name": f"{name}-app", "key": "uri"}
    assert container["env"][-1]["name"] == "DISCORD_WEBHOOK_URL"
    assert built["spec"]["replicas"] == 2
    admin = get_json(cluster, "secret", f"{name}-admin", "-n", namespace)
    assert admin is not None
    password = base64.b64decode(admin["data"]["password"]).decode()
    assert len(password) == 32
    for kind, child in [
        ("service", name),
        ("ingress", name),
        ("configmap", f"{name}-dashboard"),
        ("servicemonitors.monitoring.coreos.com", name),
        ("alertmanagerconfigs.monitoring.coreos.com", name),
    ]:
        eventually(lambda k=kind, c=child: get_json(cluster, k, c, "-n", namespace), what=f"{kind} {child}")
    dashboard = get_json(cluster, "configmap", f"{name}-dashboard", "-n", namespace)
    assert dashboard is not None
    assert json.loads(dashboard["data"][f"{name}.json"])["uid"] == f"shop-{name}"
    deploying = eventually(
        lambda: (
            (o := get_json(cluster, "shop", name, "-n", namespace))
            and conditions(o).get("Available") == ("False", "Deploying")
            and o
        ),
        what="Available=False/Deploying",
    )
    assert conditions(deploying)["Degraded"] == ("False", "Deploying")
    assert deploying["status"]["url"] == f"http://{name}.localhost"
    assert deploying["status"]["selector"] == f"app={name}"

    # A rotated connection Secret rolls the pods; the admin password is never regenerated.
    template_hash = built["spec"]["template"]["metadata"]["annotations"]["tenantgate.io/secret-hash"]
    apply(cluster, secret(f"{name}-app", namespace, uri="postgresql://shop@db2/shop"))
    eventually(
        lambda: (
            (d := deployment(cluster, namespace, name))
            and d["spec"]["template"]["metadata"]["annotations"]["tenantgate.io/secret-hash"] != template_hash
        ),
        what="secret hash rolled",
    )
    again = get_json(cluster, "secret", f"{name}-admin", "-n", namespace)
    assert again is not None
    assert again["data"] == admin["data"]

    cluster.kubectl("patch", "shop", name, "-n", namespace, "--type=merge", "-p", '{"spec":{"availability":"high"}}')
    eventually(lambda: replicas_are(cluster, namespace, name, 3), what="replicas 3 for high")
    cluster.kubectl("scale", "shop", name, "-n", namespace, "--replicas=4")
    eventually(lambda: replicas_are(cluster, namespace, name, 4), what="replicas 4 after kubectl scale")

    status = {"status": {"replicas": 4, "readyReplicas": 4, "availableReplicas": 4, "updatedReplicas": 4}}
    cluster.kubectl(
        "patch", "deployment", name, "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )
    ready = eventually(
        lambda: (
            (o := get_json(cluster, "shop", name, "-n", namespace))
            and conditions(o).get("Available") == ("True", "Ready")
            and o
        ),
        what="Available=True",
    )
    assert ready["status"]["readyReplicas"] == 4
    assert conditions(ready)["Degraded"] == ("False", "Ready")

    cluster.kubectl(
        "patch", "shop", name, "-n", namespace, "--type=merge", "-p", '{"spec":{"discordWebhookSecretRef":null}}'
    )
    eventually(
        lambda: get_json(cluster, "alertmanagerconfigs.monitoring.coreos.com", name, "-n", namespace) is None,
        what="AlertmanagerConfig pruned",
    )

    cluster.kubectl("delete", "shop", name, "-n", namespace, "--wait=false")
    eventually(
        lambda: all(
            get_json(cluster, kind, child, "-n", namespace) is None
            for kind, child in [
                ("deployment", name),
                ("service", name),
                ("ingress", name),
                ("secret", f"{name}-admin"),
                ("configmap", f"{name}-dashboard"),
                ("clusters.postgresql.cnpg.io", name),
                ("servicemonitors.monitoring.coreos.com", name),
            ]
        ),
        timeout=150,
        interval=2,
        what="children garbage-collected",
    )
    assert get_json(cluster, "secret", f"{name}-app", "-n", namespace) is not None  # not ours: left alone


def test_mongodb_shops_share_rbac_and_use_the_connection_string(
    cluster: ControlPlane, controller: ControllerProcess, namespace: str
) -> None:
    first, second = unique("mshop"), unique("mshop")
    apply(cluster, shop(first, namespace, database="mongodb"), shop(second, namespace, database="mongodb"))
    mongo = eventually(
        lambda: get_json(cluster, "mongodbcommunity.mongodbcommunity.mongodb.com", first, "-n", namespace),
        what="MongoDBCommunity",
    )
    assert mongo["spec"]["users"][0]["connectionStringSecretName"] == f"{first}-app"
    password = get_json(cluster, "secret", f"{first}-mongo-pw", "-n", namespace)
    assert password is not None
    assert len(base64.b64decode(password["data"]["password"])) == 32

    def shared_by_both() -> bool:
        for kind in ("serviceaccount", "role", "rolebinding"):
            found = get_json(cluster, kind, "mongodb-database", "-n", namespace)
            references = (found or {}).get("metadata", {}).get("ownerReferences") or []
            if {r["name"] for r in references} != {first, second} or any(r.get("controller") for r in references):
                return False
        return True

    eventually(shared_by_both, what="mongodb-database owned by both shops (non-controller)")
    apply(cluster, secret(f"{first}-app", namespace, **{"connectionString.standard": "mongodb://x"}))
    built = eventually(lambda: deployment(cluster, namespace, first), what="Deployment")
    env = built["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0]["valueFrom"]["secretKeyRef"] == {"name": f"{first}-app", "key": "connectionString.standard"}
    assert password == get_json(cluster, "secret", f"{first}-mongo-pw", "-n", namespace)
