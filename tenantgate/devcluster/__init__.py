"""The local control plane (etcd + kube-apiserver + kube-controller-manager) used by tests and `tenantgate dev`."""

from tenantgate.devcluster.build import Binaries, ensure_binaries
from tenantgate.devcluster.controlplane import ControlPlane, ControlPlaneError

__all__ = ["Binaries", "ControlPlane", "ControlPlaneError", "ensure_binaries"]
