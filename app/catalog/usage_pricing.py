"""What a period's usage of a metered price costs: `metered_amount`, the one function that
prices units, whatever reads it (the renewal's metered lines, previews, the bench's check).

A metered price (`metered_unit`) prices its units one of four ways:
- plain: `unit_amount` (a decimal number of minor units) per unit;
- `graduated` tiers: each tier prices the units that fall in it (tier i holds the units above
  the previous tier's `up_to`, up to its own), plus its `flat_amount` once any unit reaches it;
- `volume` tiers: the tier the total falls in (the first whose `up_to` is at least the total)
  prices every unit, plus its `flat_amount`;
- `package`: every started `package_size` units cost `package_amount` (units rounded UP to
  whole packages: 1,001 units in packages of 1,000 are 2 packages).

The exact amount (a Decimal of minor units) is rounded once, by the kit's rule (round_minor),
and then the price's `cap_amount`, if any, caps it. No usage (0 units) costs nothing, in every
mode: a tier's flat amount is owed by usage that reaches it.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any, Protocol, Sequence

from app.kit.money import round_minor


# The meter aggregations a wallet-enabled price may use: its usage is paid as it arrives, batch by
# batch, which only adds up for counted or summed units (app/wallets/usage.py).
WALLET_AGGREGATIONS = ("count", "sum")


class TierMode:
    graduated = "graduated"
    volume = "volume"
    package = "package"

    all = ("graduated", "volume", "package")


class MeteredPrice(Protocol):
    """What pricing reads of a price (a ProductPrice row has it all)."""

    unit_amount: Decimal | None
    cap_amount: int | None
    tier_mode: str | None
    tiers: list[dict[str, Any]] | None
    package_size: int | None
    package_amount: int | None


def _up_to(tier: dict[str, Any]) -> Decimal | None:
    value = tier.get("up_to")
    return None if value is None else Decimal(str(value))


def _graduated(tiers: Sequence[dict[str, Any]], units: Decimal) -> Decimal:
    total, below = Decimal(0), Decimal(0)
    for tier in tiers:
        if units <= below:
            break
        top = _up_to(tier)
        inside = units - below if top is None else min(units, top) - below
        total += inside * Decimal(str(tier["unit_amount"])) + int(tier.get("flat_amount") or 0)
        if top is None:
            break
        below = top
    return total


def _volume(tiers: Sequence[dict[str, Any]], units: Decimal) -> Decimal:
    for tier in tiers:
        top = _up_to(tier)
        if top is None or units <= top:
            return units * Decimal(str(tier["unit_amount"])) + int(tier.get("flat_amount") or 0)
    raise ValueError("the last tier of a volume price must be open-ended")


def exact_amount(price: MeteredPrice, units: Decimal) -> Decimal:
    """The price of `units` in minor units, exactly (not rounded, not capped)."""
    if units <= 0:
        return Decimal(0)
    if price.tier_mode == TierMode.graduated:
        return _graduated(price.tiers or [], units)
    if price.tier_mode == TierMode.volume:
        return _volume(price.tiers or [], units)
    if price.tier_mode == TierMode.package:
        whole, rest = divmod(units, int(price.package_size or 0))
        return (whole + (1 if rest else 0)) * int(price.package_amount or 0)  # rounded up to whole packages
    if price.unit_amount is None:
        raise ValueError("a metered price needs a unit amount or a tier mode")
    return units * Decimal(price.unit_amount)


def metered_amount(price: MeteredPrice, units: Decimal) -> int:
    """What `units` of usage cost at `price`, in integer minor units: the exact amount rounded
    once by the kit's rule, then capped by the price's `cap_amount`. Negative units are a defect."""
    if not isinstance(units, Decimal):
        raise TypeError(f"units must be a Decimal, not {type(units).__name__}")
    if units < 0:
        raise ValueError(f"units cannot be negative: {units}")
    with localcontext(prec=100):  # exact: 30-digit units times 30-digit unit amounts
        exact = exact_amount(price, units)
    amount = round_minor(exact)
    if price.cap_amount is not None:
        amount = min(amount, int(price.cap_amount))
    return amount
