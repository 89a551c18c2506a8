"""The one amounts calculation (app/discounts/amounts.py): a table of exact minor units, with
percentage and fixed discounts and tax, in usd (2 decimals), jpy (0) and kwd (3). Each share is
rounded once, half away from zero."""

from __future__ import annotations

import pytest

from app.discounts.amounts import DiscountTerms, compute_amounts
from app.discounts.errors import DiscountNotApplicable, NotApplicableReason
from app.kit.errors import CurrencyMismatch
from app.kit.money import Money


def pct(basis_points: int) -> DiscountTerms:
    return DiscountTerms(basis_points=basis_points)


def fixed(amount: int, currency: str) -> DiscountTerms:
    return DiscountTerms(amount=Money(amount, currency))


# prices, quantity, discount, tax basis points -> subtotal, discount, net, tax, total (minor units)
CASES = [
    # usd: 10 % of 19.99 is 1.999 -> 2.00
    ("usd", [1999], 1, pct(1000), 0, (1999, 200, 1799, 0, 1799)),
    # 8.25 % tax of 19.99 is 1.649175 -> 1.65
    ("usd", [1999], 1, None, 825, (1999, 0, 1999, 165, 2164)),
    # 12.5 % of 19.99 is 2.49875 -> 2.50; 20 % of 17.49 is 3.498 -> 3.50
    ("usd", [1999], 1, pct(1250), 2000, (1999, 250, 1749, 350, 2099)),
    # a fixed discount above the subtotal stops at it: nothing to pay, no tax
    ("usd", [1000], 1, fixed(1500, "usd"), 2000, (1000, 1000, 0, 0, 0)),
    # 3 seats of 49.99, 5.00 off, 19 % of 144.97 is 27.5443 -> 27.54
    ("usd", [4999], 3, fixed(500, "usd"), 1900, (14997, 500, 14497, 2754, 17251)),
    # exact halves round away from zero: 10 % of 0.05 is 0.005 -> 0.01; 12.5 % of 0.04 is 0.005 -> 0.01
    ("usd", [5], 1, pct(1000), 1250, (5, 1, 4, 1, 5)),
    # 100 % off
    ("usd", [2500], 1, pct(10000), 2000, (2500, 2500, 0, 0, 0)),
    # several lines in one currency
    ("usd", [1000, 250], 1, pct(2000), 700, (1250, 250, 1000, 70, 1070)),
    # a free price
    ("usd", [0], 1, pct(5000), 2000, (0, 0, 0, 0, 0)),
    # jpy has no decimals: 15 % of 1000 yen, 10 % tax of 850
    ("jpy", [1000], 1, pct(1500), 1000, (1000, 150, 850, 85, 935)),
    # 5 % of 999 is 49.95 -> 50; 8 % of 949 is 75.92 -> 76
    ("jpy", [999], 1, pct(500), 800, (999, 50, 949, 76, 1025)),
    # 50 % of 1 yen is 0.5 -> 1
    ("jpy", [1], 1, pct(5000), 1000, (1, 1, 0, 0, 0)),
    # 300 yen off 2 seats of 750, 10 % tax
    ("jpy", [750], 2, fixed(300, "jpy"), 1000, (1500, 300, 1200, 120, 1320)),
    # kwd has 3 decimals: 33.33 % of 12.345 is 4.1146885 -> 4.115; 5 % of 8.230 is 0.4115 -> 0.412
    ("kwd", [12345], 1, pct(3333), 500, (12345, 4115, 8230, 412, 8642)),
    # 0.250 kwd off 1.000, 15 % of 0.750 is 0.1125 -> 0.113
    ("kwd", [1000], 1, fixed(250, "kwd"), 1500, (1000, 250, 750, 113, 863)),
]


@pytest.mark.parametrize(("currency", "prices", "quantity", "discount", "tax", "expected"), CASES)
def test_amounts_to_the_minor_unit(currency, prices, quantity, discount, tax, expected):
    amounts = compute_amounts([Money(p, currency) for p in prices], quantity=quantity, discount=discount, tax_basis_points=tax)
    got = (amounts.subtotal, amounts.discount_amount, amounts.net_amount, amounts.tax_amount, amounts.total_amount)
    assert got == tuple(Money(value, currency) for value in expected)
    assert amounts.net_amount == amounts.subtotal - amounts.discount_amount
    assert amounts.total_amount == amounts.net_amount + amounts.tax_amount


def test_a_single_price_needs_no_list():
    assert compute_amounts(Money(1999, "usd"), tax_basis_points=825).total_amount == Money(2164, "usd")


def test_a_fixed_discount_in_another_currency_is_refused():
    with pytest.raises(DiscountNotApplicable) as raised:
        compute_amounts(Money(1999, "usd"), discount=fixed(500, "eur"))
    assert raised.value.reason is NotApplicableReason.other_currency
    assert raised.value.code == "DISCOUNT_NOT_APPLICABLE"


def test_prices_in_two_currencies_are_refused():
    with pytest.raises(CurrencyMismatch):
        compute_amounts([Money(100, "usd"), Money(100, "eur")])


@pytest.mark.parametrize(
    "kwargs",
    [{"quantity": 0}, {"quantity": True}, {"tax_basis_points": -1}, {"tax_basis_points": 10001}],
)
def test_misuse_is_a_defect(kwargs):
    with pytest.raises(ValueError):
        compute_amounts(Money(100, "usd"), **kwargs)


def test_discount_terms_are_one_kind():
    with pytest.raises(ValueError):
        DiscountTerms()
    with pytest.raises(ValueError):
        DiscountTerms(basis_points=10, amount=Money(1, "usd"))
    with pytest.raises(ValueError):
        DiscountTerms(basis_points=0)
