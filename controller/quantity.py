"""Kubernetes resource quantities (`500m`, `1Gi`, `2e3`) as exact decimals.

Needed twice: the applier must not see `1000m` (sent) and `1` (stored by the API server, which canonicalises
quantities) as drift, and a Tenant's usage summary adds up its projects' ResourceQuota figures.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(1000),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_PATTERN = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")


def parse_quantity(text: str | int | float) -> Decimal:
    """The value of a quantity; raises ValueError when `text` is not one."""
    if isinstance(text, bool):
        raise ValueError(f"not a quantity: {text!r}")
    if isinstance(text, int | float):
        return Decimal(str(text))
    match = _PATTERN.match(text.strip())
    if not match:
        raise ValueError(f"not a quantity: {text!r}")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        value = Decimal(number)
    except InvalidOperation as error:
        raise ValueError(f"not a quantity: {text!r}") from error
    if suffix in _BINARY:
        return value * _BINARY[suffix]
    if suffix in _DECIMAL:
        return value * _DECIMAL[suffix]
    return value * (Decimal(10) ** int(suffix[1:]))


def quantities_equal(a: object, b: object) -> bool:
    """True when both are quantities of the same value (False when either is not a quantity)."""
    if not isinstance(a, str | int) or not isinstance(b, str | int) or isinstance(a, bool) or isinstance(b, bool):
        return False
    try:
        return parse_quantity(a) == parse_quantity(b)
    except ValueError:
        return False


def format_quantity(value: Decimal, binary: bool = False) -> str:
    """A compact form: with `binary`, a binary suffix for exact multiples of 1Ki and up; milli for fractions."""
    if value == value.to_integral_value():
        integer = int(value)
        if binary and integer != 0:
            for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
                if integer % _BINARY[suffix] == 0:
                    return f"{integer // _BINARY[suffix]}{suffix}"
        return str(integer)
    milli = value * 1000
    if milli == milli.to_integral_value():
        return f"{int(milli)}m"
    return str(value.normalize())


def is_byte_resource(name: str) -> bool:
    """Resources counted in bytes (memory, storage), which read best with binary suffixes."""
    return "memory" in name or "storage" in name
