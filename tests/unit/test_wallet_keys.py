"""Wallet addresses and keys: known-answer tests with published vectors, checks, and the envelope format."""

from __future__ import annotations

import base58
import pytest

from controller.reconcilers.wallet_keys import (
    ADDRESS,
    ENCRYPTION,
    ENVELOPE_FORMAT,
    MASTER_KEY_ID,
    PRIVATE_KEY,
    WRAPPED_DATA_KEY,
    MasterKey,
    evm_key_from_private,
    generate_key,
    master_key_from_secret_data,
    open_private_key,
    secret_data,
    solana_key_from_seed,
)
from crds.addresses import (
    address_problem,
    eip55_checksum,
    evm_address_problem,
    keccak256,
    solana_address_from_public_key,
    solana_address_problem,
)

EIP55_EXAMPLES = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
"""The mixed-case examples listed in EIP-55 ("Mixed-case checksum address encoding"), section Test Cases."""
EIP55_ONE_CASE = [
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
]
"""EIP-55's all-caps and all-lower examples: valid without a checksum."""

RFC8032_TEST1_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_TEST1_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_TEST2_SEED = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
RFC8032_TEST2_PUBLIC = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")


def independent_base58(data: bytes) -> str:
    """Base58 by big-integer division, written apart from the library to cross-check it."""
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    number = int.from_bytes(data, "big")
    digits = ""
    while number:
        number, remainder = divmod(number, 58)
        digits = alphabet[remainder] + digits
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + digits


def test_keccak256_is_not_sha3_256() -> None:
    """Keccak-256 of the empty string, as published with the Keccak team's reference (and used by Ethereum),
    differs from FIPS 202 SHA3-256 of the empty string (a7ffc6f8...)."""
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


@pytest.mark.parametrize("address", EIP55_EXAMPLES)
def test_eip55_examples_checksum(address: str) -> None:
    """EIP-55 test cases: checksumming the lower-case form gives the published mixed case."""
    assert eip55_checksum(address.lower()) == address
    assert evm_address_problem(address) is None


@pytest.mark.parametrize("address", EIP55_ONE_CASE)
def test_one_case_addresses_pass_without_checksum(address: str) -> None:
    assert evm_address_problem(address) is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "EIP-55 checksum"),  # last letter's case flipped
        ("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x followed by 40"),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe", "0x followed by 40"),
        ("0xZZAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x followed by 40"),
        ("", "0x followed by 40"),
    ],
)
def test_rejects_bad_evm_addresses(text: str, fragment: str) -> None:
    problem = evm_address_problem(text)
    assert problem is not None
    assert fragment in problem


@pytest.mark.parametrize(
    ("private_hex", "address"),
    [
        # Private key 1: its public key is the secp256k1 generator G (SEC 2, section 2.4.1).
        ("00" * 31 + "01", "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"),
        # The account of web3.js's documented example for `web3.eth.accounts.privateKeyToAccount`.
        (
            "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
            "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
        ),
    ],
)
def test_secp256k1_private_key_to_address(private_hex: str, address: str) -> None:
    assert evm_key_from_private(bytes.fromhex(private_hex)).address == address


@pytest.mark.parametrize(
    ("seed", "public"),
    [(RFC8032_TEST1_SEED, RFC8032_TEST1_PUBLIC), (RFC8032_TEST2_SEED, RFC8032_TEST2_PUBLIC)],
)
def test_ed25519_seed_to_solana_address(seed: bytes, public: bytes) -> None:
    """RFC 8032 section 7.1, TEST 1 and TEST 2: the seed's public key, in base58, is the Solana address."""
    pair = solana_key_from_seed(seed)
    assert pair.address == independent_base58(public)
    assert base58.b58decode(pair.address) == public
    assert solana_address_problem(pair.address) is None


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"", ""),
        (b"hello world", "StV1DL6CwTryKyV"),
        (bytes.fromhex("61"), "2g"),
        (bytes.fromhex("626262"), "a3gV"),
        (bytes.fromhex("636363"), "aPEr"),
        (bytes(10), "1111111111"),
        (bytes.fromhex("00000000000000000000000000000000000000000000000000000000000000ff"), "1" * 31 + "5Q"),
    ],
)
def test_base58_library_agrees_with_published_vectors(data: bytes, text: str) -> None:
    """The base58 package's README example ("hello world") and vectors from Bitcoin Core's
    src/test/data/base58_encode_decode.json, plus a 32-byte key with leading zero bytes; each also through the
    independent encoder above."""
    assert base58.b58encode(data).decode() == text
    assert independent_base58(data) == text


def test_solana_address_of_rfc8032_key_is_known() -> None:
    """RFC 8032 section 7.1 TEST 1's public key in base58 (the form Solana tools print)."""
    expected = "FVen3X669xLzsi6N2V91DoiyzHzg1uAgqiT8jZ9nS96Z"
    assert solana_address_from_public_key(RFC8032_TEST1_PUBLIC) == expected
    assert independent_base58(RFC8032_TEST1_PUBLIC) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0OIl", "must be base58"),
        ("", "must be base58"),
        ("StV1DL6CwTryKyV", "encodes 11 bytes"),
    ],
)
def test_rejects_bad_solana_addresses(text: str, fragment: str) -> None:
    problem = solana_address_problem(text)
    assert problem is not None
    assert fragment in problem


def test_address_problem_follows_the_network() -> None:
    solana = independent_base58(RFC8032_TEST1_PUBLIC)
    assert address_problem("sepolia", EIP55_EXAMPLES[0]) is None
    assert address_problem("polygon-amoy", EIP55_ONE_CASE[0]) is None
    assert address_problem("solana", solana) is None
    assert address_problem("solana", EIP55_EXAMPLES[0]) is not None
    assert address_problem("ethereum", solana) is not None


@pytest.mark.parametrize("network", ["ethereum", "sepolia", "polygon-amoy", "solana"])
def test_generated_keys_match_their_address(network: str) -> None:
    pair = generate_key(network)
    assert len(pair.private_hex) == 64
    assert pair.private_hex == pair.private_hex.lower()
    assert address_problem(network, pair.address) is None
    derived = solana_key_from_seed(pair.private) if network == "solana" else evm_key_from_private(pair.private)
    assert derived.address == pair.address
    assert pair.private_hex not in repr(pair)


def test_generated_keys_differ() -> None:
    assert generate_key("sepolia").private != generate_key("sepolia").private


def test_plain_secret_data_is_hex_and_address() -> None:
    pair = evm_key_from_private(bytes.fromhex("00" * 31 + "01"))
    data = secret_data(pair, None, "ns/w-key")
    assert data == {PRIVATE_KEY: ("00" * 31 + "01").encode(), ADDRESS: pair.address.encode()}
    assert open_private_key(data, None, "ns/w-key") == "00" * 31 + "01"


def test_envelope_round_trip_and_format() -> None:
    master = MasterKey(bytes(range(32)))
    pair = generate_key("solana")
    data = secret_data(pair, master, "shop/w-key")
    assert data[ENCRYPTION] == ENVELOPE_FORMAT.encode()
    assert data[MASTER_KEY_ID] == master.key_id.encode()
    assert len(data[WRAPPED_DATA_KEY]) == 12 + 32 + 16
    assert len(data[PRIVATE_KEY]) == 12 + 64 + 16
    assert pair.private_hex.encode() not in b"".join(data.values())
    assert open_private_key(data, master, "shop/w-key") == pair.private_hex


def test_envelope_does_not_open_elsewhere_or_with_another_key() -> None:
    master = MasterKey(bytes(range(32)))
    data = secret_data(generate_key("sepolia"), master, "shop/w-key")
    with pytest.raises(ValueError, match="does not open"):
        open_private_key(data, master, "shop/other-key")
    with pytest.raises(ValueError, match="another master key"):
        open_private_key(data, MasterKey(bytes(32)), "shop/w-key")
    with pytest.raises(ValueError, match="another master key"):
        open_private_key(data, None, "shop/w-key")


@pytest.mark.parametrize(
    ("data", "usable"),
    [
        ({"master-key": bytes(32)}, True),
        ({"master-key": ("ab" * 32).encode()}, True),
        ({"master-key": b"short"}, False),
        ({"master-key": ("zz" * 32).encode()}, False),
        ({}, False),
    ],
)
def test_master_key_from_secret(data: dict[str, bytes], usable: bool) -> None:
    master = master_key_from_secret_data(data)
    assert (master is not None) is usable
    if master is not None:
        assert len(master.key_id) == 16
        assert master.key.hex() not in repr(master)
