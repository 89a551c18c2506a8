"""Benchmark: hold-and-capture pairs per second on ONE hot wallet from 16 concurrent clients (0
overdrafts), and `GET /v1/wallets/check` and `POST /v1/wallets/holds` p50/p99 over HTTP.

Run from the project root with the virtualenv's Python:

    .venv/bin/python bench/wallet_holds.py

It needs a PostgreSQL (trust auth, user `postgres`) on 127.0.0.1:5432 and a Redis on
127.0.0.1:6379; override them with BENCH_DATABASE_URL / BENCH_REDIS_URL. It drops and re-creates
the database of BENCH_DATABASE_URL (`kassa_bench_wallet_holds` by default), flushes the Redis
database of BENCH_REDIS_URL (db 10 by default), migrates, starts `kassa serve` on a free port and
creates an organization (`kassa org create`).

The pairs run in this process as service calls (app/wallets/holds.py: `hold`, then `capture` for
a random part of it), each in its own transaction on its own connection, from 16 concurrent
clients (16 pooled connections acting as the application role, row-level security on): the hot
wallet's row lock serializes them, and that critical section is what the figure measures. Over
HTTP on this 2-core machine (shared with PostgreSQL) the API process and the load generator would
take the cores and the figure would be the HTTP stack's (a litestar route answers ~6,500 req/s
here at best, and the client costs as much again), not the wallet's; the HTTP latency is measured
separately, one request at a time, for the two calls a merchant's app makes on its hot path.

Overdrafts are checked twice: after the pairs, the wallet's balance equals its ledger, equals the
initial balance less what was captured, and `held` is 0; then 16 clients race to hold 100 each
from a wallet of 5,000 (400 attempts): exactly 50 succeed and the rest are refused.

Figures are printed one per line as `name: value`; the last line is the one the benchmark is
judged by: pairs per second (target >= 500).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/ is not a package
import harness  # noqa: E402  (puts the project root on sys.path too)

import asyncio  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from decimal import Decimal  # noqa: E402

import httpx  # noqa: E402

from harness import BenchError  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/kassa_bench_wallet_holds"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"
CLIENTS = 16
PAIRS = int(os.environ.get("BENCH_PAIRS") or 4000)
WARMUP_PAIRS = 200
INITIAL = 100_000_000
HOLD_AMOUNT = 500
RACE_WALLET = 5_000
RACE_ATTEMPTS = 400
HTTP_REQUESTS = int(os.environ.get("BENCH_HTTP_REQUESTS") or 400)
TARGET = 500
SEED = 20_261_130
RESULT: dict[str, float] = {}  # the judged figure, for bench/wallet.py (which runs this after the drain)


async def _setup(database_url: str, organization_id: uuid.UUID):
    """Two customers with wallets (hot: INITIAL; race: RACE_WALLET), a meter with a
    wallet-enabled price and the hot customer's active subscription to it."""
    from sqlalchemy import insert, select

    from app.catalog import service as catalog
    from app.catalog.service import PriceDraft, ProductDraft
    from app.customers import service as customers
    from app.customers.service import CustomerDraft
    from app.kit.db import create_engine, create_session_factory
    from app.kit.tenancy import tenant_session
    from app.meters import service as meters
    from app.models import ProductPrice
    from app.models.subscription import Subscription
    from app.wallets import service as wallets

    subject = _merchant(organization_id)
    engine = create_engine(database_url)
    factory = create_session_factory(engine)
    try:
        async with tenant_session(factory, subject.scope) as session:
            hot = await customers.create_customer(session, subject, CustomerDraft(type="individual", email="hot@example.com", external_id="hot"))
            race = await customers.create_customer(session, subject, CustomerDraft(type="individual", email="race@example.com", external_id="race"))
            await wallets.adjust(session, subject, hot.id, "usd", INITIAL, reason="bench")
            await wallets.adjust(session, subject, race.id, "usd", RACE_WALLET, reason="bench")
            meter = await meters.create_meter(
                session, subject, name="API calls", filter={"conjunction": "and", "clauses": [{"property": "name", "operator": "eq", "value": "api_call"}]},
                aggregation={"func": "count", "property": None},
            )
            product = await catalog.create_product(
                session, subject,
                ProductDraft(name="Pro", recurring_interval="month", prices=[
                    PriceDraft(type="fixed", amount=1000), PriceDraft(type="metered_unit", meter_id=meter.id, unit_amount=Decimal("0.5"), wallet_enabled=True),
                ]),
            )
            fixed = await session.scalar(select(ProductPrice).where(ProductPrice.product_id == product.id, ProductPrice.type == "fixed"))
            now = datetime.now(timezone.utc)
            start = datetime(now.year, now.month, 1, tzinfo=timezone.utc)
            await session.execute(
                insert(Subscription).values(
                    id=uuid.uuid4(), organization_id=organization_id, customer_id=hot.id, product_id=product.id, product_price_id=fixed.id,
                    processor="manual", status="active", currency="usd", amount=1000, recurring_interval="month", anchor_at=start, period_number=0,
                    current_period_start=start, current_period_end=start.replace(year=start.year + 1), started_at=start, user_metadata={},
                    created_at=now, modified_at=now,
                )
            )
            await session.commit()
            return hot.id, race.id, meter.id
    finally:
        await engine.dispose()


def _merchant(organization_id: uuid.UUID):
    from app import load_scope_declarations
    from app.auth.scopes import all_scopes

    load_scope_declarations()
    from app.auth.service import operator_scope
    from app.auth.subject import Subject

    return Subject(scope=operator_scope(organization_id), token_id=None, scopes=frozenset(s.value for s in all_scopes()))


async def _pairs(database_url: str, organization_id: uuid.UUID, customer_id: uuid.UUID, count: int, rng: random.Random) -> tuple[float, int, int, list[float]]:
    """`count` hold + capture pairs from CLIENTS concurrent clients; (seconds, captured, refused, pair latencies)."""
    from app.config import get_settings
    from app.kit import jobs
    from app.kit.db import create_engine, create_session_factory
    from app.kit.tenancy import tenant_session
    from app.wallets import holds
    from app.wallets.errors import InsufficientFunds

    subject = _merchant(organization_id)
    engine = create_engine(database_url, role=get_settings().database_app_role, pool_size=CLIENTS)
    factory = create_session_factory(engine)
    captured = refused = 0
    latencies: list[float] = []

    async def pair(i: int, slot: int) -> None:
        nonlocal captured, refused
        started = time.perf_counter()
        async with tenant_session(factory, subject.scope) as session:
            try:
                row = await holds.hold(session, subject, customer_id, None, "usd", HOLD_AMOUNT, 60)
            except InsufficientFunds:
                refused += 1
                return
            await jobs.commit(session, None)
        amount = rng.randint(0, HOLD_AMOUNT)
        async with tenant_session(factory, subject.scope) as session:
            _wallet, done = await holds.capture(session, subject, row.id, amount)
            await jobs.commit(session, None)
        captured += done.captured_amount
        latencies.append(time.perf_counter() - started)

    try:
        async with engine.connect():  # open the pool's first connection before the clock starts
            pass
        started = time.perf_counter()
        await harness.pool(count, CLIENTS, pair)
        return time.perf_counter() - started, captured, refused, latencies
    finally:
        await engine.dispose()


async def _race(database_url: str, organization_id: uuid.UUID, customer_id: uuid.UUID) -> tuple[int, int]:
    """CLIENTS clients race to hold 100 each from a wallet of RACE_WALLET: (succeeded, refused)."""
    from app.config import get_settings
    from app.kit import jobs
    from app.kit.db import create_engine, create_session_factory
    from app.kit.tenancy import tenant_session
    from app.wallets import holds
    from app.wallets.errors import InsufficientFunds

    subject = _merchant(organization_id)
    engine = create_engine(database_url, role=get_settings().database_app_role, pool_size=CLIENTS)
    factory = create_session_factory(engine)
    won = lost = 0

    async def attempt(i: int, slot: int) -> None:
        nonlocal won, lost
        async with tenant_session(factory, subject.scope) as session:
            try:
                await holds.hold(session, subject, customer_id, None, "usd", 100, 600)
            except InsufficientFunds:
                lost += 1
                return
            await jobs.commit(session, None)
            won += 1

    try:
        await harness.pool(RACE_ATTEMPTS, CLIENTS, attempt)
        return won, lost
    finally:
        await engine.dispose()


async def _wallet_state(database_url: str, customer_id: uuid.UUID) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(**harness.pg_params(database_url))
    try:
        row = await conn.fetchrow(
            """
            SELECT w.balance, w.held,
                   (SELECT sum(amount) FROM wallet_entries e WHERE e.wallet_id = w.id) AS ledger,
                   (SELECT COALESCE(sum(-amount), 0) FROM wallet_entries e WHERE e.wallet_id = w.id AND e.type = 'hold_capture') AS captured,
                   (SELECT COALESCE(sum(amount), 0) FROM wallet_holds h WHERE h.wallet_id = w.id AND h.status = 'active') AS active,
                   (SELECT min(s) FROM (SELECT sum(amount) OVER (ORDER BY sequence) AS s FROM wallet_entries e WHERE e.wallet_id = w.id) t) AS lowest
            FROM wallets w WHERE w.customer_id = $1
            """,
            customer_id,
        )
        return {k: int(v) for k, v in dict(row).items()}
    finally:
        await conn.close()


async def _http(base_url: str, token: str, customer_id: uuid.UUID, meter_id: uuid.UUID) -> dict[str, list[float]]:
    """One request at a time: the check, then holds (each released, untimed, to keep the wallet's `held` small)."""
    headers = {"Authorization": f"Bearer {token}"}
    timings: dict[str, list[float]] = {"check": [], "hold": []}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        params = {"customer_id": str(customer_id), "meter_id": str(meter_id), "units": "10"}
        for i in range(HTTP_REQUESTS + 30):
            started = time.perf_counter()
            response = await client.get("/v1/wallets/check", params=params)
            elapsed = time.perf_counter() - started
            if response.status_code != 200 or not response.json()["covers"]:
                raise BenchError(f"check answered {response.status_code}: {response.text}")
            if i >= 30:
                timings["check"].append(elapsed)
        for i in range(HTTP_REQUESTS + 30):
            body = {"customer_id": str(customer_id), "currency": "usd", "amount": 100, "expires_in": 60}
            started = time.perf_counter()
            response = await client.post("/v1/wallets/holds", json=body, headers={"Idempotency-Key": f"bench-hold-{i}"})
            elapsed = time.perf_counter() - started
            if response.status_code != 201:
                raise BenchError(f"hold answered {response.status_code}: {response.text}")
            if i >= 30:
                timings["hold"].append(elapsed)
            released = await client.post(f"/v1/wallets/holds/{response.json()['id']}/release")
            if released.status_code != 200:
                raise BenchError(f"release answered {released.status_code}: {released.text}")
    return timings


def _ms(values: list[float], fraction: float) -> str:
    return f"{harness.percentile(values, fraction) * 1000:.2f} ms"


async def bench(base_url: str, token: str, database_url: str, organization_id: uuid.UUID) -> int:
    rng = random.Random(SEED)
    hot, race, meter = await _setup(database_url, organization_id)
    await _pairs(database_url, organization_id, hot, WARMUP_PAIRS, rng)
    seconds, _captured, refused, latencies = await _pairs(database_url, organization_id, hot, PAIRS, rng)
    state = await _wallet_state(database_url, hot)
    won, lost = await _race(database_url, organization_id, race)
    race_state = await _wallet_state(database_url, race)
    timings = await _http(base_url, token, hot, meter)

    overdrafts = 0
    if not (state["balance"] == state["ledger"] == INITIAL - state["captured"] and state["held"] == state["active"] == 0 and state["lowest"] >= 0):
        overdrafts += 1
    if won * 100 > RACE_WALLET or won != RACE_WALLET // 100 or race_state["held"] != won * 100 or race_state["balance"] != RACE_WALLET:
        overdrafts += 1
    rate = PAIRS / seconds
    RESULT["pairs_per_second"] = rate
    print(f"machine: {harness.machine()}")
    print(f"pairs: {PAIRS} hold + capture pairs on one wallet, {CLIENTS} concurrent clients, in-process service calls, one transaction each")
    print(f"pairs refused: {refused}")
    print(f"pair latency p50: {_ms(latencies, 0.5)}")
    print(f"pair latency p99: {_ms(latencies, 0.99)}")
    print(f"hot wallet after: balance {state['balance']} = ledger {state['ledger']} = initial {INITIAL} - captured {state['captured']}; held {state['held']}")
    print(f"race: {won} holds of 100 from a wallet of {RACE_WALLET} succeeded, {lost} refused (expected {RACE_WALLET // 100})")
    print(f"overdrafts: {overdrafts}")
    print(f"REST check p50: {_ms(timings['check'], 0.5)}")
    print(f"REST check p99: {_ms(timings['check'], 0.99)}")
    print(f"REST hold p50: {_ms(timings['hold'], 0.5)}")
    print(f"REST hold p99: {_ms(timings['hold'], 0.99)}")
    print(f"hold+capture pairs per second on one hot wallet: {rate:.0f} (target >= {TARGET})")
    return 0 if overdrafts == 0 else 1


def main() -> int:
    return harness.with_api(DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, bench, KASSA_EXPOSE_SQL_COUNT=None)


if __name__ == "__main__":
    harness.run(main)
