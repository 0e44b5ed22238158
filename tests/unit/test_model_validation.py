"""Admission judges every custom object by its kind's model: schema, CEL rules, immutable fields, runnability."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from admission import dispatch
from admission.protocol import Operation
from admission.review import request_for
from admission.rules import build_registries
from admission.verdict import Verdict
from admission.view import InMemoryClusterView
from crds.runnable import EMPTY_WALLET_WARNING

pytestmark = pytest.mark.unit

CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
SOLANA = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"


def shop(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"title": "Tea", "walletAddress": CHECKSUMMED, **spec}
    return {
        "apiVersion": "apps.shophub.local/v1",
        "kind": "Shop",
        "metadata": {"name": "tea", "namespace": "default"},
        "spec": {key: value for key, value in body.items() if value is not ...},
    }


def wallet(network: str, owner: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"network": network}
    if owner is not None:
        spec["ownerAddress"] = owner
    return {
        "apiVersion": "payments.shophub.local/v1",
        "kind": "Wallet",
        "metadata": {"name": "payouts", "namespace": "default"},
        "spec": spec,
    }


def django(**spec: Any) -> dict[str, Any]:
    full: dict[str, Any] = {
        "host": "blog.example.com",
        "image": "ghcr.io/example/blog",
        "version": "1.0",
        "clusterIssuer": "letsencrypt",
        "commands": {
            "app": {"command": ["gunicorn"]},
            "worker": {"command": ["celery"]},
            "beat": {"command": ["celery"]},
        },
    }
    full.update(spec)
    return {
        "apiVersion": "thismatters.github/v1alpha",
        "kind": "Django",
        "metadata": {"name": "blog", "namespace": "default"},
        "spec": {key: value for key, value in full.items() if value is not ...},
    }


def judge(obj: dict[str, Any], old: dict[str, Any] | None = None) -> Verdict:
    operation: Operation = "UPDATE" if old is not None else "CREATE"
    request = request_for(obj, uid="u", operation=operation, user="root", groups=["system:masters"])
    if old is not None:
        request = request.model_copy(update={"old_object": old})
    view = InMemoryClusterView.from_objects([])
    return dispatch.review(request, view, build_registries()).final


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        # Where the CRD schema refuses too, the refusal is the API server's sentence (crds.structural).
        (shop(availability="extreme"), 'spec.availability: Unsupported value: "extreme": supported values:'),
        ({**shop(), "spec": None}, "spec: Required value"),
        ({key: value for key, value in shop().items() if key != "spec"}, "spec: Required value"),
        (shop(title=...), "spec.title: Required value"),
        (shop(replicas="3"), "spec.replicas in body must be of type integer"),
        (shop(walletAddress="my-wallet"), 'spec.walletAddress: "my-wallet" is not a wallet address'),
        (wallet("solana", CHECKSUMMED), f'spec.ownerAddress: "{CHECKSUMMED}" is not a solana address'),
        (wallet("sepolia", SOLANA), f'spec.ownerAddress: "{SOLANA}" is not a sepolia address'),
        (wallet("sepolia", CHECKSUMMED.replace("a", "A", 1)), "EIP-55 checksum"),
        (wallet("bitcoin"), 'spec.network: Unsupported value: "bitcoin"'),
        (django(host=...), "spec.host: is required: the Django operator cannot run without spec.host"),
        (django(clusterIssuer=""), "spec.clusterIssuer: is required"),
        (django(commands={"app": {"command": ["gunicorn"]}}), "spec.commands.worker.command: is required"),
        ({**django(), "spec": None}, "spec.host: is required"),
    ],
)
def test_denies_what_the_model_refuses_with_the_field_path(obj: dict[str, Any], fragment: str) -> None:
    verdict = judge(obj)
    assert not verdict.allowed
    assert verdict.code == 422
    assert fragment in verdict.message


@pytest.mark.parametrize(
    "obj",
    [
        shop(),
        shop(walletAddress=SOLANA),
        shop(walletAddress=CHECKSUMMED.lower()),
        wallet("sepolia"),
        wallet("sepolia", ""),
        wallet("ethereum", CHECKSUMMED),
        wallet("polygon-amoy", CHECKSUMMED.upper().replace("0X", "0x")),
        wallet("solana", SOLANA),
        django(),
    ],
)
def test_admits_objects_the_controller_can_run(obj: dict[str, Any]) -> None:
    verdict = judge(obj)
    assert verdict.allowed, verdict.message


def test_admits_an_empty_shop_wallet_address_with_a_warning() -> None:
    verdict = judge(shop(walletAddress=""))
    assert verdict.allowed
    assert EMPTY_WALLET_WARNING in verdict.warnings
    assert len(EMPTY_WALLET_WARNING) <= 120


def test_denies_a_change_of_an_immutable_field() -> None:
    old = shop(database="postgres")
    verdict = judge(shop(database="mongodb"), old)
    assert not verdict.allowed
    assert 'spec.database is immutable: it was "postgres", now "mongodb"' in verdict.message


def test_an_update_that_keeps_an_old_problem_is_admitted_with_a_warning() -> None:
    old = wallet("solana", CHECKSUMMED)
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"team": "payments"}
    verdict = judge(new, old)
    assert verdict.allowed, verdict.message
    assert any(warning.startswith("unchanged spec.ownerAddress") for warning in verdict.warnings)


def test_an_update_that_introduces_a_problem_is_denied() -> None:
    verdict = judge(wallet("solana", CHECKSUMMED), wallet("solana"))
    assert not verdict.allowed
    assert "spec.ownerAddress" in verdict.message


def test_objects_of_unserved_versions_are_left_to_the_api_server() -> None:
    obj = shop()
    obj["apiVersion"] = "apps.shophub.local/v2"
    assert judge(obj).allowed
