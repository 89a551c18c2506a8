"""Decimal quantities as text: the shortest exact form, never an exponent."""

from __future__ import annotations

from decimal import Decimal


def decimal_text(value: Decimal) -> str:
    """`0.050000000000` as `0.05`, `100.000000000000` as `100`, zero as `0` (never `1E+2` or `0E-12`)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text
