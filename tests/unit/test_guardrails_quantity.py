"""Resource quantities compare exactly, whatever their notation."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kube.quantity import QuantityError, format_quantity, parse_quantity

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Fraction(1, 2)),
        ("1", Fraction(1)),
        ("1.5", Fraction(3, 2)),
        (".5", Fraction(1, 2)),
        ("2Gi", Fraction(2 * 2**30)),
        ("1e3", Fraction(1000)),
        ("1E3", Fraction(1000)),
        ("1e-3", Fraction(1, 1000)),
        ("1E", Fraction(10**18)),
        ("128974848", Fraction(128974848)),
        ("129M", Fraction(129_000_000)),
        ("123Mi", Fraction(123 * 2**20)),
        ("100n", Fraction(1, 10**7)),
        ("5u", Fraction(5, 10**6)),
        ("1k", Fraction(1000)),
        ("+2", Fraction(2)),
        ("-1", Fraction(-1)),
        (10, Fraction(10)),
    ],
)
def test_parses_quantities_exactly(text: str | int, value: Fraction) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "1K", "1.5.2", "Gi", "1Gib", "1e", "1e1000", "abc", "1 Gi", True, 1.5, None])
def test_rejects_what_is_not_a_quantity(text: object) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("smaller", "larger"),
    [("500m", "1"), ("999m", "1"), ("128974848", "129M"), ("1Gi", "1.1G"), ("1000Mi", "1Gi"), ("1e3", "1001")],
)
def test_orders_mixed_notations(smaller: str, larger: str) -> None:
    assert parse_quantity(smaller) < parse_quantity(larger)


@pytest.mark.parametrize(("left", "right"), [("1", "1000m"), ("1Gi", "1024Mi"), ("1e3", "1k"), ("0.1", "100m")])
def test_equal_values_in_different_notations_compare_equal(left: str, right: str) -> None:
    assert parse_quantity(left) == parse_quantity(right)


@pytest.mark.parametrize(
    ("value", "resource", "text"),
    [
        (Fraction(3), "requests.cpu", "3"),
        (Fraction(3, 2), "requests.cpu", "1500m"),
        (Fraction(3 * 2**30), "requests.memory", "3Gi"),
        (Fraction(1000), "requests.memory", "1000"),
    ],
)
def test_formats_quantities_for_messages(value: Fraction, resource: str, text: str) -> None:
    assert format_quantity(value, resource) == text
