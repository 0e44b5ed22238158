"""Wallet status decisions: owner addresses, generated keys, and the opt-in removal of an unused key."""

from __future__ import annotations

import base64
from types import SimpleNamespace
from typing import Any

import pytest

from controller.reconcilers.wallet import (
    DELETE_KEY_ANNOTATION,
    create_key_secret,
    generated_status,
    key_secret,
    missing_key_status,
    owner_status,
    render_status,
    stored_address,
    wants_key_deleted,
)
from kube.client import ApiError

VALID_EVM = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
VALID_SOLANA = "FVen3X669xLzsi6N2V91DoiyzHzg1uAgqiT8jZ9nS96Z"
WALLET = {
    "apiVersion": "payments.shophub.local/v1",
    "kind": "Wallet",
    "metadata": {"name": "w", "namespace": "shop", "uid": "u-1", "generation": 3},
    "spec": {"network": "sepolia"},
}


@pytest.mark.parametrize(
    ("network", "address", "reason"),
    [
        ("sepolia", VALID_EVM, "OwnerAddress"),
        ("ethereum", VALID_EVM.lower(), "OwnerAddress"),
        ("solana", VALID_SOLANA, "OwnerAddress"),
        ("solana", VALID_EVM, "InvalidOwnerAddress"),
        ("polygon-amoy", VALID_SOLANA, "InvalidOwnerAddress"),
        ("ethereum", VALID_EVM[:-1] + "D", "InvalidOwnerAddress"),
    ],
)
def test_owner_address_is_checked_against_its_network(network: str, address: str, reason: str) -> None:
    outcome = owner_status(network, address, key_secret_kept=False)
    assert outcome.ready.reason == reason
    assert outcome.secret_ref is None
    if reason == "OwnerAddress":
        assert outcome.address == address
        assert outcome.ready.status == "True"
    else:
        assert outcome.address is None
        assert "spec.ownerAddress" in outcome.ready.message
        assert address in outcome.ready.message


def test_kept_key_is_mentioned_with_the_annotation_that_removes_it() -> None:
    outcome = owner_status("sepolia", VALID_EVM, key_secret_kept=True)
    assert outcome.ready.status == "True"
    assert DELETE_KEY_ANNOTATION in outcome.ready.message


@pytest.mark.parametrize(
    ("network", "stored", "status", "reason"),
    [
        ("sepolia", VALID_EVM, "True", "KeyStored"),
        ("polygon-amoy", VALID_EVM, "True", "KeyStored"),
        ("solana", VALID_SOLANA, "True", "KeyStored"),
        ("solana", VALID_EVM, "False", "KeyNetworkMismatch"),
        ("ethereum", None, "False", "KeySecretInvalid"),
    ],
)
def test_generated_status(network: str, stored: str | None, status: str, reason: str) -> None:
    outcome = generated_status(network, "w-key", "shop", stored)
    assert (outcome.ready.status, outcome.ready.reason) == (status, reason)
    assert outcome.secret_ref == {"name": "w-key", "namespace": "shop"}


@pytest.mark.parametrize(
    ("annotations", "wanted"),
    [
        ({}, False),
        ({DELETE_KEY_ANNOTATION: "true"}, True),
        ({DELETE_KEY_ANNOTATION: "True"}, True),
        ({DELETE_KEY_ANNOTATION: "yes"}, False),
    ],
)
def test_key_is_deleted_only_on_request(annotations: dict[str, str], wanted: bool) -> None:
    assert wants_key_deleted(annotations) is wanted


def test_key_secret_is_owned_labelled_and_readable() -> None:
    secret = key_secret(WALLET, {"private-key": b"ab" * 32, "address": VALID_EVM.encode()})
    assert secret["metadata"]["name"] == "w-key"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert secret["metadata"]["ownerReferences"][0]["controller"] is True
    assert base64.b64decode(secret["data"]["private-key"]) == b"ab" * 32
    assert stored_address(secret) == VALID_EVM


def test_status_clears_the_key_reference_for_an_owner_address() -> None:
    status = render_status(WALLET, owner_status("sepolia", VALID_EVM, False), "2026-01-01T00:00:00Z")
    assert status["privateKeySecretRef"] is None
    assert status["address"] == VALID_EVM
    assert status["conditions"][0]["observedGeneration"] == 3


class _Client:
    """Just enough of KubeClient for `create_key_secret`: the create loses a race to an existing Secret."""

    def __init__(self, existing: dict[str, Any]) -> None:
        self.existing = existing
        self.created: list[dict[str, Any]] = []

    async def create(self, rt: Any, body: dict[str, Any]) -> dict[str, Any]:
        self.created.append(body)
        raise ApiError(409, "AlreadyExists", "secrets already exists")

    async def get(self, rt: Any, name: str, namespace: str) -> dict[str, Any]:
        assert (name, namespace) == ("w-key", "shop")
        return self.existing


class _Events:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def normal(self, regarding: Any, reason: str, note: str, action: str = "") -> None:
        self.reasons.append(reason)


async def test_a_lost_create_race_keeps_the_stored_key_and_drops_the_new_one() -> None:
    existing = key_secret(WALLET, {"private-key": b"ab" * 32, "address": VALID_EVM.encode()})
    client, events = _Client(existing), _Events()
    ctx: Any = SimpleNamespace(client=client, events=events)
    result = await create_key_secret(ctx, WALLET, None)
    assert result is existing
    assert stored_address(result) == VALID_EVM
    assert len(client.created) == 1
    assert client.created[0]["data"]["private-key"] != existing["data"]["private-key"]
    assert events.reasons == [], "no KeyGenerated Event for a key that was thrown away"


@pytest.mark.parametrize(
    ("status", "lost"),
    [
        ({"address": VALID_EVM, "privateKeySecretRef": {"name": "w-key", "namespace": "shop"}}, True),
        ({"address": VALID_EVM, "privateKeySecretRef": None}, False),
        ({"address": None, "privateKeySecretRef": {"name": "w-key", "namespace": "shop"}}, False),
        ({"address": VALID_EVM, "privateKeySecretRef": {"name": "other-key", "namespace": "shop"}}, False),
        (None, False),
    ],
)
def test_a_vanished_key_is_reported_never_replaced(status: dict[str, Any] | None, lost: bool) -> None:
    outcome = missing_key_status(status, "w-key")
    assert (outcome is not None) is lost
    if outcome is not None:
        assert (outcome.ready.status, outcome.ready.reason) == ("False", "KeySecretMissing")
        assert outcome.address == VALID_EVM
