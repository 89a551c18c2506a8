"""Benchmark: subscription renewals, 10,000 due at once, cycled and charged by two workers.

Run from the project root with the virtualenv's Python:

    .venv/bin/python bench/renewals.py

It needs a PostgreSQL (trust auth, user `postgres`) on 127.0.0.1:5432 and a Redis on
127.0.0.1:6379; override them with BENCH_DATABASE_URL / BENCH_REDIS_URL. It drops and re-creates
the database of BENCH_DATABASE_URL (`kassa_bench_renewals` by default), migrates it, flushes the
Redis database of BENCH_REDIS_URL (db 7 by default) and:

1. creates an organization (`kassa org create`), a 19 % tax rate for Germany and, through the
   services, two monthly products: "Base" (a fixed price of 10.00) and "Base + usage" (a fixed
   price of 20.00 and a metered price on an `api_call` meter);
2. bulk-loads (COPY, as the database owner) SUBSCRIPTIONS customers (a third billed in Germany)
   and one active `manual` subscription each, half of them on each product, every one in its
   period 0, whose end is the same instant T a few seconds ahead;
3. starts two `kassa worker` processes (arq, max_jobs=20 each) and waits for their heartbeats;
4. at T asks for the renewal sweep (`subscriptions.renew`, what the cron asks for every minute:
   two `subscriptions.renew_batch` jobs per organization, sharing its due subscriptions with
   `FOR UPDATE SKIP LOCKED`), and waits until every renewal order is paid (each order's
   `subscriptions.charge_order` job, the manual processor paying at once). The cron's own runs
   (at second 5 of every minute) may ask for more sweeps meanwhile: they must find nothing.

Then it checks, against the database: each subscription cycled exactly once (one `cycle` billing
entry and one renewal order of period 1, `period_number` 1), invoice numbers 1..N without a gap,
every renewal order paid with one payment in the ledger for its due amount.

The subscriptions on "Base + usage" have 1 to 4 `api_call` usage events each in period 0
(COPY'd with the subscriptions, committed well before T, and counted into their customer meters
as the meter job would have during the month): their renewal bills that usage
(app/subscriptions/metered.py) as a metered line of the renewal order, at 0.5 cent a call
(rounded once: 1, 2, 3, 4 calls cost 1, 1, 2, 2 cents). The check: every metered subscription
has exactly one metered billing entry, for its expected amount, and its renewal order's subtotal
is the base price plus that amount.

Figures are printed one per line as `name: value`; the last line is the one the benchmark is
judged by: renewals per second, from T to the last renewal order paid.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/ is not a package
import harness  # noqa: E402  (puts the project root on sys.path too)

import asyncio  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from decimal import Decimal  # noqa: E402

from harness import BenchError, Processes  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/kassa_bench_renewals"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"

SUBSCRIPTIONS = int(os.environ.get("BENCH_SUBSCRIPTIONS") or 10_000)  # lower it for a quick try
WORKERS = 2
LEAD_SECONDS = 4.0  # T (every period's end) is this long after the workers are up
RENEW_TIMEOUT = 900.0  # seconds to wait for every renewal order to be paid
POLL_SECONDS = 0.25
WORKER_START_TIMEOUT = 60.0
TARGET = 500  # renewals per second on this 2-core machine
GERMAN_EVERY = 3  # every third customer is billed in Germany (19 % tax)
BASE_AMOUNT, USAGE_BASE_AMOUNT = 1000, 2000


@dataclass
class Catalog:
    organization_id: uuid.UUID
    base: tuple[uuid.UUID, uuid.UUID]  # (product, price)
    usage: tuple[uuid.UUID, uuid.UUID]  # (product, its fixed price); the product also has a metered price
    metered_price_id: uuid.UUID


async def _catalog(database_url: str, organization_id: uuid.UUID) -> Catalog:
    """The products and the tax rate, through the services (as the application role)."""
    from app import load_scope_declarations
    from app.auth.scopes import all_scopes
    from app.auth.service import operator_scope
    from app.auth.subject import Subject
    from app.catalog import service as catalog
    from app.catalog.service import PriceDraft, ProductDraft
    from app.config import Settings
    from app.discounts.tax_rates import set_tax_rate
    from app.kit.db import create_engine, create_session_factory
    from app.kit.tenancy import tenant_session
    from app.meters import service as meters
    from app.models import ProductPrice

    load_scope_declarations()
    subject = Subject(scope=operator_scope(organization_id), token_id=None, scopes=frozenset(s.value for s in all_scopes()))
    engine = create_engine(database_url, role=Settings().database_app_role, pool_size=1)
    try:
        async with tenant_session(create_session_factory(engine), subject.scope) as session:
            await set_tax_rate(session, subject, "DE", None, 1900)
            meter = await meters.create_meter(
                session,
                subject,
                name="API calls",
                filter={"conjunction": "and", "clauses": [{"property": "name", "operator": "eq", "value": "api_call"}]},
                aggregation={"func": "count", "property": None},
            )
            base = await catalog.create_product(session, subject, ProductDraft(name="Base", recurring_interval="month", prices=[PriceDraft(type="fixed", amount=BASE_AMOUNT)]))
            usage = await catalog.create_product(
                session,
                subject,
                ProductDraft(
                    name="Base + usage",
                    recurring_interval="month",
                    prices=[PriceDraft(type="fixed", amount=USAGE_BASE_AMOUNT), PriceDraft(type="metered_unit", meter_id=meter.id, unit_amount=Decimal("0.5"))],
                ),
            )
            await session.commit()
            from sqlalchemy import select

            prices = {(p.product_id, p.type): p.id for p in (await session.scalars(select(ProductPrice))).all()}
    finally:
        await engine.dispose()
    return Catalog(
        organization_id=organization_id,
        base=(base.id, prices[(base.id, "fixed")]),
        usage=(usage.id, prices[(usage.id, "fixed")]),
        metered_price_id=prices[(usage.id, "metered_unit")],
    )


def calls_of(i: int) -> int:
    """The usage events of the i-th subscription (a metered one: i odd): 1 to 4."""
    return 1 + (i // 2) % 4


def expected_usage_amount(calls: int) -> int:
    """What `calls` api calls cost at the bench's metered price (0.5 cent each), by the app's one
    pricing function."""
    from app.catalog.usage_pricing import metered_amount

    price = type("Price", (), {"unit_amount": Decimal("0.5"), "cap_amount": None, "tier_mode": None, "tiers": None, "package_size": None, "package_amount": None})
    return metered_amount(price, Decimal(calls))


async def _load(database_url: str, catalog: Catalog, period_end: datetime) -> float:
    """SUBSCRIPTIONS customers and their subscriptions, COPY'd as the owner. Returns seconds."""
    import asyncpg
    from dateutil.relativedelta import relativedelta

    started = time.perf_counter()
    anchor = period_end - relativedelta(months=1)
    if anchor + relativedelta(months=1) != period_end:
        raise BenchError(f"no monthly period ends at {period_end} (month end); run again in a second")
    now = datetime.now(timezone.utc)
    customers, subscriptions = [], []
    for i in range(SUBSCRIPTIONS):
        customer_id, subscription_id = uuid.uuid4(), uuid.uuid4()
        german = i % GERMAN_EVERY == 0
        customers.append(
            (customer_id, catalog.organization_id, "individual", f"renewal{i}@example.com", f"Customer {i}",
             '{"country": "DE"}' if german else '{"country": "US", "state": "NY"}', "{}", now, now)
        )
        product_id, price_id = catalog.usage if i % 2 else catalog.base
        subscriptions.append(
            (subscription_id, catalog.organization_id, customer_id, product_id, price_id, "manual", "active", "usd",
             USAGE_BASE_AMOUNT if i % 2 else BASE_AMOUNT, "month", anchor, 0, anchor, period_end, anchor, False, "{}", now, now)
        )
    usage = [
        (catalog.organization_id, "api_call", anchor + timedelta(hours=1 + n), c[0], "user", "{}", now, now)
        for i, c in enumerate(customers)
        if i % 2
        for n in range(calls_of(i))
    ]
    conn = await asyncpg.connect(**harness.pg_params(database_url))
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "customers",
                records=customers,
                columns=["id", "organization_id", "type", "email", "name", "billing_address", "metadata", "created_at", "modified_at"],
            )
            await conn.copy_records_to_table(
                "subscriptions",
                records=subscriptions,
                columns=[
                    "id", "organization_id", "customer_id", "product_id", "product_price_id", "processor", "status", "currency",
                    "amount", "recurring_interval", "anchor_at", "period_number", "current_period_start", "current_period_end",
                    "started_at", "cancel_at_period_end", "metadata", "created_at", "modified_at",
                ],
            )
            await conn.copy_records_to_table(
                "events",
                records=usage,
                columns=["organization_id", "name", "timestamp", "customer_id", "source", "metadata", "created_at", "modified_at"],
            )
            # the usage was counted into the customer meters during the month (the meter job's
            # watermark past it), as in the steady state the bench stands for: the meters' sweep
            # finds nothing to do; and the new meter's backfill (the one job the catalog's
            # transaction asked for, still in the outbox) ran long ago
            await conn.execute("DELETE FROM job_outbox WHERE jobs::text LIKE '%meters.backfill%'")
            await conn.execute(
                "INSERT INTO customer_meter_states (id, organization_id, customer_id, watermark, created_at, modified_at)"
                " SELECT gen_random_uuid(), organization_id, id, pg_current_xact_id()::text::bigint + 1, now(), now() FROM customers"
            )
            # and the totals it keeps: each metered customer's `api_call` meter, as counted
            await conn.execute(
                "INSERT INTO customer_meters (id, organization_id, customer_id, meter_id, event_count, value_count, value_sum,"
                " distinct_count, consumed, credited, status, needs_recount, created_at, modified_at)"
                " SELECT gen_random_uuid(), e.organization_id, e.customer_id, p.meter_id, count(*), 0, 0, 0, count(*), 0, 'ok', false, now(), now()"
                " FROM events e JOIN product_prices p ON p.id = $1 WHERE e.source = 'user' GROUP BY e.organization_id, e.customer_id, p.meter_id",
                catalog.metered_price_id,
            )
        await conn.execute("ANALYZE customers; ANALYZE subscriptions; ANALYZE events")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def _ask_for_sweep(redis_url: str) -> None:
    from arq.connections import create_pool

    from app.platform.services import redis_settings_from_url

    queue = await create_pool(redis_settings_from_url(redis_url))
    try:
        await queue.enqueue_job("subscriptions.renew", _job_id=f"bench-renew-{uuid.uuid4().hex}")
    finally:
        await queue.aclose()


@dataclass
class Progress:
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (seconds after T, cycled, paid)


async def _wait_paid(database_url: str, started: float, procs: list[harness.Proc]) -> Progress:
    import asyncpg

    progress = Progress()
    conn = await asyncpg.connect(**harness.pg_params(database_url))
    try:
        deadline = time.monotonic() + RENEW_TIMEOUT
        while True:
            row = await conn.fetchrow(
                "SELECT count(*) AS cycled, count(*) FILTER (WHERE status = 'paid') AS paid FROM orders WHERE billing_reason = 'subscription_cycle'"
            )
            progress.samples.append((time.monotonic() - started, row["cycled"], row["paid"]))
            if row["paid"] >= SUBSCRIPTIONS:
                return progress
            for proc in procs:
                if proc.popen.poll() is not None:
                    raise BenchError(f"the {proc.name} exited with code {proc.popen.returncode}:\n{harness.tail(proc.log)}")
            if time.monotonic() > deadline:
                raise BenchError(f"after {RENEW_TIMEOUT:.0f} s: {row['cycled']} cycled, {row['paid']} paid of {SUBSCRIPTIONS}")
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await conn.close()


async def _database_counters(database_url: str) -> dict[str, int]:
    """The server's own counters for this database (pg_stat_database), to take differences of."""
    import asyncpg

    conn = await asyncpg.connect(**harness.pg_params(database_url))
    try:
        row = await conn.fetchrow(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database WHERE datname = current_database()"
        )
        return dict(row)
    finally:
        await conn.close()


@dataclass
class Checks:
    cycled: int
    cycled_twice: int
    not_cycled: int
    cycle_entries: int
    orders: int
    paid: int
    invoice_numbers_ok: bool
    payments: int
    payments_match: bool
    metered_subscriptions: int
    metered_lines: int
    metered_amount: int
    metered_ok: int  # metered subscriptions billed exactly their expected amount, once
    lags_cycled: list[float]
    lags_paid: list[float]
    first_cycled: float
    last_cycled: float
    last_paid: float
    job_failures: int


async def _check(database_url: str, catalog: Catalog, period_end: datetime) -> Checks:
    import asyncpg

    conn = await asyncpg.connect(**harness.pg_params(database_url))
    try:
        per_subscription = await conn.fetch(
            """
            SELECT s.id, s.period_number,
                   (SELECT count(*) FROM billing_entries e WHERE e.subscription_id = s.id AND e.type = 'cycle') AS entries,
                   (SELECT count(*) FROM orders o WHERE o.subscription_id = s.id AND o.billing_reason = 'subscription_cycle') AS orders
            FROM subscriptions s
            """
        )
        orders = await conn.fetch(
            "SELECT id, status, due_amount, created_at, paid_at, invoice_number, balance_amount FROM orders WHERE billing_reason = 'subscription_cycle'"
        )
        numbers = await conn.fetchrow("SELECT count(*) AS n, count(DISTINCT invoice_number) AS distinct_n, min(invoice_number) AS lo, max(invoice_number) AS hi FROM orders")
        payments = await conn.fetch("SELECT order_id, sum(amount) AS amount, count(*) AS n FROM transactions WHERE type = 'payment' GROUP BY order_id")
        failures = await conn.fetchval("SELECT count(*) FROM job_failures")
        metered = await conn.fetchval(
            "SELECT count(*) FROM subscriptions s WHERE EXISTS (SELECT 1 FROM product_prices p WHERE p.product_id = s.product_id AND p.type = 'metered_unit')"
        )
        billed = await conn.fetch(
            """
            SELECT s.id,
                   (SELECT count(*) FROM events e WHERE e.customer_id = s.customer_id AND e.source = 'user') AS calls,
                   (SELECT count(*) FROM billing_entries b WHERE b.subscription_id = s.id AND b.type = 'metered') AS entries,
                   (SELECT coalesce(sum(b.amount), 0) FROM billing_entries b WHERE b.subscription_id = s.id AND b.type = 'metered') AS amount,
                   (SELECT o.subtotal_amount FROM orders o WHERE o.subscription_id = s.id AND o.billing_reason = 'subscription_cycle' LIMIT 1) AS subtotal,
                   (SELECT count(*) FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.subscription_id = s.id AND i.product_price_id = $1) AS lines
            FROM subscriptions s WHERE s.product_id = $2
            """,
            catalog.metered_price_id,
            catalog.usage[0],
        )
    finally:
        await conn.close()
    paid_by_order = {r["order_id"]: (r["amount"], r["n"]) for r in payments}
    t = period_end.timestamp()
    created = [o["created_at"].timestamp() for o in orders]
    paid_at = [o["paid_at"].timestamp() for o in orders if o["paid_at"] is not None]
    return Checks(
        cycled=sum(1 for r in per_subscription if r["period_number"] >= 1),
        cycled_twice=sum(1 for r in per_subscription if r["period_number"] > 1 or r["entries"] > 1 or r["orders"] > 1),
        not_cycled=sum(1 for r in per_subscription if r["period_number"] < 1 or r["entries"] < 1 or r["orders"] < 1),
        cycle_entries=sum(r["entries"] for r in per_subscription),
        orders=len(orders),
        paid=sum(1 for o in orders if o["status"] == "paid"),
        invoice_numbers_ok=numbers["n"] == numbers["distinct_n"] == (numbers["hi"] or 0) and (numbers["lo"] or 1) == 1,
        payments=sum(n for _, n in paid_by_order.values()),
        payments_match=all(paid_by_order.get(o["id"], (None, 0)) == (o["due_amount"], 1) and o["balance_amount"] == o["due_amount"] for o in orders),
        metered_subscriptions=int(metered),
        metered_lines=sum(r["lines"] for r in billed),
        metered_amount=sum(int(r["amount"]) for r in billed),
        metered_ok=sum(
            1 for r in billed
            if r["entries"] == 1 == r["lines"] and r["amount"] == expected_usage_amount(r["calls"]) and r["subtotal"] == USAGE_BASE_AMOUNT + r["amount"]
        ),
        lags_cycled=[c - t for c in created],
        lags_paid=[p - t for p in paid_at],
        first_cycled=min(created) - t if created else float("nan"),
        last_cycled=max(created) - t if created else float("nan"),
        last_paid=max(paid_at) - t if paid_at else float("nan"),
        job_failures=int(failures),
    )


def _job_runs(log_path: str) -> dict[str, int]:
    """From a worker's log (arq's `← job_id:name ● result` lines): its renewal and charge job runs,
    and the subscriptions its renewal jobs renewed."""
    runs: Counter = Counter()
    try:
        with open(log_path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                match = re.search(r"← \S+:(subscriptions\.\w+) ● (.*)$", line)
                if not match:
                    continue
                runs[match.group(1)] += 1
                if match.group(1) == "subscriptions.renew_batch" and match.group(2).strip().isdigit():
                    runs["renewed"] += int(match.group(2))
    except OSError:
        pass
    return dict(runs)


def _run(database_url: str, redis_url: str, procs: Processes) -> tuple[Catalog, datetime, float, Progress, dict[str, int], dict[str, dict[str, int]]]:
    env = harness.server_env(database_url, redis_url)
    organization_id, _token = harness.create_org(env, "Bench renewals")
    catalog = asyncio.run(_catalog(database_url, organization_id))

    since_ms = int(time.time() * 1000)
    workers = [harness.start_worker(procs, env, f"worker-{n}") for n in range(1, WORKERS + 1)]
    harness.wait_for_workers(redis_url, since_ms, workers, WORKER_START_TIMEOUT)
    # T: far enough ahead for the load; whole seconds, so that no month end gets in the way
    period_end = (datetime.now(timezone.utc) + timedelta(seconds=LEAD_SECONDS)).replace(microsecond=0)
    load_seconds = asyncio.run(_load(database_url, catalog, period_end))
    wait = period_end.timestamp() - time.time()
    if wait < 0:
        raise BenchError(f"loading took {load_seconds:.1f} s, past T; raise LEAD_SECONDS")
    time.sleep(wait)
    before = asyncio.run(_database_counters(database_url))
    started = time.monotonic() - (time.time() - period_end.timestamp())
    asyncio.run(_ask_for_sweep(redis_url))
    progress = asyncio.run(_wait_paid(database_url, started, workers))
    time.sleep(1.5)  # a late duplicate, if any, would show now; and the servers' statistics are flushed (every second)
    after = asyncio.run(_database_counters(database_url))
    for proc in workers:
        procs.stop(proc)
    runs = {proc.name: _job_runs(proc.log) for proc in workers}
    return catalog, period_end, load_seconds, progress, {k: after[k] - before[k] for k in before}, runs


def main() -> int:
    database_url, redis_url = harness.urls(DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL)
    harness.fresh_database(database_url)
    harness.flush_redis(redis_url)
    procs = Processes()
    try:
        catalog, period_end, load_seconds, progress, counters, runs = _run(database_url, redis_url, procs)
    except BaseException:
        procs.print_logs()
        raise
    finally:
        procs.stop_all()
    procs.remove_logs()
    checks = asyncio.run(_check(database_url, catalog, period_end))

    rate = checks.paid / checks.last_paid if checks.last_paid > 0 else 0.0
    cycling_rate = checks.orders / checks.last_cycled if checks.last_cycled > 0 else 0.0
    print(f"machine: {harness.machine()}")
    print(
        f"setup: {SUBSCRIPTIONS} active monthly subscriptions (manual processor), one customer each (every {GERMAN_EVERY}rd billed in "
        f"Germany, 19 % tax), loaded in {load_seconds:.1f} s; every period ends at the same instant T; "
        f"{WORKERS} `kassa worker` processes (arq max_jobs=20 each); the sweep asked for at T"
    )
    print(
        f"metered: {checks.metered_subscriptions} subscriptions on a product with a metered price, 1 to 4 usage events each; "
        f"{checks.metered_lines} metered lines, {checks.metered_amount} cents of usage billed; billed exactly their expected amount "
        f"once: {checks.metered_ok}/{checks.metered_subscriptions}"
    )
    for fraction in (0.25, 0.5, 0.75, 1.0):
        reached = next((s for s in progress.samples if s[2] >= fraction * SUBSCRIPTIONS), None)
        if reached is not None:
            print(f"progress: {fraction:.0%} paid {reached[0]:.1f} s after T ({reached[1]} cycled then)")
    for name, counts in runs.items():
        print(
            f"{name}: {counts.get('subscriptions.renew_batch', 0)} renewal jobs (renewed {counts.get('renewed', 0)}), "
            f"{counts.get('subscriptions.charge_orders', 0)} batch charge jobs, {counts.get('subscriptions.charge_order', 0)} single charge jobs"
        )
    print(
        f"database work per renewal (renewal and charge together, pg_stat_database, about): {counters['xact_commit'] / max(1, checks.paid):.2f} commits, "
        f"{counters['xact_rollback']} rollbacks in all, {counters['tup_inserted'] / max(1, checks.paid):.1f} rows inserted, "
        f"{counters['tup_updated'] / max(1, checks.paid):.1f} updated"
    )
    print(f"cycled: {checks.cycled}/{SUBSCRIPTIONS}; not cycled: {checks.not_cycled}; cycle billing entries: {checks.cycle_entries}")
    print(f"renewal orders: {checks.orders}, paid {checks.paid}; one payment each for its due amount: {'yes' if checks.payments_match else 'NO'} ({checks.payments} payments)")
    print(f"invoice numbers 1..{checks.orders}, no gap, no repeat: {'yes' if checks.invoice_numbers_ok else 'NO'}; jobs given up: {checks.job_failures}")
    print(f"first cycled {checks.first_cycled:.2f} s after T, last cycled {checks.last_cycled:.2f} s, last paid {checks.last_paid:.2f} s")
    if checks.lags_cycled:
        print(f"lag from period end to cycled p50 s: {harness.percentile(checks.lags_cycled, 0.5):.2f}")
        print(f"lag from period end to cycled p99 s: {harness.percentile(checks.lags_cycled, 0.99):.2f}")
    if checks.lags_paid:
        print(f"lag from period end to paid p99 s: {harness.percentile(checks.lags_paid, 0.99):.2f}")
    print(f"subscriptions cycled per second: {cycling_rate:.0f}")
    print(f"cycled twice: {checks.cycled_twice}")
    print(f"renewals per second: {rate:.0f} (target: {TARGET} on this 2-core machine)")
    ok = checks.metered_ok == checks.metered_subscriptions and checks.cycled_twice == 0 and checks.not_cycled == 0 and checks.invoice_numbers_ok and checks.payments_match and checks.paid == SUBSCRIPTIONS
    return 0 if ok else 1


if __name__ == "__main__":
    harness.run(main)
