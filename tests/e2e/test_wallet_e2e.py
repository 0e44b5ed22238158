"""Wallets against a real control plane, the controller running under its own ClusterRole only.

shop-operator's samples apply unchanged and converge; a generated key is made once and survives switching to
an owner's address until the user asks for its removal; Solana Wallets get ed25519 keys. The crash test is in
test_wallet_kill_e2e.py, so the controller of this module is stopped before it runs.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.rbac import controller_cluster_role
from controller.reconcilers.wallet import DELETE_KEY_ANNOTATION
from controller.reconcilers.wallet_keys import evm_key_from_private, solana_key_from_seed
from tenantgate.devcluster import ControlPlane
from tests.conftest import unique
from tests.e2e.test_controller_support import (
    ControllerProcess,
    adoptable_by_the_chart,
    apply,
    eventually,
    get_json,
    install_platform,
)

pytestmark = pytest.mark.e2e

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "manifests" / "shophub"
LEASE_NAMESPACE = "tenantgate-wallet-e2e"


def controller_user(cluster: ControlPlane) -> Path:
    """A kubeconfig for a user bound to the controller's generated ClusterRole and nothing else."""
    user = unique("tenantgate-wallet-controller")
    apply(cluster, adoptable_by_the_chart(controller_cluster_role()))
    cluster.kubectl("create", "clusterrolebinding", user, "--clusterrole=tenantgate-controller", f"--user={user}")
    return cluster.mint_user(user)


def start(cluster: ControlPlane, log_dir: Path, kubeconfig: Path, **env: str) -> ControllerProcess:
    process = ControllerProcess(
        cluster,
        LEASE_NAMESPACE,
        unique("wallet"),
        log_dir,
        lease_duration=3.0,
        extra_env={"TENANTGATE_RECONCILERS": "wallet", **env},
        kubeconfig=kubeconfig,
    )
    process.start()
    eventually(process.is_leader, timeout=60, what="leadership")
    return process


@pytest.fixture(scope="module")
def kubeconfig(cluster: ControlPlane) -> Path:
    install_platform(cluster, LEASE_NAMESPACE)
    return controller_user(cluster)


@pytest.fixture(scope="module")
def controller(
    cluster: ControlPlane, kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerProcess]:
    process = start(cluster, tmp_path_factory.mktemp("wallet"), kubeconfig)
    yield process
    assert process.stop() == 0, process.log_tail()
    assert not process.errors(), process.errors()


def wallet(cluster: ControlPlane, namespace: str, name: str) -> dict[str, Any] | None:
    return get_json(cluster, "wallet", name, "-n", namespace)


def ready(cluster: ControlPlane, namespace: str, name: str) -> tuple[str, str] | None:
    conditions = ((wallet(cluster, namespace, name) or {}).get("status") or {}).get("conditions") or []
    found = next((c for c in conditions if c["type"] == "Ready"), None)
    return (found["status"], found["reason"]) if found else None


def wait_ready(cluster: ControlPlane, namespace: str, name: str, reason: str, status: str = "True") -> dict[str, Any]:
    eventually(lambda: ready(cluster, namespace, name) == (status, reason), timeout=60, what=f"{name} {reason}")
    found = wallet(cluster, namespace, name)
    assert found is not None
    return found


def secret_data(cluster: ControlPlane, namespace: str, name: str) -> dict[str, bytes] | None:
    secret = get_json(cluster, "secret", name, "-n", namespace)
    if secret is None:
        return None
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def test_samples_converge(cluster: ControlPlane, controller: ControllerProcess, namespace: str) -> None:
    for name in ("wallet-generated.yaml", "wallet-owner-address.yaml"):
        cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=sample(name))

    owned = wait_ready(cluster, namespace, "tea-house-payouts", "OwnerAddress")
    assert owned["status"]["address"] == "0x52908400098527886E0F7030069857D2E4169EE7"
    assert "privateKeySecretRef" not in owned["status"]
    assert secret_data(cluster, namespace, "tea-house-payouts-key") is None

    generated = wait_ready(cluster, namespace, "wallet-3fa2c1", "KeyStored")
    assert generated["status"]["privateKeySecretRef"] == {"name": "wallet-3fa2c1-key", "namespace": namespace}
    data = secret_data(cluster, namespace, "wallet-3fa2c1-key")
    assert data is not None
    private = data["private-key"].decode()
    assert re.fullmatch(r"[0-9a-f]{64}", private)
    assert evm_key_from_private(bytes.fromhex(private)).address == generated["status"]["address"]
    assert data["address"].decode() == generated["status"]["address"]
    secret = get_json(cluster, "secret", "wallet-3fa2c1-key", "-n", namespace)
    assert secret is not None
    assert secret["metadata"]["ownerReferences"][0]["uid"] == generated["metadata"]["uid"]

    printed = cluster.kubectl("get", "wallets", "-n", namespace).stdout
    assert generated["status"]["address"] in printed
    assert private not in printed


def test_solana_wallet_gets_an_ed25519_key(
    cluster: ControlPlane, controller: ControllerProcess, namespace: str
) -> None:
    doc = {"apiVersion": "payments.shophub.local/v1", "kind": "Wallet", "metadata": {"name": "sol"}}
    doc["spec"] = {"network": "solana"}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(doc))
    found = wait_ready(cluster, namespace, "sol", "KeyStored")
    data = secret_data(cluster, namespace, "sol-key")
    assert data is not None
    seed = bytes.fromhex(data["private-key"].decode())
    assert solana_key_from_seed(seed).address == found["status"]["address"]

    cluster.kubectl("delete", "secret", "sol-key", "-n", namespace)
    lost = wait_ready(cluster, namespace, "sol", "KeySecretMissing", status="False")
    assert lost["status"]["address"] == found["status"]["address"], "the recorded address stays"
    time.sleep(2)
    assert secret_data(cluster, namespace, "sol-key") is None, "a vanished key is never silently replaced"


def test_owner_address_keeps_the_generated_key_until_asked(
    cluster: ControlPlane, controller: ControllerProcess, namespace: str
) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=sample("wallet-generated.yaml"))
    generated = wait_ready(cluster, namespace, "wallet-3fa2c1", "KeyStored")
    key_uid = get_json(cluster, "secret", "wallet-3fa2c1-key", "-n", namespace)["metadata"]["uid"]  # type: ignore[index]

    owner = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
    cluster.kubectl(
        "patch",
        "wallet",
        "wallet-3fa2c1",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"ownerAddress": owner.lower()[:-1] + "X"}}),
        check=False,
    )
    cluster.kubectl(
        "patch",
        "wallet",
        "wallet-3fa2c1",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"ownerAddress": owner[:-1] + "A"}}),
    )
    invalid = wait_ready(cluster, namespace, "wallet-3fa2c1", "InvalidOwnerAddress", status="False")
    assert "spec.ownerAddress" in invalid["status"]["conditions"][0]["message"]

    cluster.kubectl(
        "patch",
        "wallet",
        "wallet-3fa2c1",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"ownerAddress": owner}}),
    )
    switched = wait_ready(cluster, namespace, "wallet-3fa2c1", "OwnerAddress")
    assert switched["status"]["address"] == owner
    assert "privateKeySecretRef" not in switched["status"]
    time.sleep(2)
    kept = get_json(cluster, "secret", "wallet-3fa2c1-key", "-n", namespace)
    assert kept is not None, "switching to ownerAddress never removes the key by itself"
    assert kept["metadata"]["uid"] == key_uid

    cluster.kubectl(
        "patch",
        "wallet",
        "wallet-3fa2c1",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"ownerAddress": None}}),
    )
    back = wait_ready(cluster, namespace, "wallet-3fa2c1", "KeyStored")
    assert back["status"]["address"] == generated["status"]["address"], "the same key, not a second one"

    cluster.kubectl(
        "patch",
        "wallet",
        "wallet-3fa2c1",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"ownerAddress": owner}}),
    )
    wait_ready(cluster, namespace, "wallet-3fa2c1", "OwnerAddress")
    cluster.kubectl("annotate", "wallet", "wallet-3fa2c1", "-n", namespace, f"{DELETE_KEY_ANNOTATION}=true")
    eventually(
        lambda: get_json(cluster, "secret", "wallet-3fa2c1-key", "-n", namespace) is None,
        timeout=30,
        what="key Secret deleted on request",
    )
    events = cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    assert "KeyDeleted" in events
