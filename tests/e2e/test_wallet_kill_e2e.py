"""SIGKILL the Wallet controller at random points while Wallets are created and deleted, envelope encryption on.

Runs its own controller (in its own module, so no other Wallet controller leads meanwhile).
"""

from __future__ import annotations

import base64
import json
import random
import time
from pathlib import Path

import pytest

from controller.reconcilers.wallet import MASTER_KEY_ENV
from controller.reconcilers.wallet_keys import MasterKey, open_private_key
from tenantgate.devcluster import ControlPlane
from tests.conftest import unique
from tests.e2e.test_controller_support import apply, eventually, get_json, install_platform
from tests.e2e.test_wallet_e2e import LEASE_NAMESPACE, controller_user, secret_data, start, wait_ready, wallet

pytestmark = pytest.mark.e2e

KILLS = 20
PER_ROUND = 2
"""Wallets created per round; after each round one earlier Wallet is deleted and the controller is killed."""

MASTER_KEY = bytes.fromhex("7f" * 16 + "a5" * 16)


def test_sigkill_never_makes_a_second_key(cluster: ControlPlane, namespace: str, tmp_path: Path) -> None:
    """Ten SIGKILLs at random points while Wallets are created and deleted, with envelope encryption on.

    Every key Secret observed keeps its uid and bytes from its first sighting to the end; every Wallet left ends
    Ready with the address its Secret holds; deleted Wallets are gone (no finalizer left); and no private key
    (decrypted from the envelopes) nor the master key appears in logs, Events, status or metrics."""
    master_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "wallet-master", "namespace": LEASE_NAMESPACE},
        "data": {"master-key": base64.b64encode(MASTER_KEY).decode()},
    }
    install_platform(cluster, LEASE_NAMESPACE)
    kubeconfig = controller_user(cluster)
    apply(cluster, master_secret)
    env = {MASTER_KEY_ENV: f"{LEASE_NAMESPACE}/wallet-master"}
    rng = random.Random(16)
    process = start(cluster, tmp_path, kubeconfig, **env)
    metrics_seen: list[str] = []
    first_seen: dict[str, tuple[str, dict[str, str]]] = {}
    created: list[str] = []
    deleted: set[str] = set()
    kills = 0

    def observe() -> None:
        listing = get_json(cluster, "secrets", "-n", namespace) or {}
        for item in listing.get("items") or []:
            name = item["metadata"]["name"]
            if not name.endswith("-key"):
                continue
            seen = first_seen.setdefault(name, (item["metadata"]["uid"], dict(item.get("data") or {})))
            assert seen == (item["metadata"]["uid"], dict(item.get("data") or {})), f"{name} changed: a second key"

    try:
        for round_ in range(KILLS):
            batch = []
            for i in range(PER_ROUND):
                name = f"w{round_}-{i}"
                network = rng.choice(["ethereum", "sepolia", "polygon-amoy", "solana"])
                batch.append(
                    {
                        "apiVersion": "payments.shophub.local/v1",
                        "kind": "Wallet",
                        "metadata": {"name": name, "namespace": namespace},
                        "spec": {"network": network},
                    }
                )
                created.append(name)
            apply(cluster, *batch)
            if round_ >= 2:
                victim = rng.choice([n for n in created[:-PER_ROUND] if n not in deleted])
                cluster.kubectl("delete", "wallet", victim, "-n", namespace, "--wait=false")
                deleted.add(victim)
            time.sleep(rng.uniform(0.0, 1.5))
            observe()
            metrics_seen.append(process._get("/metrics")[1])
            process.restart_after_crash(unique("wallet"))
            kills += 1
            observe()
        eventually(process.is_leader, timeout=60, what="leadership after the last crash")
        live = [n for n in created if n not in deleted]
        for name in live:
            found = wait_ready(cluster, namespace, name, "KeyStored")
            data = secret_data(cluster, namespace, f"{name}-key")
            assert data is not None
            assert data["address"].decode() == found["status"]["address"]
            assert data["master-key-id"].decode() == MasterKey(MASTER_KEY).key_id
        observe()
        for name in deleted:
            eventually(lambda name=name: wallet(cluster, namespace, name) is None, timeout=30, what=f"{name} gone")
        remaining = get_json(cluster, "wallets", "-n", namespace) or {}
        assert all(not item["metadata"].get("finalizers") for item in remaining.get("items") or [])
        metrics_seen.append(process._get("/metrics")[1])

        private_keys = []
        for name in live:
            data = secret_data(cluster, namespace, f"{name}-key")
            assert data is not None
            private_keys.append(open_private_key(data, MasterKey(MASTER_KEY), f"{namespace}/{name}-key"))
        assert len(set(private_keys)) == len(live)
        haystack = "\n".join(
            [
                *(p.read_text(errors="replace") for p in tmp_path.glob("controller-*.log")),
                cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout,
                cluster.kubectl("get", "wallets", "-n", namespace, "-o", "json").stdout,
                *metrics_seen,
            ]
        )
        for secret in [*private_keys, MASTER_KEY.hex(), base64.b64encode(MASTER_KEY).decode()]:
            assert secret not in haystack
            assert secret.upper() not in haystack
        generated_events = json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)
        per_wallet: dict[str, int] = {}
        for event in generated_events["items"]:
            if event.get("reason") == "KeyGenerated":
                regarding = (event.get("regarding") or event.get("involvedObject") or {}).get("name", "")
                per_wallet[regarding] = per_wallet.get(regarding, 0) + int(event.get("count") or 1)
        assert all(count == 1 for count in per_wallet.values()), per_wallet
        print(
            f"wallet kill test: kills={kills} wallets={len(created)} deleted={len(deleted)} "
            f"key secrets seen={len(first_seen)} keys generated (Events)={sum(per_wallet.values())} duplicates=0"
        )
    finally:
        process.stop()
        cluster.kubectl("delete", "secret", "wallet-master", "-n", LEASE_NAMESPACE, "--ignore-not-found", check=False)
