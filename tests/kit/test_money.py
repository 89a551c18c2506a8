"""The money kit (app/kit/money.py): ISO 4217 exponents, the Money type, and the one rounding rule
in round_minor, prorate, percentage and allocate, with exact cents and with properties."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.kit.errors import CurrencyMismatch, KassaError
from app.kit.money import (
    CURRENCIES,
    EXPONENTS,
    Money,
    allocate,
    exponent,
    percentage,
    prorate,
    round_minor,
    zero,
)

# -- exponents ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ("bhd iqd jod kwd lyd omr tnd", 3),
        ("bif clp djf gnf isk jpy kmf krw pyg rwf ugx vnd vuv xaf xof xpf", 0),
        ("usd eur gbp uyu chf cad aud inr cny brl mxn huf idr twd", 2),
    ],
)
def test_iso_4217_exponents(codes, expected):
    for code in codes.split():
        assert exponent(code) == expected, code
        assert exponent(code.upper()) == expected, code


def test_every_currency_has_an_exponent_and_most_have_two():
    assert set(EXPONENTS) == CURRENCIES
    assert sum(1 for value in EXPONENTS.values() if value != 2) == 23
    with pytest.raises(ValueError):
        exponent("xxx")
    with pytest.raises(ValueError):
        exponent("clf")  # a unit of account (exponent 4), not a currency one is paid in


# -- Money ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1999, "usd", "19.99"),
        (1990, "usd", "19.90"),
        (5, "usd", "0.05"),
        (0, "usd", "0.00"),
        (-1999, "eur", "-19.99"),
        (1999, "jpy", "1999"),
        (1999, "kwd", "1.999"),
        (5, "bhd", "0.005"),
        (10**30 + 1, "usd", "10000000000000000000000000000.01"),  # exact beyond Decimal's 28 digits
    ],
)
def test_decimal_is_the_amount_in_major_units(amount, currency, text):
    money = Money(amount, currency)
    assert str(money.decimal()) == text
    assert money.decimal() == Decimal(text)
    assert str(money) == f"{text} {currency}"


def test_arithmetic_within_one_currency():
    a, b = Money(1999, "usd"), Money(1, "USD")
    assert b.currency == "usd"
    assert a + b == Money(2000, "usd")
    assert a - b == Money(1998, "usd")
    assert b - a == Money(-1998, "usd")
    assert -a == Money(-1999, "usd")
    assert a * 3 == 3 * a == Money(5997, "usd")
    assert a * 0 == zero("usd")
    assert sum([a, b, a], zero("usd")) == Money(3999, "usd")
    assert b < a and b <= a and a > b and a >= b and a <= a and not a < a
    assert Money(0, "usd") != Money(0, "eur")
    assert len({Money(1, "usd"), Money(1, "USD"), Money(1, "jpy")}) == 2


@pytest.mark.parametrize(
    "combine",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
        lambda a, b: sum([a, b], zero("usd")),
    ],
)
def test_mixing_currencies_is_a_typed_error(combine):
    with pytest.raises(CurrencyMismatch) as raised:
        combine(Money(100, "usd"), Money(100, "eur"))
    assert isinstance(raised.value, KassaError)
    assert raised.value.code == "CURRENCY_MISMATCH"
    assert "usd" in raised.value.message and "eur" in raised.value.message


def test_money_refuses_what_is_not_an_integer_amount_of_a_known_currency():
    with pytest.raises(TypeError, match="float"):
        Money(19.99, "usd")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(Decimal("1999"), "usd")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True, "usd")
    with pytest.raises(ValueError):
        Money(1, "xyz")
    with pytest.raises(TypeError, match="float"):
        Money(1, "usd") * 1.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(1, "usd") * Decimal("1.5")  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(1, "usd") + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(1, "usd") < 2  # type: ignore[operator]
    with pytest.raises(AttributeError):
        Money(1, "usd").amount = 2  # type: ignore[misc]


# -- the rounding rule: exact cents ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.5", 1),
        ("1.5", 2),
        ("2.5", 3),  # half away from zero, not half to even (which gives 2)
        ("-0.5", -1),
        ("-2.5", -3),
        ("2.4999999999", 2),
        ("2.5000000001", 3),
        ("-2.4999999999", -2),
        ("0.4", 0),
        ("16.65", 17),  # 0.05 cent x 333
        ("7", 7),
        ("123456789012345678901234567890.5", 123456789012345678901234567891),
    ],
)
def test_round_minor_rounds_half_away_from_zero(value, expected):
    assert round_minor(Decimal(value)) == expected


@pytest.mark.parametrize(
    ("amount", "numerator", "denominator", "expected"),
    [
        (Money(1999, "usd"), 15, 30, Money(1000, "usd")),  # 999.5 -> 1000
        (Money(1999, "usd"), 10, 31, Money(645, "usd")),  # 644.84
        (Money(1000, "usd"), 1, 3, Money(333, "usd")),
        (Money(1000, "usd"), 2, 3, Money(667, "usd")),
        (Money(2000, "usd"), 1_296_000, 2_592_000, Money(1000, "usd")),  # 15 of 30 days, in seconds
        (Money(1000, "jpy"), 1, 3, Money(333, "jpy")),
        (Money(1001, "jpy"), 1, 2, Money(501, "jpy")),  # 500.5
        (Money(12345, "kwd"), 7, 30, Money(2881, "kwd")),  # 2880.5 fils
        (Money(-1999, "usd"), 15, 30, Money(-1000, "usd")),  # a credit mirrors its charge
        (Money(1999, "usd"), 0, 30, Money(0, "usd")),
        (Money(1999, "usd"), 30, 30, Money(1999, "usd")),
        (Money(1000, "usd"), Decimal("0.5"), Decimal("1.5"), Money(333, "usd")),
        (999, 1, 2, 500),
    ],
)
def test_prorate_examples(amount, numerator, denominator, expected):
    assert prorate(amount, numerator, denominator) == expected


@pytest.mark.parametrize(
    ("amount", "percent", "expected"),
    [
        (Money(1999, "usd"), 10, Money(200, "usd")),  # 199.9
        (Money(1999, "usd"), Decimal("8.25"), Money(165, "usd")),  # 164.9175
        (Money(1000, "usd"), Decimal("12.5"), Money(125, "usd")),
        (Money(1, "usd"), 50, Money(1, "usd")),  # 0.5
        (Money(3, "usd"), 50, Money(2, "usd")),  # 1.5
        (Money(5, "usd"), 50, Money(3, "usd")),  # 2.5: away from zero, not to even
        (Money(-5, "usd"), 50, Money(-3, "usd")),
        (Money(1000, "jpy"), 8, Money(80, "jpy")),
        (Money(1999, "jpy"), 10, Money(200, "jpy")),
        (Money(1999, "kwd"), 5, Money(100, "kwd")),  # 99.95 fils
        (Money(1999, "usd"), 100, Money(1999, "usd")),
        (Money(1999, "usd"), 0, Money(0, "usd")),
        (1999, Decimal("33.333"), 666),  # 666.32
    ],
)
def test_percentage_examples(amount, percent, expected):
    assert percentage(amount, percent) == expected


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (101, [1, 1, 1], [34, 34, 33]),
        (2, [1, 1, 1], [1, 1, 0]),  # ties go to the earliest parts
        (1, [0, 1, 1], [0, 1, 0]),
        (1000, [0, 0, 5], [0, 0, 1000]),
        (1000, [Decimal("0.2"), Decimal("0.3"), Decimal("0.5")], [200, 300, 500]),
        (100, [Decimal("1.5"), 1], [60, 40]),
        (5, [3, 7], [2, 3]),  # 1.5 and 3.5: the first of the two equal remainders
        (10, [1, 2, 3, 4], [1, 2, 3, 4]),
        (7, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]),
        (0, [1, 2], [0, 0]),
        (999, [1], [999]),
    ],
)
def test_allocate_examples(total, weights, expected):
    assert allocate(total, weights) == expected


def test_allocate_money_in_jpy_and_kwd():
    assert allocate(Money(1000, "jpy"), [1, 1, 1]) == [Money(334, "jpy"), Money(333, "jpy"), Money(333, "jpy")]
    assert allocate(Money(10, "kwd"), [1, 2]) == [Money(3, "kwd"), Money(7, "kwd")]  # 3.33 and 6.67 fils


def test_allocate_refuses_weights_it_cannot_split_by():
    for weights in ([], [0, 0], [Decimal(0)]):
        with pytest.raises(ValueError, match="greater than 0"):
            allocate(100, weights)
    with pytest.raises(ValueError, match="0 or more"):
        allocate(100, [2, -1])
    with pytest.raises(ValueError, match="finite"):
        allocate(100, [Decimal("NaN"), 1])
    with pytest.raises(TypeError):
        allocate(100, "12")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        allocate(100, [True, 1])


def test_prorate_and_percentage_refuse_parts_outside_the_whole():
    with pytest.raises(ValueError):
        prorate(100, 31, 30)
    with pytest.raises(ValueError):
        prorate(100, -1, 30)
    with pytest.raises(ValueError):
        prorate(100, 0, 0)
    with pytest.raises(ValueError):
        percentage(100, Decimal("Infinity"))


# -- floats are refused everywhere -------------------------------------------------------------

floats = st.floats(allow_nan=True, allow_infinity=True)


@given(value=floats)
def test_floats_are_refused_everywhere(value):
    calls = [
        lambda: Money(value, "usd"),
        lambda: Money(100, "usd") * value,
        lambda: round_minor(value),
        lambda: prorate(value, 1, 2),
        lambda: prorate(100, value, 2),
        lambda: prorate(100, 1, value),
        lambda: percentage(value, 10),
        lambda: percentage(100, value),
        lambda: allocate(value, [1, 1]),
        lambda: allocate(100, [1, value]),
    ]
    for call in calls:
        with pytest.raises(TypeError):
            call()


# -- properties --------------------------------------------------------------------------------

totals = st.integers(min_value=-(10**15), max_value=10**15)
decimal_weights = st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False)
weight_lists = st.lists(st.one_of(st.integers(min_value=0, max_value=10**6), decimal_weights), min_size=1, max_size=30).filter(
    lambda weights: any(weights)
)


@settings(max_examples=500)
@given(total=totals, weights=weight_lists)
def test_allocate_parts_add_up_and_stay_within_one_unit_of_their_share(total, weights):
    parts = allocate(total, weights)
    assert len(parts) == len(weights)
    assert sum(parts) == total
    whole = sum(Fraction(w) for w in weights)
    for part, weight in zip(parts, weights):
        share = total * Fraction(weight) / whole
        assert abs(part - share) < 1
        if weight == 0:
            assert part == 0
        assert part * total >= 0  # never the opposite sign of the total
    assert allocate(-total, weights) == [-part for part in parts]


@given(total=totals, weights=weight_lists, currency=st.sampled_from(["usd", "jpy", "kwd"]))
def test_allocate_money_is_allocate_of_its_amount(total, weights, currency):
    parts = allocate(Money(total, currency), weights)
    assert [part.amount for part in parts] == allocate(total, weights)
    assert {part.currency for part in parts} == {currency}
    assert sum(parts, zero(currency)) == Money(total, currency)


@given(total=st.integers(min_value=0, max_value=10**12), count=st.integers(min_value=1, max_value=50))
def test_allocate_equal_weights_differ_by_at_most_one_and_the_larger_come_first(total, count):
    parts = allocate(total, [1] * count)
    assert max(parts) - min(parts) <= 1
    assert parts == sorted(parts, reverse=True)


@st.composite
def prorations(draw):
    denominator = draw(st.integers(min_value=1, max_value=31 * 86400))
    first = draw(st.integers(min_value=0, max_value=denominator))
    second = draw(st.integers(min_value=first, max_value=denominator))
    return first, second, denominator


@settings(max_examples=500)
@given(amount=st.integers(min_value=-(10**12), max_value=10**12), parts=prorations())
def test_prorate_is_nearest_monotone_and_bounded(amount, parts):
    first, second, denominator = parts
    low, high = prorate(amount, first, denominator), prorate(amount, second, denominator)
    assert abs(low - Fraction(amount * first, denominator)) <= Fraction(1, 2)
    if amount >= 0:
        assert 0 <= low <= high <= amount
    else:
        assert 0 >= low >= high >= amount
    assert prorate(-amount, first, denominator) == -low
    assert prorate(amount, 0, denominator) == 0
    assert prorate(amount, denominator, denominator) == amount


@given(amount=st.integers(min_value=-(10**12), max_value=10**12), percent=st.decimals(min_value=0, max_value=1000, places=3))
def test_percentage_is_the_nearest_unit_with_halves_away_from_zero(amount, percent):
    exact = amount * Fraction(percent) / 100
    result = percentage(amount, percent)
    assert abs(result - exact) <= Fraction(1, 2)
    if abs(result - exact) == Fraction(1, 2):
        assert abs(result) > abs(exact)
    assert percentage(-amount, percent) == -result
    assert round_minor(Decimal(amount) * percent / 100) == result  # exact: at most 19 digits
