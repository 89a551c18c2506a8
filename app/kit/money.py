"""Money rules shared by every domain: integer minor units of an ISO 4217 currency.

Amounts are Python ints stored as BigInteger; fractional unit prices (metered) are Decimals of
minor units. No floats anywhere.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from app.kit.errors import FieldIssue

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
