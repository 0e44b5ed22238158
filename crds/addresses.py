"""On-chain address checks shared by admission (a Wallet's `ownerAddress`, a Shop's `walletAddress`) and the
controller (the address it generates or copies into status).

Each check answers with the problem in words, or None for a usable address, so a deny message can say exactly
what is wrong. EVM addresses (ethereum, sepolia, polygon-amoy) are `0x` and 40 hex digits, either in one case
or with the EIP-55 mixed-case checksum (Keccak-256 of the lowercase hex); a mixed-case address whose checksum
does not match is a mistyped address, and money sent to it is lost. Solana addresses are base58 encodings of a
32-byte public key.
"""

from __future__ import annotations

import re
from typing import Final, Literal

import base58
from Crypto.Hash import keccak

EVM_NETWORKS: Final = frozenset({"ethereum", "sepolia", "polygon-amoy"})
SOLANA_NETWORKS: Final = frozenset({"solana"})

_EVM_SHAPE: Final = re.compile(r"0x[0-9a-fA-F]{40}")
_BASE58_ALPHABET: Final = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
SOLANA_KEY_BYTES: Final = 32


def eip55_checksum(address: str) -> str:
    """The EIP-55 spelling of a `0x` + 40 hex digits address."""
    digits = address[2:].lower()
    digest = keccak.new(digest_bits=256, data=digits.encode("ascii")).hexdigest()
    return "0x" + "".join(
        c.upper() if int(h, 16) >= 8 else c for c, h in zip(digits, digest[: len(digits)], strict=True)
    )


def evm_address_problem(text: str) -> str | None:
    """Why `text` is not an EVM address (ethereum, sepolia, polygon-amoy), or None when it is one."""
    if not _EVM_SHAPE.fullmatch(text):
        return "must be 0x followed by 40 hexadecimal digits"
    digits = text[2:]
    if digits == digits.lower() or digits == digits.upper():
        return None
    expected = eip55_checksum(text)
    if text != expected:
        return f"has mixed case but not the EIP-55 checksum (expected {expected}): check the address for typos"
    return None


def solana_address_problem(text: str) -> str | None:
    """Why `text` is not a Solana address (base58 of a 32-byte public key), or None when it is one."""
    if not text or not set(text) <= _BASE58_ALPHABET:
        return "must be base58 (digits and letters without 0, O, I and l)"
    decoded = base58.b58decode(text)
    if len(decoded) != SOLANA_KEY_BYTES:
        return f"must encode a {SOLANA_KEY_BYTES}-byte public key; it encodes {len(decoded)} bytes"
    return None


def address_problem(network: str, text: str) -> str | None:
    """Why `text` is not an address of `network`, or None when it is one (or the network is unknown)."""
    if network in EVM_NETWORKS:
        return evm_address_problem(text)
    if network in SOLANA_NETWORKS:
        return solana_address_problem(text)
    return None


def address_family(text: str) -> Literal["evm", "solana"] | None:
    """Which kind of address `text` is, when it is a valid one of either kind."""
    if evm_address_problem(text) is None:
        return "evm"
    if solana_address_problem(text) is None:
        return "solana"
    return None
