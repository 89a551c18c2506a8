"""The ledger kit: append-only entries, balances moved only with them, and the check that finds a
balance that drifted. A ledger of the test's own (two tables made here) stands in for the money
features' ledgers, which declare themselves the same way."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import BigInteger, CheckConstraint, Column, Identity, MetaData, Table, Uuid, func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.kit import ledger as kit
from app.kit.ledger import Ledger, LedgerError, append_only_sql, mismatches, post, post_many
from tests.conftest import APP_ROLE, assert_ledgers_balance

metadata = MetaData()
ENTRIES = Table(
    "test_ledger_entries",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("account_id", Uuid, nullable=False),
    Column("amount", BigInteger, nullable=False),
)
BALANCES = Table(
    "test_ledger_balances",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("balance", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("balance >= 0", name="test_ledger_balance_not_negative"),
)
LEDGER = Ledger("test", ENTRIES, BALANCES, {"account_id": "id"})


@pytest.fixture(scope="module")
async def ledger_tables(owner_engine):
    """The test ledger's tables, committed (concurrent sessions must see them), append-only as a
    migration would make them, and readable by the application role."""
    async with owner_engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        for statement in append_only_sql("test_ledger_entries"):
            await connection.execute(text(statement))
        await connection.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON test_ledger_entries, test_ledger_balances TO {APP_ROLE}"))
    yield
    async with owner_engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)


@pytest.fixture
def declared(monkeypatch, ledger_tables):
    monkeypatch.setitem(kit.LEDGERS, LEDGER.name, LEDGER)
    return LEDGER


async def _account(session, balance: int = 0) -> uuid.UUID:
    account = uuid.uuid4()
    await session.execute(BALANCES.insert().values(id=account, balance=balance))
    return account


async def test_post_appends_and_moves_the_balance_in_one_transaction(session_factory, declared):
    async with session_factory() as session:
        account = await _account(session)
        assert await post(session, declared, {"account_id": account}, [{"amount": 500}, {"amount": -120}]) == 380
        assert await post(session, declared, {"account_id": account}, [{"amount": 20}]) == 400
        await session.commit()
    async with session_factory() as session:
        assert await mismatches(session, [declared]) == []
        assert await session.scalar(text("SELECT count(*) FROM test_ledger_entries WHERE account_id = :a"), {"a": account}) == 3
    await assert_ledgers_balance(session_factory)


async def test_post_many_moves_every_balance_by_its_own_entries_in_three_statements(session_factory, declared):
    """A batch of postings (a renewal batch's payments): each balance moves by the sum of its own
    entries, a key given twice adds up, the balances come back in the order given; the
    statement count does not grow with the batch."""
    from app.kit.db import statement_counter

    async with session_factory() as session:
        accounts = [await _account(session, balance=n) for n in range(50)]
        postings = [({"account_id": a}, [{"amount": 10 * n}, {"amount": -n}]) for n, a in enumerate(accounts)]
        postings.append(({"account_id": accounts[3]}, [{"amount": 1000}]))  # the same balance again
        counter = [0]
        token = statement_counter.set(counter)
        try:
            balances = await post_many(session, declared, postings)
        finally:
            statement_counter.reset(token)
        assert counter[0] == 3
        expected = [n + 9 * n for n in range(50)]
        expected[3] += 1000
        assert balances == expected + [expected[3]]
        assert await post_many(session, declared, []) == []
        with pytest.raises(LedgerError, match="no balance row"):
            await post_many(session, declared, [({"account_id": accounts[0]}, [{"amount": 1}]), ({"account_id": uuid.uuid4()}, [{"amount": 1}])])
        await session.rollback()
    async with session_factory() as session:
        assert await mismatches(session, [declared]) == []


@pytest.mark.parametrize("statement", ["UPDATE test_ledger_entries SET amount = amount + 1", "DELETE FROM test_ledger_entries"])
async def test_entries_cannot_be_changed_or_deleted_even_by_the_owner(live, owner_engine, declared, statement):
    async with live.session_factory() as session:
        account = await _account(session)
        await post(session, declared, {"account_id": account}, [{"amount": 100}])
        await session.commit()
    async with live.session_factory() as session:  # the application's role
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text(statement))
        await session.rollback()
    async with owner_engine.connect() as connection:  # the owner, whom row-level security does not bind
        with pytest.raises(DBAPIError, match="append-only"):
            await connection.execute(text(statement))
        await connection.rollback()


async def test_the_check_finds_a_balance_that_drifted_and_entries_without_a_balance(session_factory, declared):
    async with session_factory() as session:
        account = await _account(session)
        await post(session, declared, {"account_id": account}, [{"amount": 300}])
        await session.execute(text("UPDATE test_ledger_balances SET balance = 299 WHERE id = :a"), {"a": account})
        stray = uuid.uuid4()
        await session.execute(ENTRIES.insert().values(account_id=stray, amount=7))
        found = {(m.key["account_id"], m.cached, m.summed) for m in await mismatches(session, [declared])}
        assert found == {(account, 299, 300), (stray, None, 7)}
        await session.commit()
    with pytest.raises(AssertionError, match="cached 299, entries sum to 300"):
        await assert_ledgers_balance(session_factory)
    async with session_factory() as session:  # leave the test's transaction balanced for the teardown check
        await session.execute(text("UPDATE test_ledger_balances SET balance = 300 WHERE id = :a"), {"a": account})
        await session.execute(BALANCES.insert().values(id=stray, balance=7))
        await session.commit()


async def test_a_post_the_balance_refuses_writes_nothing(session_factory, declared):
    async with session_factory() as session:
        account = await _account(session, 0)
        await session.commit()
    async with session_factory() as session:
        with pytest.raises(IntegrityError, match="test_ledger_balance_not_negative"):
            await post(session, declared, {"account_id": account}, [{"amount": -1}])
        await session.rollback()
    async with session_factory() as session:
        assert await session.scalar(text("SELECT count(*) FROM test_ledger_entries WHERE account_id = :a"), {"a": account}) == 0


@pytest.mark.parametrize("amount", [1.5, "10", None, True])
async def test_amounts_are_integers_of_minor_units(session_factory, declared, amount):
    async with session_factory() as session:
        account = await _account(session)
        with pytest.raises(LedgerError, match="integer of minor units"):
            await post(session, declared, {"account_id": account}, [{"amount": amount}])
        with pytest.raises(LedgerError, match="no balance row"):
            await post(session, declared, {"account_id": uuid.uuid4()}, [{"amount": 1}])
        with pytest.raises(LedgerError, match="nothing to post"):
            await post(session, declared, {"account_id": account}, [])


async def test_concurrent_posts_to_one_balance_lose_nothing_and_never_overdraw(live, declared):
    """Forty posts at once, half of them withdrawals, on one balance that starts at 10: each
    either lands whole or is refused whole, the balance never goes below zero and always equals
    its entries."""
    async with live.session_factory() as session:
        account = await _account(session, 0)
        await post(session, declared, {"account_id": account}, [{"amount": 10}])
        await session.commit()

    async def one(amount: int) -> bool:
        async with live.session_factory() as session:
            try:
                await post(session, declared, {"account_id": account}, [{"amount": amount}])
                await asyncio.sleep(0)  # let the others queue on the lock
                await session.commit()
                return True
            except IntegrityError:
                await session.rollback()
                return False

    expected = 10
    refused = 0
    for _round in range(3):
        amounts = [-3 if n % 2 else 2 for n in range(40)]
        landed = await asyncio.gather(*(one(a) for a in amounts))
        expected += sum(a for a, ok in zip(amounts, landed) if ok)
        refused += landed.count(False)
        async with live.session_factory() as session:
            balance = await session.scalar(text("SELECT balance FROM test_ledger_balances WHERE id = :a"), {"a": account})
            summed = await session.scalar(text("SELECT sum(amount) FROM test_ledger_entries WHERE account_id = :a"), {"a": account})
            assert await mismatches(session, [declared]) == []
        assert balance == summed == expected >= 0
    assert refused > 0  # withdrawals outnumber what was there: some had to be refused


async def test_a_locked_post_is_one_statement_and_keeps_the_entries_in_lock_order(live, declared):
    """`post(locked=True)`: the caller holds the balance row's lock, so the entries and the move
    are one statement; thirty callers at once, each locking then posting, leave entries whose
    running sum (in their identity order) is the balance each post returned; a post the balance
    refuses writes nothing; entries with different columns take the general path."""
    from app.kit.db import statement_counter

    async with live.session_factory() as session:
        account = await _account(session, 0)
        await session.commit()
    lock = text("SELECT balance FROM test_ledger_balances WHERE id = :a FOR UPDATE")

    async def one(amount: int) -> tuple[int, int] | None:
        async with live.session_factory() as session:
            await session.execute(lock, {"a": account})
            counter = [0]
            token = statement_counter.set(counter)
            try:
                balance = await post(session, declared, {"account_id": account}, [{"amount": amount}], locked=True)
            except IntegrityError:
                await session.rollback()
                return None
            finally:
                statement_counter.reset(token)
            assert counter[0] == 1
            await asyncio.sleep(0)
            await session.commit()
            return amount, balance

    results = [r for r in await asyncio.gather(*(one(5 if n % 3 else -7) for n in range(30))) if r is not None]
    async with live.session_factory() as session:
        amounts = [a for (a,) in (await session.execute(text("SELECT amount FROM test_ledger_entries WHERE account_id = :a ORDER BY id"), {"a": account})).all()]
        running, seen = 0, []
        for amount in amounts:
            running += amount
            seen.append(running)
        assert sorted(b for _a, b in results) == sorted(seen) and min(seen) >= 0
        assert len(results) < 30  # some withdrawals found too little and were refused whole
        await session.execute(lock, {"a": account})
        assert await post(session, declared, {"account_id": account}, [{"amount": 1}], locked=True) == running + 1
        await session.commit()
        assert await mismatches(session, [declared]) == []


# Along a post: a CTE that counts the account's earlier entries into a side table, returned summed
SIDE = Table("test_ledger_side", metadata, Column("account_id", Uuid, nullable=False), Column("seen", BigInteger, nullable=False))
_NOTED = (
    text("INSERT INTO test_ledger_side (account_id, seen) SELECT :key_account_id, count(*) FROM test_ledger_entries WHERE account_id = :key_account_id RETURNING seen")
    .columns(Column("seen", BigInteger))
    .cte("noted")
)
NOTE_ALONG = kit.Along(ctes=(_NOTED,), returning=(select(func.coalesce(func.sum(_NOTED.c.seen), 0)).scalar_subquery(),))


async def test_a_post_along_other_work_is_one_statement_built_once(live, declared, owner_engine):
    """`post_along`: the entries, the balance's move and the Along's CTE in one statement (the
    CTE sees the statement's snapshot: the entries before this post), returning the balance and
    the Along's values; the statement is built once and reused; a refused post writes nothing,
    the CTE's work included (one statement)."""
    from app.kit.db import statement_counter

    async with owner_engine.begin() as connection:
        await connection.execute(text(f"GRANT SELECT, INSERT ON test_ledger_side TO {APP_ROLE}"))
    async with live.session_factory() as session:
        account = await _account(session, 0)
        await session.execute(text("SELECT 1 FROM test_ledger_balances WHERE id = :a FOR UPDATE"), {"a": account})
        counter = [0]
        token = statement_counter.set(counter)
        try:
            assert tuple(await kit.post_along(session, declared, {"account_id": account}, [{"amount": 40}, {"amount": 2}], NOTE_ALONG, {})) == (42, 0)
            assert tuple(await kit.post_along(session, declared, {"account_id": account}, [{"amount": -12}], NOTE_ALONG, {})) == (30, 2)
        finally:
            statement_counter.reset(token)
        assert counter[0] == 2
        assert len([key for key in kit._LOCKED_POSTS if key[2] is NOTE_ALONG]) == 1
        await session.commit()
    async with live.session_factory() as session:
        await session.execute(text("SELECT 1 FROM test_ledger_balances WHERE id = :a FOR UPDATE"), {"a": account})
        with pytest.raises(IntegrityError):  # the balance's check refuses: nothing of the statement stays
            await kit.post_along(session, declared, {"account_id": account}, [{"amount": -31}], NOTE_ALONG, {})
        await session.rollback()
    async with live.session_factory() as session:
        assert (await session.scalars(text("SELECT seen FROM test_ledger_side WHERE account_id = :a ORDER BY seen"), {"a": account})).all() == [0, 2]
        assert await session.scalar(text("SELECT count(*) FROM test_ledger_entries WHERE account_id = :a"), {"a": account}) == 3
        assert await mismatches(session, [declared]) == []
