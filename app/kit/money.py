"""Money rules shared by every domain: integer minor units of an ISO 4217 currency.

Amounts are Python ints stored as BigInteger; fractional unit prices (metered) are Decimals of
minor units. No floats anywhere: every function here refuses one with a TypeError.

- `exponent(currency)`: the currency's ISO 4217 minor unit (usd 2, jpy 0, kwd 3).
- `Money`: an immutable amount of minor units and its currency. Adding, subtracting or comparing
  amounts of two currencies raises `CurrencyMismatch` (app/kit/errors.py), a `KassaError`: the two
  amounts can come from a caller (a price and a discount), so it reaches the caller typed.
- The one rounding rule (ROUNDING_RULE: half away from zero), in one function (`_nearest`), used by
  `round_minor`, `prorate` and `percentage`; `allocate` splits a total into parts that always add
  up to it (largest remainder method). All of them compute exactly (fractions), never in floats.

Misuse by the calling code (a float, an unknown currency, all-zero weights) raises TypeError or
ValueError: it is a defect to fix, not an answer for a caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from types import MappingProxyType
from typing import overload

from app.kit.errors import CurrencyMismatch, FieldIssue

# The largest amount accepted anywhere, in minor units (10^12 cents is ten billion dollars):
# far inside BigInteger and inside the integers a JSON client reads exactly (2^53).
MAX_AMOUNT = 10**12
# Fractional minor units are stored as Numeric(30, 12).
UNIT_AMOUNT_MAX_DECIMALS = 12

# ISO 4217 codes of currencies one can be paid in (no funds, metals or test codes), lowercase.
CURRENCIES = frozenset(
    """
    aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd btn bwp byn
    bzd cad cdf chf clp cny cop crc cuc cup cve czk djf dkk dop dzd egp ern etb eur fjd fkp gbp gel
    ghs gip gmd gnf gtq gyd hkd hnl htg huf idr ils inr iqd irr isk jmd jod jpy kes kgs khr kmf kpw
    krw kwd kyd kzt lak lbp lkr lrd lsl lyd mad mdl mga mkd mmk mnt mop mru mur mvr mwk mxn myr mzn
    nad ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sdg sek
    sgd shp sle sll sos srd ssp stn svc syp szl thb tjs tmt tnd top try ttd twd tzs uah ugx usd uyu
    uzs ved ves vnd vuv wst xaf xcd xcg xof xpf yer zar zmw zwg zwl
    """.split()
)

# ISO 4217 minor units ("exponent": an amount of 1 major unit is 10**exponent minor units), from
# ISO 4217 List One (SIX, the maintenance agency:
# https://www.six-group.com/en/products-services/financial-information/data-standards.html).
# Every code of CURRENCIES not named below has 2. ISO's other codes (funds such as clf, uyi and uyw,
# metals, test codes) are not in CURRENCIES. tests/kit/test_money.py pins these values.
_EXPONENT_0 = frozenset("bif clp djf gnf isk jpy kmf krw pyg rwf ugx vnd vuv xaf xof xpf".split())
_EXPONENT_3 = frozenset("bhd iqd jod kwd lyd omr tnd".split())
EXPONENTS: Mapping[str, int] = MappingProxyType(
    {code: 0 if code in _EXPONENT_0 else 3 if code in _EXPONENT_3 else 2 for code in sorted(CURRENCIES)}
)


def exponent(currency: str) -> int:
    """The ISO 4217 minor unit of `currency` (any case): 2 for usd, 0 for jpy, 3 for kwd."""
    try:
        return EXPONENTS[currency.lower()]
    except (AttributeError, KeyError):
        raise ValueError(f"not an ISO 4217 currency code of CURRENCIES: {currency!r}") from None


def check_currency(issues: list[FieldIssue], path: tuple[str, ...], value: str) -> str:
    """An ISO 4217 code, any case in, lowercase out."""
    code = value.strip().lower()
    if code not in CURRENCIES:
        issues.append(FieldIssue(path, "must be an ISO 4217 currency code such as 'usd'", "invalid_currency"))
    return code


def check_amount(
    issues: list[FieldIssue], path: tuple[str, ...], value: int | None, *, minimum: int = 0, required: bool = True
) -> int | None:
    """An integer amount of minor units between `minimum` and MAX_AMOUNT."""
    if value is None:
        if required:
            issues.append(FieldIssue(path, "is required", "required"))
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        issues.append(FieldIssue(path, "must be an integer number of minor units", "invalid_type"))
        return None
    if value < minimum:
        issues.append(FieldIssue(path, f"must be at least {minimum}", "out_of_range"))
    elif value > MAX_AMOUNT:
        issues.append(FieldIssue(path, f"must be at most {MAX_AMOUNT}", "out_of_range"))
    return value


def check_unit_amount(issues: list[FieldIssue], path: tuple[str, ...], value: Decimal | None) -> Decimal | None:
    """A positive, possibly fractional, number of minor units with at most 12 decimals."""
    if value is None:
        issues.append(FieldIssue(path, "is required", "required"))
        return None
    try:
        if not value.is_finite():
            raise InvalidOperation
    except (AttributeError, InvalidOperation):
        issues.append(FieldIssue(path, "must be a decimal number", "invalid_type"))
        return None
    if value <= 0:
        issues.append(FieldIssue(path, "must be greater than 0", "out_of_range"))
    elif value > MAX_AMOUNT:
        issues.append(FieldIssue(path, f"must be at most {MAX_AMOUNT}", "out_of_range"))
    elif value.as_tuple().exponent < -UNIT_AMOUNT_MAX_DECIMALS and value != value.quantize(Decimal(1).scaleb(-UNIT_AMOUNT_MAX_DECIMALS)):
        issues.append(FieldIssue(path, f"must have at most {UNIT_AMOUNT_MAX_DECIMALS} decimal places", "too_precise"))
    return value


# -- Money ------------------------------------------------------------------------------------


def _refuse_float(value: object, what: str) -> None:
    if isinstance(value, float):
        raise TypeError(f"{what} must not be a float ({value!r}): use an int or a Decimal")


def _integer(value: object, what: str) -> int:
    _refuse_float(value, what)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of integer minor units of one currency: `Money(1999, "usd")` is 19.99 usd.

    `+`, `-` and comparisons take another Money of the same currency (else `CurrencyMismatch`);
    `*` takes an int (a quantity); `-m` negates. Sum a list with `sum(items, zero("usd"))`.
    Anything fractional (a percentage, a prorated part, a fractional unit price times a quantity)
    goes through `percentage`, `prorate`, `round_minor` or `allocate`, which round by the one rule.
    """

    amount: int
    currency: str

    def __post_init__(self) -> None:
        _integer(self.amount, "Money.amount")
        exponent(self.currency)  # a known currency
        object.__setattr__(self, "currency", self.currency.lower())

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency)

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: object) -> Money:
        _refuse_float(factor, "a Money factor")
        if isinstance(factor, bool) or not isinstance(factor, int):
            return NotImplemented  # a Decimal factor needs rounding: use round_minor or percentage
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount <= other.amount

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount > other.amount

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount >= other.amount

    def decimal(self) -> Decimal:
        """The amount in major units, exactly, with the currency's decimals: 19.99 for
        Money(1999, "usd"), 1999 for jpy, 1.999 for kwd."""
        sign, digits, _ = Decimal(self.amount).as_tuple()
        return Decimal((sign, digits, -exponent(self.currency)))

    def __str__(self) -> str:
        return f"{self.decimal()} {self.currency}"


def zero(currency: str) -> Money:
    """Nothing, in `currency`: the start of a sum."""
    return Money(0, currency)


# -- The one rounding rule --------------------------------------------------------------------

ROUNDING_RULE = "half away from zero, to the minor unit"
"""An exact half rounds away from zero (0.5 cent -> 1 cent, -0.5 cent -> -1 cent), anything else to
the nearest minor unit. It is commercial rounding, what merchants and their customers expect on
an invoice, and it is symmetric: a credit or refund rounds to exactly the negative of its charge."""


def _nearest(value: Fraction) -> int:
    """`value` rounded to an integer by ROUNDING_RULE. The only place Kassa rounds money."""
    halves_up = (2 * abs(value.numerator) + value.denominator) // (2 * value.denominator)
    return halves_up if value.numerator >= 0 else -halves_up


def _exact(value: object, what: str) -> Fraction:
    """An int or a finite Decimal as an exact fraction; a float, a bool or anything else refused."""
    _refuse_float(value, what)
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an int or a Decimal, not bool")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{what} must be a finite number, not {value}")
        return Fraction(value)
    raise TypeError(f"{what} must be an int or a Decimal, not {type(value).__name__}")


def _minor(amount: int | Money) -> tuple[int, str | None]:
    if isinstance(amount, Money):
        return amount.amount, amount.currency
    return _integer(amount, "an amount"), None


def _as(currency: str | None, value: int) -> int | Money:
    return value if currency is None else Money(value, currency)


def round_minor(value: Decimal | int) -> int:
    """A Decimal number of minor units (a fractional unit price times a quantity: 0.05 cent x 333 =
    16.65 cents) rounded to whole minor units by ROUNDING_RULE: 17."""
    return _nearest(_exact(value, "the value to round"))


@overload
def prorate(amount: int, numerator: int | Decimal, denominator: int | Decimal) -> int: ...
@overload
def prorate(amount: Money, numerator: int | Decimal, denominator: int | Decimal) -> Money: ...
def prorate(amount: int | Money, numerator: int | Decimal, denominator: int | Decimal) -> int | Money:
    """The part `numerator / denominator` (e.g. seconds used of the seconds in the period, 0 to the
    whole) of `amount`, rounded by ROUNDING_RULE. Between 0 and `amount`, never decreasing as
    `numerator` grows; 0 at 0, `amount` at `denominator`."""
    value, currency = _minor(amount)
    part, whole = _exact(numerator, "the numerator"), _exact(denominator, "the denominator")
    if whole <= 0:
        raise ValueError(f"the denominator must be greater than 0, not {denominator}")
    if not 0 <= part <= whole:
        raise ValueError(f"the numerator must be between 0 and the denominator ({denominator}), not {numerator}")
    return _as(currency, _nearest(value * part / whole))


@overload
def percentage(amount: int, percent: int | Decimal) -> int: ...
@overload
def percentage(amount: Money, percent: int | Decimal) -> Money: ...
def percentage(amount: int | Money, percent: int | Decimal) -> int | Money:
    """`percent` percent of `amount` (a discount, a tax: Decimal("8.25") for 8.25 %), rounded by
    ROUNDING_RULE: percentage(1999, 10) == 200."""
    value, currency = _minor(amount)
    return _as(currency, _nearest(value * _exact(percent, "the percentage") / 100))


@overload
def allocate(total: int, weights: Sequence[int | Decimal]) -> list[int]: ...
@overload
def allocate(total: Money, weights: Sequence[int | Decimal]) -> list[Money]: ...
def allocate(total: int | Money, weights: Sequence[int | Decimal]) -> list[int] | list[Money]:
    """Split `total` in proportion to `weights` (ints or Decimals, 0 or more, not all 0) into whole
    minor units that always add up to `total` exactly.

    Largest remainder method: each part gets the whole units of its exact share (rounded toward
    zero), and the units left over go one each to the parts with the largest fractional remainder,
    the earliest part first among equal remainders. So every part is within one unit of its exact
    share, a zero weight gets 0, and a negative total is split as the mirror of the positive one:
    allocate(100, [1, 1, 1]) == [34, 33, 33], allocate(-100, [1, 1, 1]) == [-34, -33, -33].
    """
    value, currency = _minor(total)
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
        raise TypeError("the weights must be a sequence of ints or Decimals")
    exact = [_exact(weight, "a weight") for weight in weights]
    if any(weight < 0 for weight in exact):
        raise ValueError(f"weights must be 0 or more: {list(weights)}")
    whole = sum(exact, Fraction(0))
    if whole == 0:
        raise ValueError("at least one weight must be greater than 0")
    magnitude = abs(value)
    shares = [magnitude * weight / whole for weight in exact]
    parts = [share.numerator // share.denominator for share in shares]
    left = magnitude - sum(parts)  # 0 <= left < the number of parts with a fractional remainder
    by_remainder = sorted(range(len(parts)), key=lambda i: (parts[i] - shares[i], i))  # largest first
    for i in by_remainder[:left]:
        parts[i] += 1
    sign = -1 if value < 0 else 1
    if currency is None:
        return [sign * part for part in parts]
    return [Money(sign * part, currency) for part in parts]
