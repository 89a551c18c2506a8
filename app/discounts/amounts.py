"""The one amounts calculation: subtotal, discount, net, tax and total of a purchase.

Checkouts and orders call `compute_amounts` and store what it returns; nothing else computes
these amounts. The formulas are seed 001's (Polar's order):

    subtotal = the prices' amounts (times the quantity, e.g. seats)
    discount = the discount's share of the subtotal (percentage) or its amount (fixed),
               never more than the subtotal
    net      = subtotal - discount
    tax      = the tax rate's share of the net amount
    total    = net + tax

Every amount is a `Money` of one currency. The two shares go through the kit's `percentage`, so
each is rounded once, by the one rule (half away from zero, app/kit/money.py); the other amounts
are exact sums and differences. A fixed discount in another currency than the prices is refused
(`DiscountNotApplicable`, reason `other_currency`), as is a mix of currencies among the prices
(`CurrencyMismatch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from app.discounts.errors import DiscountNotApplicable, NotApplicableReason
from app.kit.money import Money, percentage, zero
from app.models.discount import Discount, DiscountType

BASIS_POINTS_PER_PERCENT = Decimal(100)
MAX_BASIS_POINTS = 10_000


@dataclass(frozen=True)
class Amounts:
    subtotal: Money
    discount_amount: Money
    net_amount: Money
    tax_amount: Money
    total_amount: Money


@dataclass(frozen=True)
class DiscountTerms:
    """What the calculation needs of a discount: a share (`basis_points`) or an amount."""

    basis_points: int | None = None
    amount: Money | None = None

    def __post_init__(self) -> None:
        if (self.basis_points is None) == (self.amount is None):
            raise ValueError("a discount is either a percentage (basis_points) or a fixed amount")
        if self.basis_points is not None and not 1 <= self.basis_points <= MAX_BASIS_POINTS:
            raise ValueError(f"basis points must be 1 to {MAX_BASIS_POINTS}, not {self.basis_points}")
        if self.amount is not None and self.amount.amount <= 0:
            raise ValueError("a fixed discount is more than 0")

    @classmethod
    def of(cls, discount: Discount) -> DiscountTerms:
        if discount.type == DiscountType.fixed.value:
            return cls(amount=Money(discount.amount, discount.currency))  # type: ignore[arg-type]
        return cls(basis_points=discount.basis_points)


def share(amount: Money, basis_points: int) -> Money:
    """`basis_points` / 10000 of `amount`, rounded once by the kit's rule."""
    return percentage(amount, Decimal(basis_points) / BASIS_POINTS_PER_PERCENT)


def compute_amounts(
    prices: Money | Sequence[Money],
    *,
    quantity: int = 1,
    discount: DiscountTerms | None = None,
    tax_basis_points: int = 0,
) -> Amounts:
    """The amounts of buying `quantity` (seats; 1 otherwise) of `prices` (one price's amount, or
    the amounts of several lines in one currency), less `discount`, plus tax at
    `tax_basis_points` (0 to 10000) of the net amount."""
    lines = [prices] if isinstance(prices, Money) else list(prices)
    if not lines:
        raise ValueError("compute_amounts needs at least one price amount")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValueError(f"the quantity must be an int of 1 or more, not {quantity!r}")
    if isinstance(tax_basis_points, bool) or not isinstance(tax_basis_points, int) or not 0 <= tax_basis_points <= MAX_BASIS_POINTS:
        raise ValueError(f"the tax rate must be 0 to {MAX_BASIS_POINTS} basis points, not {tax_basis_points!r}")
    currency = lines[0].currency
    subtotal = sum(lines, zero(currency)) * quantity
    if subtotal.amount < 0:
        raise ValueError("a subtotal cannot be negative")

    discount_amount = zero(currency)
    if discount is not None:
        if discount.amount is not None:
            if discount.amount.currency != currency:
                raise DiscountNotApplicable(None, NotApplicableReason.other_currency)
            discount_amount = discount.amount
        else:
            discount_amount = share(subtotal, discount.basis_points)  # type: ignore[arg-type]
        discount_amount = min(discount_amount, subtotal)

    net = subtotal - discount_amount
    tax = share(net, tax_basis_points)
    return Amounts(subtotal=subtotal, discount_amount=discount_amount, net_amount=net, tax_amount=tax, total_amount=net + tax)
