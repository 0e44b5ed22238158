"""On-chain addresses of the Wallet networks: how they are written and how they come from a public key.

Admission checks a Wallet's `ownerAddress` and the controller derives generated addresses with the same
functions, so what one accepts the other produces. EVM networks (`ethereum`, `sepolia`, `polygon-amoy`) use
`0x` + 40 hex digits, mixed-case per EIP-55 or all one case; Solana uses the base58 text of a 32-byte ed25519
public key. Pure functions; Keccak-256 and base58 come from maintained libraries (Keccak-256 is not the
standardised SHA3-256, which pads differently).
"""

from __future__ import annotations

import re
from typing import Final

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
    """Why `text` is not an EVM address, or None. All-lower and all-upper hex carry no checksum and pass;
    mixed case must be the EIP-55 checksum."""
    if not _EVM_SHAPE.fullmatch(text):
        return "an EVM address is 0x followed by 40 hexadecimal digits"
    digits = text[2:]
    if digits == digits.lower() or digits == digits.upper():
        return None
    if text != eip55_checksum(text):
        return f"its mixed case is not the EIP-55 checksum (expected {eip55_checksum(text)})"
    return None


def solana_address_problem(text: str) -> str | None:
    """Why `text` is not a Solana address (base58 of 32 bytes), or None."""
    if not text or not set(text) <= _BASE58_ALPHABET:
        return "a Solana address is base58 text (no 0, O, I or l)"
    decoded = base58.b58decode(text)
    if len(decoded) != SOLANA_PUBLIC_KEY_BYTES:
        return f"a Solana address decodes to 32 bytes, this one to {len(decoded)}"
    return None


def address_problem(network: str, text: str) -> str | None:
    """Why `text` is not an address on `network`, or None."""
    if network in EVM_NETWORKS:
        return evm_address_problem(text)
    if network in SOLANA_NETWORKS:
        return solana_address_problem(text)
    return f"network {network!r} is not one of ethereum, sepolia, polygon-amoy, solana"
