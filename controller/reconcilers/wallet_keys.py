"""Wallet key pairs and their storage form: generation per network, and optional envelope encryption.

A generated key is written once into Secret `<name>-key` and never made again, so everything here is pure
apart from the randomness of a new key or nonce. Keys are handled as bytes and rendered to the Secret's
text only at the edge; no function returns or formats a private key for anything but the Secret.

Envelope format (when a master key is configured): a fresh 32-byte data key encrypts the 64-hex private key
with AES-256-GCM; the master key wraps the data key with AES-256-GCM. Each ciphertext is a 12-byte nonce
followed by the GCM output (ciphertext and 16-byte tag). Both are bound by associated data to the Secret they
live in (`<namespace>/<secret name>`), so a ciphertext copied into another Wallet's Secret does not decrypt.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from crds.addresses import EVM_NETWORKS, evm_address_from_public_key, solana_address_from_public_key

PRIVATE_KEY: Final = "private-key"
ADDRESS: Final = "address"
WRAPPED_DATA_KEY: Final = "wrapped-data-key"
"""Secret key holding the data key wrapped by the master key (envelope encryption only)."""
ENCRYPTION: Final = "encryption"
"""Secret key naming the format of `private-key`: absent for plain hex, ENVELOPE_FORMAT when encrypted."""
MASTER_KEY_ID: Final = "master-key-id"
"""Secret key recording which master key wrapped the data key (its fingerprint)."""
ENVELOPE_FORMAT: Final = "aes-256-gcm-envelope-v1"
MASTER_KEY_FIELD: Final = "master-key"
"""The key of the master key Secret: 32 bytes, raw or as 64 hex characters."""
NONCE_BYTES: Final = 12
KEY_BYTES: Final = 32


@dataclass(frozen=True)
class KeyPair:
    """A generated key: the 32 private bytes (secp256k1 scalar or ed25519 seed) and the network address."""

    private: bytes
    address: str

    def __repr__(self) -> str:  # a stray log of the object must not print the key
        return f"KeyPair(address={self.address!r})"

    @property
    def private_hex(self) -> str:
        return self.private.hex()


def evm_key_from_private(private: bytes) -> KeyPair:
    key = ec.derive_private_key(int.from_bytes(private, "big"), ec.SECP256K1())
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return KeyPair(private, evm_address_from_public_key(point))


def solana_key_from_seed(seed: bytes) -> KeyPair:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return KeyPair(seed, solana_address_from_public_key(public))


def generate_key(network: str) -> KeyPair:
    """A new key pair for `network`: secp256k1 for the EVM networks, ed25519 for solana."""
    if network in EVM_NETWORKS:
        scalar = ec.generate_private_key(ec.SECP256K1()).private_numbers().private_value
        return evm_key_from_private(scalar.to_bytes(KEY_BYTES, "big"))
    seed = ed25519.Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return solana_key_from_seed(seed)


# ---- envelope encryption -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MasterKey:
    key: bytes

    def __repr__(self) -> str:
        return f"MasterKey(id={self.key_id!r})"

    @property
    def key_id(self) -> str:
        """A fingerprint naming the key without revealing it: the first 16 hex digits of its SHA-256."""
        return hashlib.sha256(b"tenantgate wallet master key\x00" + self.key).hexdigest()[:16]


def master_key_from_secret_data(data: dict[str, bytes]) -> MasterKey | None:
    """The master key in a Secret's (decoded) data: 32 raw bytes or 64 hex characters; None when unusable."""
    raw = data.get(MASTER_KEY_FIELD)
    if raw is None:
        return None
    if len(raw) == KEY_BYTES:
        return MasterKey(raw)
    try:
        decoded = bytes.fromhex(raw.decode("ascii").strip())
    except ValueError:
        return None
    return MasterKey(decoded) if len(decoded) == KEY_BYTES else None


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except InvalidTag as error:
        raise ValueError("the envelope does not open with this key for this Secret") from error


def secret_data(pair: KeyPair, master: MasterKey | None, secret_ref: str) -> dict[str, bytes]:
    """The data of Secret `<name>-key` for `pair`: plain hex, or the envelope when a master key is given.

    `secret_ref` is `<namespace>/<secret name>`, the associated data both ciphertexts are bound to."""
    if master is None:
        return {PRIVATE_KEY: pair.private_hex.encode("ascii"), ADDRESS: pair.address.encode("ascii")}
    aad = secret_ref.encode()
    data_key = AESGCM.generate_key(bit_length=256)
    return {
        PRIVATE_KEY: _seal(data_key, pair.private_hex.encode("ascii"), aad),
        WRAPPED_DATA_KEY: _seal(master.key, data_key, aad),
        ENCRYPTION: ENVELOPE_FORMAT.encode(),
        MASTER_KEY_ID: master.key_id.encode(),
        ADDRESS: pair.address.encode("ascii"),
    }


def open_private_key(data: dict[str, bytes], master: MasterKey | None, secret_ref: str) -> str:
    """The 64-hex private key of a `<name>-key` Secret's data, decrypting the envelope with `master` if needed.

    Raises ValueError when the envelope needs a master key that is missing or different, or fails to open."""
    if data.get(ENCRYPTION) is None:
        return data[PRIVATE_KEY].decode("ascii")
    if data[ENCRYPTION].decode() != ENVELOPE_FORMAT:
        raise ValueError("unknown private-key encryption format")
    if master is None or master.key_id != data.get(MASTER_KEY_ID, b"").decode():
        raise ValueError("the private key was wrapped by another master key")
    aad = secret_ref.encode()
    data_key = _open(master.key, data[WRAPPED_DATA_KEY], aad)
    return _open(data_key, data[PRIVATE_KEY], aad).decode("ascii")
