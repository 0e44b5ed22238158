"""On-chain address checks: EIP-55 for EVM networks, base58 of 32 bytes for Solana."""

from __future__ import annotations

import pytest

from crds.addresses import address_family, address_problem, eip55_checksum, evm_address_problem, solana_address_problem

pytestmark = pytest.mark.unit

# The checksummed examples of the EIP-55 specification.
EIP55_EXAMPLES = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
SYSTEM_PROGRAM = "11111111111111111111111111111111"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"


@pytest.mark.parametrize("address", EIP55_EXAMPLES)
def test_accepts_eip55_checksummed_addresses(address: str) -> None:
    assert evm_address_problem(address) is None
    assert eip55_checksum(address.lower()) == address


@pytest.mark.parametrize("address", [EIP55_EXAMPLES[0].lower(), "0x" + EIP55_EXAMPLES[0][2:].upper()])
def test_accepts_single_case_addresses(address: str) -> None:
    assert evm_address_problem(address) is None


def test_refuses_a_mixed_case_address_with_a_wrong_checksum() -> None:
    typo = EIP55_EXAMPLES[0][:-1] + "D"
    problem = evm_address_problem(typo)
    assert problem is not None
    assert "EIP-55" in problem
    assert EIP55_EXAMPLES[0] in problem


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0x",
        "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",
        "0xZZ" + "0" * 38,
    ],
)
def test_refuses_text_that_is_not_shaped_like_an_evm_address(text: str) -> None:
    assert evm_address_problem(text) == "must be 0x followed by 40 hexadecimal digits"


@pytest.mark.parametrize("address", [SYSTEM_PROGRAM, TOKEN_PROGRAM])
def test_accepts_solana_addresses(address: str) -> None:
    assert solana_address_problem(address) is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "base58"),
        ("0OIl", "base58"),
        (EIP55_EXAMPLES[0], "base58"),
        ("abc", "encodes 3 bytes"),
        (TOKEN_PROGRAM + "A", "32-byte"),
    ],
)
def test_refuses_text_that_is_not_a_solana_address(text: str, fragment: str) -> None:
    problem = solana_address_problem(text)
    assert problem is not None
    assert fragment in problem


@pytest.mark.parametrize(
    ("network", "address", "valid"),
    [
        ("ethereum", EIP55_EXAMPLES[1], True),
        ("sepolia", EIP55_EXAMPLES[1], True),
        ("polygon-amoy", EIP55_EXAMPLES[1], True),
        ("solana", EIP55_EXAMPLES[1], False),
        ("solana", TOKEN_PROGRAM, True),
        ("sepolia", TOKEN_PROGRAM, False),
    ],
)
def test_address_must_match_its_network(network: str, address: str, valid: bool) -> None:
    assert (address_problem(network, address) is None) is valid


def test_address_family_tells_evm_from_solana() -> None:
    assert address_family(EIP55_EXAMPLES[2]) == "evm"
    assert address_family(TOKEN_PROGRAM) == "solana"
    assert address_family("not-an-address") is None
