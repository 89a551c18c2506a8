"""The clock (app/kit/clock.py): the one source of business time, which tests set and move.

- what it does: frozen, moved, shared by every task of the process, back on real time;
- a whole scenario, through the API and the worker, writes no time but the clock's;
- a guard that fails on any other way to read the time in app/, schema/ and workers/, except the
  operational uses named in OPERATIONAL, each with the reason it is not business time.
"""

from __future__ import annotations

import ast
import asyncio
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from app.config import PROJECT_ROOT
from app.kit import clock as kit_clock
from tests.conftest import FROZEN_AT, as_owner, make_org

# -- the clock itself ------------------------------------------------------------------------------


def test_real_time_by_default():
    before = datetime.now(timezone.utc)
    now = kit_clock.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert before <= now <= datetime.now(timezone.utc)


def test_set_freezes_advance_moves_reset_returns():
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    kit_clock.set(at)
    assert kit_clock.now() == at and kit_clock.now().tzinfo == timezone.utc
    assert kit_clock.now() == kit_clock.now()  # frozen
    assert kit_clock.advance(timedelta(days=31)) == at + timedelta(days=31) == kit_clock.now()
    kit_clock.reset()
    assert abs(kit_clock.now() - datetime.now(timezone.utc)) < timedelta(seconds=5)


def test_advance_without_freezing_runs_ahead_of_real_time():
    kit_clock.advance(timedelta(days=400))
    ahead = kit_clock.now() - datetime.now(timezone.utc)
    assert timedelta(days=400) - timedelta(seconds=5) < ahead <= timedelta(days=400)
    kit_clock.advance(timedelta(days=-1))
    assert kit_clock.now() - datetime.now(timezone.utc) > timedelta(days=398)


def test_set_refuses_a_naive_time_and_changes_nothing():
    with pytest.raises(ValueError, match="aware"):
        kit_clock.set(datetime(2030, 1, 1))
    assert abs(kit_clock.now() - datetime.now(timezone.utc)) < timedelta(seconds=5)


def test_real_time_of_a_business_time(clock):
    assert kit_clock.now() == FROZEN_AT
    due = kit_clock.real_time(FROZEN_AT + timedelta(minutes=10))
    expected = datetime.now(timezone.utc) + timedelta(minutes=10)
    assert abs(due - expected) < timedelta(seconds=5)
    clock.reset()
    at = datetime.now(timezone.utc) + timedelta(hours=1)
    assert kit_clock.real_time(at) == at


async def test_tasks_already_running_see_the_clock_move():
    """Not a context variable: a worker task started before the test moved the clock sees it."""
    moved = asyncio.Event()

    async def worker() -> datetime:
        await moved.wait()
        return kit_clock.now()

    task = asyncio.create_task(worker())
    await asyncio.sleep(0)
    kit_clock.set(FROZEN_AT)
    moved.set()
    assert await task == FROZEN_AT


def test_the_fixture_freezes_and_the_next_test_is_on_real_time(clock):
    assert clock.now() == FROZEN_AT
    clock.advance(timedelta(hours=1))
    assert kit_clock.now() == FROZEN_AT + timedelta(hours=1)


def test_after_a_frozen_test_the_clock_is_real_again():
    assert abs(kit_clock.now() - datetime.now(timezone.utc)) < timedelta(seconds=5)


# -- every time written in a scenario is the clock's -------------------------------------------------

OPERATIONAL_TABLES = {"job_outbox"}  # its times are the relay's (real time), see app/kit/jobs.py


async def test_a_scenario_writes_only_the_clocks_time(live, clock):
    """With the clock frozen far from today: organizations, tokens, customers, members, products,
    meters, events (ingested without a timestamp, credits, resets), webhooks and the worker's
    meter counts and delivery attempts. Every time column of every row is the clock's time or
    empty: no insert or update fell back on the database's `now()` or read the real time."""
    from app.auth.service import revoke_token
    from tests.catalog.operations import ARCHIVE_PRODUCT, create_product
    from tests.meters.helpers import GRANT, create_meter, condition, ingest_rest
    from tests.operations import REMOVE_MEMBER, create_business
    from tests.webhooks.receiver import Receiver
    from tests.webhooks.test_delivery import ALL_TYPES, make_endpoint

    receiver = Receiver()
    try:
        org = await make_org(live.session_factory)
        spare = await make_org(live.session_factory, name="Spare", scopes=["customers:read"])
        async with live.session_factory() as session, as_owner(session):
            assert await revoke_token(session, spare.token_id)
            await session.commit()
        api, token = live.api, org.token
        await make_endpoint(live, token, receiver.url, ALL_TYPES)
        business = await create_business(api, token, prefix="acme", members=2)
        member = next(m for m in business["members"] if m["role"] == "MEMBER")
        removed = await api.data(REMOVE_MEMBER, {"input": {"id": member["id"]}}, token=token)
        assert removed["removeMember"]["__typename"] == "RemoveMemberSuccess", removed
        product = await create_product(api, token)
        archived = await api.data(ARCHIVE_PRODUCT, {"input": {"id": product["id"]}}, token=token)
        assert archived["archiveProduct"]["__typename"] == "ArchiveProductSuccess", archived
        calls = await create_meter(api, token, "calls", [condition("name", "eq", "api_call")])
        await create_meter(api, token, "tokens", [condition("name", "eq", "api_call")], "SUM", "tokens")
        response = await ingest_rest(
            api, token, [{"name": "api_call", "external_customer_id": "acme", "metadata": {"tokens": 3}} for _ in range(3)]
        )
        assert response.json() == {"inserted": 3, "duplicates": 0}
        grant = await api.data(GRANT, {"input": {"customerId": business["id"], "meterId": calls["id"], "units": "5"}}, token=token)
        assert grant["grantMeterCredit"]["recorded"] is True
        reset = await api.data(
            "mutation($input: ResetCustomerMeterInput!) { resetCustomerMeter(input: $input) { __typename } }",
            {"input": {"customerId": business["id"], "meterId": calls["id"]}},
            token=token,
        )
        assert reset["resetCustomerMeter"]["__typename"] == "MeterEventSuccess", reset
        await live.run_worker()
        assert len(receiver.requests) >= 4  # customer and member events, delivered
    finally:
        receiver.close()

    async with live.session_factory() as session, as_owner(session):
        columns = (
            await session.execute(
                text(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND data_type = 'timestamp with time zone' ORDER BY 1, 2"
                )
            )
        ).all()
        written: dict[str, int] = {}
        wrong: list[str] = []
        for table, column in columns:
            if table in OPERATIONAL_TABLES or table == "alembic_version":
                continue
            rows = (await session.execute(text(f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'))).scalars().all()
            written[f"{table}.{column}"] = len(rows)
            wrong += [f"{table}.{column} = {value.isoformat()}" for value in rows if value != FROZEN_AT]
    assert not wrong, "times not taken from the clock:\n" + "\n".join(wrong)
    # the scenario did write them (a test that cannot fail is a defect)
    expected = [
        "access_tokens.created_at", "access_tokens.revoked_at", "customers.created_at", "customers.modified_at",
        "members.created_at", "members.deleted_at", "products.archived_at", "product_prices.created_at",
        "meters.created_at", "events.created_at", "events.modified_at", "events.timestamp",
        "customer_meters.created_at", "customer_meters.modified_at", "customer_meter_states.modified_at",
        "webhook_endpoints.created_at", "webhook_events.created_at", "webhook_deliveries.created_at",
        "webhook_deliveries.finished_at", "webhook_delivery_attempts.attempted_at", "organizations.created_at",
    ]
    assert [name for name in expected if not written.get(name)] == []


# -- the guard: business time from the clock only ---------------------------------------------------

SCANNED = ("app", "schema", "workers")
CLOCK_MODULE = "app/kit/clock.py"

# (file, enclosing function or class, what) -> why it is operational time, not business time.
OPERATIONAL: dict[tuple[str, str, str], str] = {
    ("app/kit/jobs.py", "enqueue_coalesced_after_commit", "time.time"): "the coalescing slot of a job on arq's queue, which runs on real time",
    ("app/kit/jobs.py", "_remember_slots", "time.time"): "forgetting the coalescing slots that have ended (arq's real time)",
    ("app/kit/jobs.py", "_write_outbox", "time.time"): "whether a coalescing slot ends soon (arq's real time)",
    ("app/kit/jobs.py", "enqueue", "time.time"): "arq's enqueue time and job scores (real time)",
    ("app/kit/jobs.py", "single_request", "time.time"): "a job deferred on arq's queue, which runs on real time",
    ("app/wallets/notifications.py", "ask_again", "time.time"): "when the deferred balance-changed job starts on arq's queue (real time)",
    ("app/kit/jobs.py", "<module>", "SQL clock_timestamp()"): "the job outbox row's time: the relay's age check",
    ("app/platform/health.py", "record_heartbeat", "time.time"): "a worker's heartbeat",
    ("app/platform/health.py", "report", "time.time"): "queue lag and heartbeat ages in the health report",
    ("app/platform/health.py", "<module>", "SQL clock_timestamp()"): "the age of the oldest job outbox row",
    ("app/platform/services.py", "write_services_file", "time.time"): "when the supervisor published its services",
    ("workers/outbox_relay.py", "<module>", "SQL clock_timestamp()"): "the relay takes outbox rows older than a few seconds",
    ("workers/meters.py", "sweep_customers", "time.time"): "the minute in the sweep's job ids (one sweep job per minute)",
    ("workers/webhook_delivery.py", "sweep", "time.time"): "the minute in the sweep's job ids (one sweep job per minute)",
    ("workers/webhook_delivery.py", "post_event", "time.time"): (
        "the webhook-timestamp header: the receiver checks it against its own clock to refuse replays"
    ),
    ("app/kit/models.py", "RecordModel", "func.now"): (
        "server_default only, a fallback no insert relies on (the Python default is clock.now)"
    ),
    ("app/models/event.py", "Event", "func.now"): (
        "server_default only, a fallback: INSERT_BATCH (app/events/repository.py) sets both columns from the clock"
    ),
}

_FORBIDDEN_NAMES = {
    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
    ("time", "time"), ("time", "time_ns"),
    ("func", "now"), ("func", "current_timestamp"), ("func", "clock_timestamp"), ("func", "localtimestamp"),
    ("func", "statement_timestamp"), ("func", "transaction_timestamp"), ("func", "current_date"),
}
_SQL_TIME = re.compile(
    r"\b(now|clock_timestamp|statement_timestamp|transaction_timestamp|timeofday)\s*\(\s*\)"
    r"|\b(current_timestamp|current_date|current_time|localtimestamp)\b",
    re.IGNORECASE,
)


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> what it was imported as (`from datetime import datetime as dt`: dt -> datetime.datetime)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def time_reads(source: str) -> list[tuple[str, str, int]]:
    """(enclosing function or class, what, line) for every read of the time that is not the
    kit's clock: datetime.now/utcnow/today, date.today, time.time, SQLAlchemy's func.now and
    friends, and now()/CURRENT_TIMESTAMP/clock_timestamp() in SQL strings (docstrings aside)."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found: list[tuple[str, str, int]] = []

    def visit(node: ast.AST, scope: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            scope = node.name
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            return  # a docstring
        if isinstance(node, (ast.Attribute, ast.Name)):
            name = _dotted(node, aliases)
            parts = name.split(".") if name else []
            if len(parts) >= 2 and (parts[-2], parts[-1]) in _FORBIDDEN_NAMES:
                found.append((scope, f"{parts[-2]}.{parts[-1]}", node.lineno))
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for match in _SQL_TIME.finditer(node.value):
                what = f"{match.group(1).lower()}()" if match.group(1) else match.group(2).lower()
                found.append((scope, f"SQL {what}", node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, scope)

    visit(tree, "<module>")
    return found


def _scanned_files() -> list[Path]:
    return sorted(p for top in SCANNED for p in (PROJECT_ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)


def test_business_time_comes_only_from_the_clock():
    unexpected, used = [], set()
    for path in _scanned_files():
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        if relative == CLOCK_MODULE:
            continue
        for scope, what, line in time_reads(path.read_text()):
            key = (relative, scope, what)
            if key in OPERATIONAL:
                used.add(key)
            else:
                unexpected.append(f"{relative}:{line} ({scope}): {what}")
    assert not unexpected, (
        "read business time from app.kit.clock.now() (SQL: pass it as a parameter); if this is "
        "operational time (rate limits, queues, ages, durations), name it in OPERATIONAL with the reason:\n"
        + "\n".join(unexpected)
    )
    assert sorted(set(OPERATIONAL) - used) == [], "OPERATIONAL names uses that are gone: remove them"


def test_the_guard_catches_every_way_to_read_the_time():
    source = '''
import time
import datetime as dt
from datetime import date, datetime, timezone
from datetime import datetime as DateTime
from time import time as now_seconds
import sqlalchemy as sa
from sqlalchemy import func, text

STATEMENT = "UPDATE things SET modified_at = now() WHERE id = $1"
OTHER = text("SELECT 1 WHERE created_at < CURRENT_TIMESTAMP - interval '1 day'")

def reads():
    """Docstrings may say now() and time.time() freely."""
    a = datetime.now(timezone.utc)
    b = datetime.utcnow()
    c = dt.datetime.now()
    d = DateTime.now(timezone.utc)
    e = date.today()
    f = time.time()
    g = now_seconds()
    h = func.now()
    i = sa.func.current_timestamp()
    j = f"SELECT clock_timestamp() FROM {STATEMENT}"
    return a, b, c, d, e, f, g, h, i, j

class Model:
    created = mapped_column(default=datetime.now)
'''
    found = sorted((scope, what) for scope, what, _line in time_reads(source))
    assert found == sorted(
        [
            ("<module>", "SQL now()"),
            ("<module>", "SQL current_timestamp"),
            ("reads", "datetime.now"),
            ("reads", "datetime.utcnow"),
            ("reads", "datetime.now"),
            ("reads", "datetime.now"),
            ("reads", "date.today"),
            ("reads", "time.time"),
            ("reads", "time.time"),
            ("reads", "func.now"),
            ("reads", "func.current_timestamp"),
            ("reads", "SQL clock_timestamp()"),
            ("Model", "datetime.now"),
        ]
    ), found
    allowed = '''
import time
from app.kit import clock

def fine(loop):
    """Durations and the kit's clock are fine."""
    started = time.monotonic()
    spent = time.perf_counter() - started
    return clock.now(), loop.time(), spent, "the meter resets now, at the current period's start"
'''
    assert time_reads(allowed) == []
