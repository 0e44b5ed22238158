"""Kubernetes resource quantities (`500m`, `1.5`, `2Gi`, `1e3`, `129M`), parsed exactly: the one parser.

Quota guardrails compare what a tenant asks for with what the platform allows; the applier must not see `1000m`
(sent) and `1` (stored by the API server, which canonicalises quantities) as drift; a Tenant's usage summary
adds up its projects' ResourceQuota figures. Floats would make `1` and `1000m` or `0.1` and `100m` compare
unequal at the edges, so values become exact `Fraction`s. The grammar is
the API server's: an optional sign, a decimal number, then at most one suffix: a binary SI suffix
(`Ki` ... `Ei`), a decimal SI suffix (`n u m "" k M G T P E`) or a decimal exponent (`e3`, `E-2`). `1E` is
one exa, `1E3` is one thousand.

The exponent is bounded: a quantity such as `1e999999999` is valid to the regular expression but would make an
exact number with a billion digits, so any request could stall the webhook. The API server rejects such
values too (it caps quantities far below that).
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Final

_QUANTITY: Final = re.compile(
    r"^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([numkMGTPE])|[eE]([+-]?[0-9]{1,3}))?$"
)
_BINARY: Final[dict[str, int]] = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL: Final[dict[str, int]] = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
MAX_EXPONENT: Final = 100
MAX_LENGTH: Final = 64


class QuantityError(ValueError):
    """The text is not a Kubernetes resource quantity."""


def parse_quantity(value: object) -> Fraction:
    """The exact value of a quantity given as a string or an integer; raises `QuantityError`.

    Integers are accepted because YAML manifests write `pods: 10`; booleans and floats are not quantities.
    """
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a resource quantity")
    if isinstance(value, int):
        return Fraction(value)
    if not isinstance(value, str):
        raise QuantityError(f"{value!r} is not a resource quantity")
    text = value.strip()
    if len(text) > MAX_LENGTH:
        raise QuantityError(f"{value!r} is too long for a resource quantity")
    match = _QUANTITY.match(text)
    if match is None:
        raise QuantityError(f"{value!r} is not a resource quantity such as 500m, 2, 1.5, 2Gi or 1e3")
    sign, number, binary, decimal, exponent = match.groups()
    amount = Fraction(number)
    if binary:
        amount *= _BINARY[binary]
    else:
        power = _DECIMAL[decimal] if decimal else int(exponent) if exponent else 0
        if abs(power) > MAX_EXPONENT:
            raise QuantityError(f"{value!r} is out of range for a resource quantity")
        amount *= Fraction(10) ** power
    return -amount if sign == "-" else amount


def quantities_equal(a: object, b: object) -> bool:
    """True when both are quantities of the same value (False when either is not a quantity)."""
    try:
        return parse_quantity(a) == parse_quantity(b)
    except QuantityError:
        return False


def is_byte_resource(name: str) -> bool:
    """Resources counted in bytes (memory, storage), which read best with binary suffixes."""
    return "memory" in name or "storage" in name


def format_quantity(amount: Fraction, like: str = "") -> str:
    """A readable rendering of `amount` for messages: an integer when whole, else millis (`1500m`).

    `like` names the resource (`memory`, `requests.memory`): memory sums read better in binary units
    (`3Gi`) when they divide evenly.
    """
    if is_byte_resource(like):
        for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
            unit = _BINARY[suffix]
            if amount >= unit and amount % unit == 0:
                return f"{amount // unit}{suffix}"
    if amount.denominator == 1:
        return str(amount.numerator)
    millis = amount * 1000
    if millis.denominator == 1:
        return f"{millis.numerator}m"
    return f"{float(amount):g}"
