"""The manager shares informers by exact key, never answers "the informer of a kind" with a filtered one, and
runs the reconciler setups its caller names."""

from __future__ import annotations

import pytest

from controller.config import ManagerConfig
from controller.manager import Manager, build_manager
from kube.client import Connection

pytestmark = pytest.mark.unit


def manager() -> Manager:
    return Manager(ManagerConfig(health_port=None), Connection("http://127.0.0.1:1", False))


def test_same_key_shares_one_informer() -> None:
    m = manager()
    first = m.informer("v1", "ServiceAccount", field_selector="metadata.name=default")
    assert m.informer("v1", "ServiceAccount", field_selector="metadata.name=default") is first


def test_a_filtered_informer_never_stands_for_the_whole_kind() -> None:
    m = manager()
    filtered = m.informer("v1", "ServiceAccount", label_selector="app.kubernetes.io/managed-by=tenantgate")
    with pytest.raises(KeyError):
        m.informer_of("v1", "ServiceAccount")
    whole = m.informer("v1", "ServiceAccount")
    assert m.informer_of("v1", "ServiceAccount") is whole
    assert whole is not filtered


def test_build_manager_runs_the_named_setups_and_refuses_unknown_names() -> None:
    ran: list[str] = []
    setups = {"first": lambda m: ran.append("first"), "second": lambda m: ran.append("second")}
    connection = Connection("http://127.0.0.1:1", False)
    build_manager(ManagerConfig(health_port=None, reconcilers=["second"]), setups, connection)
    assert ran == ["second"]
    build_manager(ManagerConfig(health_port=None), setups, connection)
    assert ran == ["second", "first", "second"]
    with pytest.raises(ValueError, match="unknown reconciler"):
        build_manager(ManagerConfig(health_port=None, reconcilers=["third"]), setups, connection)


def test_fit_name_keeps_short_names_and_bounds_long_ones() -> None:
    from kube.objects import fit_name

    assert fit_name("shop", "web") == "shop-web"
    long_a, long_b = fit_name("n" * 70 + "a", "web"), fit_name("n" * 70 + "b", "web")
    assert len(long_a) <= 63
    assert long_a.endswith("-web")
    assert long_a != long_b
