"""The clock: `now()` is the one source of business time, and tests set and move it.

Business time is every time the product keeps or decides by: `created_at` / `modified_at`,
`archived_at`, `deleted_at`, `revoked_at`, an ingested event's default timestamp and the "too far in
the future" check, credit and reset events, token expiry, webhook event timestamps, when a
webhook delivery is due (`next_attempt_at` against now), and anything else compared with a
stored business time. It comes from `clock.now()` (aware, UTC), never from `datetime.now()`,
`time.time()`, `date.today()` or the database's `now()` / `CURRENT_TIMESTAMP`: SQL that needs the
time takes `clock.now()` as a parameter. The models' `server_default=func.now()` stays only as a
column default no write relies on: every insert sets `created_at` and `modified_at` from here (the
ORM through the models' Python defaults, the raw INSERTs of events and webhook events as
parameters; tests/test_clock.py checks the rows of a whole scenario).

Operational time is not business time and stays on the real clocks: rate limits, request time
limits, job coalescing slots and arq's `defer_until` scores, the job outbox's ages
(`clock_timestamp()`), worker heartbeats and health figures, backoff, the webhook signature's
`webhook-timestamp` (a receiver checks it against its own clock), the minute in a sweep's job id,
and durations (`time.monotonic()`, `time.perf_counter()`). tests/test_clock.py names each such use.
A job that must run when a business time comes (a webhook retry) is deferred by `real_time(at)`.

Tests: `set(at)` freezes the clock at `at`, `advance(delta)` moves it (frozen or not), `reset()`
puts it back on real time (the `clock` fixture in tests/conftest.py freezes it for one test). The
override is module-level, not a context variable: the app under test and the worker run in the
test's process as other asyncio tasks, and all of them must see the same time. Each change is one
assignment of an immutable value, so a reader sees the old time or the new one, never a mixture.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

UTC = timezone.utc

# None: real time. Else (frozen instant or None, offset): set by tests only, replaced whole.
_override: tuple[datetime | None, timedelta] | None = None


def now() -> datetime:
    """The current business time: an aware datetime in UTC."""
    override = _override
    if override is None:
        return datetime.now(UTC)
    frozen, offset = override
    return frozen if frozen is not None else datetime.now(UTC) + offset


def set(at: datetime) -> None:  # noqa: A001 - read as `clock.set(...)`
    """Freeze the clock at `at` (aware) until it is moved or reset."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("clock.set needs an aware datetime")
    global _override
    _override = (at.astimezone(UTC), timedelta(0))


def advance(delta: timedelta) -> datetime:
    """Move the clock by `delta` (a frozen clock stays frozen); returns the new time."""
    global _override
    override = _override
    if override is None:
        _override = (None, delta)
    else:
        frozen, offset = override
        _override = (frozen + delta, offset) if frozen is not None else (None, offset + delta)
    return now()


def reset() -> None:
    """Back on real time."""
    global _override
    _override = None


def real_time(at: datetime) -> datetime:
    """When, on the real clock, to run something due at business time `at`: as far from real now
    as `at` is from `now()`. For job queues, whose schedules run on real time."""
    if _override is None:
        return at
    return datetime.now(UTC) + (at - now())
