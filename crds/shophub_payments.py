"""`payments.shophub.local/v1` Wallet: an on-chain payout address, as in shop-operator.

Same names, enum and printer columns as shop-operator. The controller writes conditions (shop-operator never
did); key generation stays in the controller, never in admission.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from crds.common import (
    ApiModel,
    Conditions,
    CustomResource,
    KindInfo,
    PrinterColumn,
    SecretReference,
    age_column,
    condition_column,
    conditions_field,
)

GROUP = "payments.shophub.local"
VERSION = "v1"

Network = Literal["ethereum", "sepolia", "polygon-amoy", "solana"]


class WalletSpec(ApiModel):
    """Which chain, and optionally an address the owner already has."""

    network: Network = Field(description="Target chain: ethereum, sepolia, polygon-amoy or solana.")
    owner_address: str | None = Field(
        default=None,
        description="Existing address to use; when set and non-empty no key is generated.",
    )


class WalletStatus(ApiModel):
    """The address in use and where its key is."""

    conditions: Conditions | None = conditions_field("type Ready.")
    address: str | None = Field(default=None, description="Address in use: ownerAddress or the generated one.")
    private_key_secret_ref: SecretReference | None = Field(
        default=None,
        description="Secret (<name>-key) holding the generated private key; absent when ownerAddress is used.",
    )


class Wallet(CustomResource):
    """A Wallet object."""

    spec: WalletSpec = Field(description="Desired wallet.")
    status: WalletStatus | None = Field(default=None, description="Observed wallet.")


WALLET = KindInfo(
    group=GROUP,
    version=VERSION,
    kind="Wallet",
    plural="wallets",
    singular="wallet",
    scope="Namespaced",
    short_names=("wlt",),
    categories=("shophub",),
    model=Wallet,
    origin="shop-operator",
    description="Wallet is an on-chain address for a shop's payouts, either given by its owner or generated "
    "with its private key kept in a Secret.",
    printer_columns=(
        PrinterColumn("NETWORK", "string", ".spec.network", "Target chain."),
        PrinterColumn("ADDRESS", "string", ".status.address", "Address in use."),
        condition_column("READY"),
        age_column("AGE"),
    ),
    builds="""\
- With `ownerAddress`: checked against `network` (EIP-55 or one-case hex for the EVM networks, base58 of 32 bytes
  for solana); valid: `status.address` = ownerAddress, no key, no Secret.
- Otherwise: reuses Secret `<name>-key` when it exists (its `address`), else generates a key for the network
  (secp256k1 for ethereum, sepolia, polygon-amoy; ed25519 for solana) and creates Secret `<name>-key`
  (`private-key`: 64 lowercase hex characters without 0x, `address`), owned by the Wallet; a concurrent
  creation keeps the existing key. With a master key configured `private-key` is an AES-256-GCM envelope.
- Switching to `ownerAddress` keeps `<name>-key` until annotation `payments.tenantgate.io/delete-generated-key:
  "true"` asks for its removal.
- Status: `address`, `privateKeySecretRef` (`{name: <name>-key, namespace}`), condition `Ready`. No finalizer:
  the key Secret goes away with the Wallet through garbage collection.
""",
)

KINDS = (WALLET,)
