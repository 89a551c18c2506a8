"""Billing periods: months and years counted from an anchor, the day of the month kept.

Period n of a subscription anchored at A runs from `period_start(A, interval, n)` to
`period_start(A, interval, n + 1)`. Each boundary is computed from the anchor itself (not from the
previous boundary), with dateutil's `relativedelta`, which clamps to the month's last day: anchored
on Jan 31, the boundaries are Feb 28 (29), Mar 31, Apr 30, May 31... never drifting to the 28th.
"""

from __future__ import annotations

from datetime import datetime

from dateutil.relativedelta import relativedelta

MONTHS = {"month": 1, "year": 12}


def period_start(anchor: datetime, interval: str, n: int) -> datetime:
    """The start of period `n` (0: the first) of an `interval` ("month" or "year") anchored at `anchor`."""
    if interval not in MONTHS:
        raise ValueError(f"unknown billing interval {interval!r}")
    if n < 0:
        raise ValueError("a period number is 0 or more")
    return anchor + relativedelta(months=MONTHS[interval] * n)


def period_bounds(anchor: datetime, interval: str, n: int) -> tuple[datetime, datetime]:
    """(start, end) of period `n`."""
    return period_start(anchor, interval, n), period_start(anchor, interval, n + 1)
