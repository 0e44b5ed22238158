"""The webhook's watch-fed view against the real API server, and `tenantgate review --cluster`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable

import pytest
import yaml

from tenantgate.devcluster import ControlPlane
from tenantgate.devcluster.platform import LocalPlatform
from tests.conftest import unique
from webhook.watched import WatchedClusterView

pytestmark = pytest.mark.e2e


def tenant(name: str) -> str:
    return yaml.safe_dump(
        {"apiVersion": "paas.kubeop.io/v1alpha1", "kind": "Tenant", "metadata": {"name": name}, "spec": {"name": name}}
    )


async def eventually(check: Callable[[], bool], seconds: float = 30) -> None:
    """Poll `check` (the view changes when its informers see watch events)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {seconds}s")


def test_view_syncs_then_follows_creates_and_deletes(cluster: ControlPlane, platform: LocalPlatform) -> None:
    name = unique("watched")

    async def scenario() -> None:
        view = WatchedClusterView.from_kubeconfig(cluster.kubeconfig)
        assert not view.synced
        view.start()
        try:
            async with asyncio.timeout(30):
                await view.wait_synced()
            assert view.synced
            assert view.namespace("default") is not None
            await asyncio.to_thread(cluster.kubectl, "apply", "-f", "-", stdin=tenant(name))
            await eventually(lambda: view.tenant(name) is not None)
            await asyncio.to_thread(cluster.kubectl, "delete", "tenant", name)
            await eventually(lambda: view.tenant(name) is None)
        finally:
            await view.stop()

    asyncio.run(scenario())


def test_review_with_cluster_takes_tenants_from_the_cluster(cluster: ControlPlane, platform: LocalPlatform) -> None:
    name = unique("known")
    cluster.kubectl("apply", "-f", "-", stdin=tenant(name))
    project = yaml.safe_dump(
        {
            "apiVersion": "paas.kubeop.io/v1alpha1",
            "kind": "Project",
            "metadata": {"name": "p"},
            "spec": {"tenantRef": name, "name": "p"},
        }
    )
    orphan = project.replace(name, "no-such-tenant")
    command = [
        sys.executable,
        "-m",
        "tenantgate.cli",
        "review",
        "--cluster",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "-f",
        "-",
    ]
    known = subprocess.run(command, input=project, capture_output=True, text=True, timeout=120)
    assert known.returncode == 0, known.stdout + known.stderr
    unknown = subprocess.run(command, input=orphan, capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 1
    assert "referenced tenant does not exist" in unknown.stdout
    cluster.kubectl("delete", "tenant", name)
