"""On-chain addresses of the Wallet networks: how they are checked and how they come from a public key.

Admission (a Wallet's `ownerAddress`, a Shop's `walletAddress`) and the controller (the address it generates or
copies into status) use the same functions, so what one accepts the other produces. Each check answers with the
problem in words, or None for a usable address, so a deny message can say exactly what is wrong. EVM networks
(`ethereum`, `sepolia`, `polygon-amoy`) use `0x` + 40 hex digits, in one case or with the EIP-55 mixed-case
checksum (a mixed-case address whose checksum does not match is mistyped, and money sent to it is lost); Solana
uses the base58 text of a 32-byte ed25519 public key. Keccak-256 and base58 come from maintained libraries
(Keccak-256 is not the standardised SHA3-256, which pads differently).
"""

from __future__ import annotations

import re
from typing import Final, Literal

import base58
from Crypto.Hash import keccak

EVM_NETWORKS: Final = frozenset({"ethereum", "sepolia", "polygon-amoy"})
SOLANA_NETWORKS: Final = frozenset({"solana"})

_EVM_SHAPE = re.compile(r"0x[0-9a-fA-F]{40}")
_BASE58_ALPHABET = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
SOLANA_PUBLIC_KEY_BYTES: Final = 32
EVM_PUBLIC_KEY_BYTES: Final = 64
"""An uncompressed secp256k1 point without its 0x04 prefix: x and y, 32 bytes each."""


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def eip55_checksum(address: str) -> str:
    """The EIP-55 mixed-case form of a `0x` + 40 hex address (any case in, checksummed out).

    A letter is upper case where the matching nibble of the Keccak-256 of the lower-case hex is 8 or more.
    """
    lower = address[2:].lower() if address[:2] in ("0x", "0X") else address.lower()
    digest = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(lower))


def evm_address_from_public_key(public_key: bytes) -> str:
    """Last 20 bytes of the Keccak-256 of the 64-byte public key (0x04 prefix dropped if given), EIP-55."""
    if len(public_key) == EVM_PUBLIC_KEY_BYTES + 1 and public_key[0] == 0x04:
        public_key = public_key[1:]
    if len(public_key) != EVM_PUBLIC_KEY_BYTES:
        raise ValueError(f"an uncompressed secp256k1 public key has 64 bytes, not {len(public_key)}")
    return eip55_checksum("0x" + keccak256(public_key)[-20:].hex())


def solana_address_from_public_key(public_key: bytes) -> str:
    if len(public_key) != SOLANA_PUBLIC_KEY_BYTES:
        raise ValueError(f"an ed25519 public key has 32 bytes, not {len(public_key)}")
    return base58.b58encode(public_key).decode("ascii")


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
    if len(decoded) != SOLANA_PUBLIC_KEY_BYTES:
        return f"must encode a {SOLANA_PUBLIC_KEY_BYTES}-byte public key; it encodes {len(decoded)} bytes"
    return None


def address_problem(network: str, text: str) -> str | None:
    """Why `text` is not an address on `network`, or None."""
    if network in EVM_NETWORKS:
        return evm_address_problem(text)
    if network in SOLANA_NETWORKS:
        return solana_address_problem(text)
    return f"network {network!r} is not one of ethereum, sepolia, polygon-amoy, solana"


def address_family(text: str) -> Literal["evm", "solana"] | None:
    """Which kind of address `text` is, when it is a valid one of either kind."""
    if evm_address_problem(text) is None:
        return "evm"
    if solana_address_problem(text) is None:
        return "solana"
    return None
