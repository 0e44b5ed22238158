"""Shared fixtures. `cluster` is the real local control plane: started once per test session, on demand."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tenantgate.devcluster import ControlPlane
from tenantgate.devcluster.platform import LocalPlatform


@pytest.fixture(scope="session")
def cluster() -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager on loopback, built once and cached."""
    plane = ControlPlane()
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="module")
def platform(cluster: ControlPlane) -> Iterator[LocalPlatform]:
    """tenantgate's CRDs, RBAC and webhook configurations installed, the real webhook process serving them.

    Per module, and removed afterwards: tests of the CRDs alone or of the controller alone run without
    admission in the way, whatever order pytest picks. The controller is not started here: controller tests
    run their own, so two never reconcile at once.
    """
    local = LocalPlatform(cluster, controller=False)
    local.install()
    try:
        yield local
    finally:
        local.stop()
        local.uninstall()


def unique(prefix: str) -> str:
    """A DNS-1123 name unlikely to collide with another test's in the shared control plane."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def namespace(cluster: ControlPlane) -> Iterator[str]:
    """A fresh namespace for one test, deleted (without waiting) afterwards."""
    name = unique("t")
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
