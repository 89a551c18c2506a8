"""The one retry delay: exponential backoff with jitter, for jobs, reconnects and relays."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, *, first: float, cap: float, jitter: float = 0.25) -> float:
    """`first`, 2 x `first`, 4 x `first`, ... for attempts 1, 2, 3, ..., capped at `cap`, then
    spread by +/- `jitter` (a fraction) so that many clients do not retry in step."""
    delay = min(first * 2 ** max(attempt - 1, 0), cap)
    return delay * random.uniform(1 - jitter, 1 + jitter) if jitter else delay
