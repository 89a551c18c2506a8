"""Ledgers: append-only rows of signed amounts, and cached balances that always equal their sum.

One place for every ledger of the money features (transactions, wallets, credits): each declares
itself once with `Ledger(...)` (registered in `LEDGERS`), its migration makes the ledger table
append-only with `append_only_sql(table)` (a trigger refuses UPDATE and DELETE, for every role,
the owner included), and every change goes through `post()`, which writes the entries and moves
the cached balance in the same transaction, under the balance row's lock. `mismatches()` lists
every balance that differs from the sum of its ledger; the test suite runs it after every test
that touched the database (tests/conftest.py), so a balance that drifts fails the test that
made it drift.

Corrections are new entries (a reversal, an adjustment), never edits: the history is the truth.
The ledger rows outlive their organization's other data: deleting an organization with ledger
rows is refused by the same trigger (money records are kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import BigInteger, Table, and_, bindparam, column, func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.repository import rows_params, rows_table


# The trigger function every append-only table shares (created or replaced by each migration
# that uses it, so the first ledger's migration and any later one work alike).
_REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION kassa_refuse_ledger_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger % is append-only: % refused (post a correcting entry instead)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$
"""
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def append_only_sql(table: str) -> list[str]:
    """The statements a migration runs (`for s in append_only_sql("wallet_entries"): op.execute(s)`)
    to make `table` append-only: a trigger refuses every UPDATE and DELETE of its rows."""
    if not _IDENTIFIER.match(table):
        raise ValueError(f"not a plain table name: {table!r}")
    return [
        _REFUSE_FUNCTION,
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION kassa_refuse_ledger_change()",
    ]


class LedgerError(RuntimeError):
    """A ledger used wrongly (a missing balance row, an amount that is not whole minor units): a
    bug of the caller, never the customer's input, so not a typed error of the API."""


@dataclass(frozen=True)
class Ledger:
    """A ledger table and the table of its cached balances.

    `owner`: the columns that name a balance, as they are called in the ledger table and in the
    balance table (`{"wallet_id": "id"}`: ledger.wallet_id belongs to balances.id). `amount`: the
    ledger's signed amount column; `balance`: the balance table's cached sum."""

    name: str
    entries: Table
    balances: Table
    owner: Mapping[str, str]
    amount: str = "amount"
    balance: str = "balance"


LEDGERS: dict[str, Ledger] = {}


def register(ledger: Ledger) -> Ledger:
    """Declare a ledger (once, where its models are defined): `mismatches()` checks it."""
    if ledger.name in LEDGERS and LEDGERS[ledger.name] != ledger:
        raise ValueError(f"ledger {ledger.name!r} is declared twice")
    LEDGERS[ledger.name] = ledger
    return ledger


async def post(
    session: AsyncSession, ledger: Ledger, key: Mapping[str, Any], entries: Sequence[Mapping[str, Any]], *, locked: bool = False
) -> int:
    """Append `entries` (column -> value, the balance key's columns filled in here) and move the
    cached balance by their sum, in the caller's transaction: the balance row is locked first
    (so concurrent posts to one balance queue up and none is lost), and a database check on the
    balance table (e.g. `balance >= 0`) refuses the whole post. Returns the new balance. The
    balance row must exist (created with the thing it belongs to).

    `locked`: the caller already holds the balance row's lock in this transaction (it read the
    row FOR UPDATE to check what it may post): the entries and the move are then one statement,
    one round trip under the lock instead of three (a hot balance's throughput is the time its
    lock is held)."""
    if locked:
        return int((await _post_locked(session, ledger, key, entries))[0])
    [balance] = await post_many(session, ledger, [(key, entries)])
    return balance


def _rows_of(ledger: Ledger, key: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The entries with the balance key's columns, and their sum (checked: whole minor units)."""
    columns = list(ledger.owner)
    if not entries:
        raise LedgerError(f"ledger {ledger.name}: nothing to post")
    missing = set(columns) - set(key)
    if missing:
        raise LedgerError(f"ledger {ledger.name}: the balance key lacks {sorted(missing)}")
    rows, total = [], 0
    for entry in entries:
        amount = entry.get(ledger.amount)
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise LedgerError(f"ledger {ledger.name}: an entry's {ledger.amount} must be an integer of minor units, got {amount!r}")
        rows.append({**entry, **{column: key[column] for column in columns}})
        total += amount
    return rows, total


@dataclass(frozen=True, eq=False)
class Along:
    """More work done by a locked post's one statement (the balance row's lock is held by the
    caller, so it costs no round trip under it): `ctes`, data-modifying statements run with it
    (WITH name AS (UPDATE ... RETURNING ...)), and `returning`, more values returned after the
    balance (e.g. a sum over a CTE's rows, for the caller to check). Built once (a module
    constant: the statement is built once per Along); its parameters are given to `post_along`.
    A CTE sees the statement's snapshot, taken before the statement ran: it must read only rows
    that the caller's lock already protects (taken in an earlier statement)."""

    ctes: tuple[Any, ...] = ()
    returning: tuple[Any, ...] = ()


_NOTHING_ALONG = Along()
# `_post_locked`'s statements, built once per ledger, set of entry columns and Along (building the
# statement, and SQLAlchemy's cache key of a new one, cost more than running it)
_LOCKED_POSTS: dict[tuple[str, tuple[str, ...], Along], tuple[Any, tuple[str, ...]]] = {}


def _locked_post_statement(ledger: Ledger, names: tuple[str, ...], along: Along) -> tuple[Any, tuple[str, ...]]:
    """WITH the entries inserted (from one array parameter per column), UPDATE the balance row
    (named by parameters `key_<column>`) by `total` RETURNING the balance; and the balance
    table's columns that take a Python-side value on update (modified_at: SQLAlchemy leaves them
    empty in an UPDATE that carries an INSERT as a CTE), given as parameters `touched_<column>`."""
    cached = _LOCKED_POSTS.get((ledger.name, names, along))
    if cached is not None:
        return cached
    source = rows_table("posted_rows", [(name, ledger.entries.c[name].type) for name in names], None)
    posted = (
        insert(ledger.entries)
        .from_select(list(names), select(*[source.c[name] for name in names]))
        .returning(ledger.entries.c[ledger.amount])
        .cte("posted")
    )
    balance = ledger.balances.c[ledger.balance]
    touched = tuple(c.name for c in ledger.balances.c if c.onupdate is not None and c.onupdate.is_callable)
    statement = (
        update(ledger.balances)
        .where(*[ledger.balances.c[ledger.owner[column]] == bindparam(f"key_{column}") for column in ledger.owner])
        .values({**{name: bindparam(f"touched_{name}") for name in touched}, ledger.balance: balance + bindparam("total", type_=BigInteger)})
        .returning(balance, *along.returning)
        .add_cte(posted)
    )
    for cte in along.ctes:
        statement = statement.add_cte(cte)
    _LOCKED_POSTS[(ledger.name, names, along)] = (statement, touched)
    return statement, touched


async def _post_locked(
    session: AsyncSession, ledger: Ledger, key: Mapping[str, Any], entries: Sequence[Mapping[str, Any]],
    along: Along = _NOTHING_ALONG, params: Mapping[str, Any] | None = None,
) -> Any:
    """`post` under the caller's lock: WITH the entries inserted, UPDATE the balance RETURNING it
    (and `along`'s values). The lock makes the entries' order (their identity sequence) the
    order of the posts."""
    rows, total = _rows_of(ledger, key, entries)
    if len({frozenset(row) for row in rows}) != 1:  # one array per column needs one set of columns
        if along is not _NOTHING_ALONG:
            raise LedgerError(f"ledger {ledger.name}: a post along other work needs entries with the same columns")
        [balance] = await post_many(session, ledger, [(key, entries)])
        return (balance,)
    names = tuple(rows[0])
    statement, touched = _locked_post_statement(ledger, names, along)
    values: dict[str, Any] = dict(params or {})
    values.update(rows_params("posted_rows", names, [[row[name] for name in names] for row in rows]))
    values.update({f"key_{column}": key[column] for column in ledger.owner})
    values.update({f"touched_{name}": ledger.balances.c[name].onupdate.arg(None) for name in touched})
    values["total"] = total
    moved = (await session.execute(statement, values)).first()
    if moved is None:
        raise LedgerError(f"ledger {ledger.name}: no balance row for {dict(key)}")
    return moved


async def post_along(
    session: AsyncSession, ledger: Ledger, key: Mapping[str, Any], entries: Sequence[Mapping[str, Any]], along: Along, params: Mapping[str, Any]
) -> Any:
    """`post(..., locked=True)` and `along`'s work in the same statement, with its `params`; the
    returned row: the new balance, then `along.returning`."""
    return await _post_locked(session, ledger, key, entries, along, params)


async def post_many(
    session: AsyncSession, ledger: Ledger, postings: Sequence[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]], *, locked: bool = False
) -> list[int]:
    """`post` for many balances at once, in three statements whatever their number (a batch of
    renewal payments): every balance row locked first, in the order of their keys (two batches
    sharing balances queue up instead of deadlocking), then all the entries, then every balance
    moved by its entries' sum. Returns the new balances, in the order of `postings`. A balance
    key may come more than once (its sums add up). `locked`: the caller already holds every
    balance row's lock (it read them FOR UPDATE, in order, to check what it may post): two
    statements."""
    if not postings:
        return []
    columns = list(ledger.owner)
    targets = [ledger.balances.c[ledger.owner[column]] for column in columns]
    rows: list[dict[str, Any]] = []
    totals: dict[tuple, int] = {}
    for key, entries in postings:
        entry_rows, total = _rows_of(ledger, key, entries)
        owner = tuple(key[column] for column in columns)
        rows += entry_rows
        totals[owner] = totals.get(owner, 0) + total
    owners = sorted(totals)
    if not locked:
        found = (await session.execute(select(*targets).where(tuple_(*targets).in_(owners)).order_by(*targets).with_for_update())).all()
        _all_found(ledger, owners, {tuple(row) for row in found})
    await _insert_entries(session, ledger, rows)
    # the moves as arrays, one per column (`unnest`): one statement text whatever their number,
    # so it is compiled and prepared once
    moves = (
        func.unnest(
            *[bindparam(f"owner_{i}", [o[i] for o in owners], type_=ARRAY(target.type)) for i, target in enumerate(targets)],
            bindparam("deltas", [totals[o] for o in owners], type_=ARRAY(BigInteger)),
        )
        .table_valued(*[column(f"owner_{i}", target.type) for i, target in enumerate(targets)], column("delta", BigInteger))
        .render_derived(name="moves")
    )
    balance = ledger.balances.c[ledger.balance]
    moved = await session.execute(
        update(ledger.balances)
        .where(*[target == moves.c[f"owner_{i}"] for i, target in enumerate(targets)])
        .values({ledger.balance: balance + moves.c.delta})
        .returning(*targets, balance)
    )
    after = {tuple(row[:-1]): int(row[-1]) for row in moved}
    _all_found(ledger, owners, set(after))
    return [after[tuple(key[column] for column in columns)] for key, _entries in postings]


def _all_found(ledger: Ledger, owners: list[tuple], found: set[tuple]) -> None:
    absent = sorted(set(owners) - found)
    if absent:
        raise LedgerError(f"ledger {ledger.name}: no balance row for {[dict(zip(ledger.owner, o)) for o in absent]}")


# `_insert_entries`' statements, built once per ledger and set of entry columns
_ENTRY_INSERTS: dict[tuple[str, tuple[str, ...]], Any] = {}


async def _insert_entries(session: AsyncSession, ledger: Ledger, rows: list[dict[str, Any]]) -> None:
    """Insert the entries: rows with one set of columns in one statement from one array per
    column (built once: SQLAlchemy's many-values insert of a thousand rows costs more in Python
    than the database takes to run it), others as SQLAlchemy's executemany."""
    if len({frozenset(row) for row in rows}) != 1:
        await session.execute(insert(ledger.entries), rows)
        return
    names = tuple(rows[0])
    statement = _ENTRY_INSERTS.get((ledger.name, names))
    if statement is None:
        source = rows_table("entry_rows", [(name, ledger.entries.c[name].type) for name in names], None)
        statement = insert(ledger.entries).from_select(list(names), select(*[source.c[name] for name in names]))
        _ENTRY_INSERTS[(ledger.name, names)] = statement
    await session.execute(statement, rows_params("entry_rows", names, [[row[name] for name in names] for row in rows]))


@dataclass(frozen=True)
class Mismatch:
    ledger: str
    key: dict[str, Any]
    cached: int | None  # None: entries without a balance row
    summed: int


async def mismatches(session: AsyncSession, ledgers: Iterable[Ledger] | None = None) -> list[Mismatch]:
    """Every cached balance that differs from the sum of its ledger entries (and entries whose
    balance row is missing), across the organizations the session may see."""
    found: list[Mismatch] = []
    for ledger in ledgers if ledgers is not None else LEDGERS.values():
        entry_keys = [ledger.entries.c[column] for column in ledger.owner]
        sums = (
            select(*entry_keys, func.sum(ledger.entries.c[ledger.amount]).label("summed"))
            .group_by(*entry_keys)
            .subquery()
        )
        joined = and_(*(sums.c[column] == ledger.balances.c[target] for column, target in ledger.owner.items()))
        balance_keys = [ledger.balances.c[target].label(column) for column, target in ledger.owner.items()]
        cached = ledger.balances.c[ledger.balance]
        summed = func.coalesce(sums.c.summed, 0)
        with_balance = select(*balance_keys, cached.label("cached"), summed.label("summed")).select_from(
            ledger.balances.outerjoin(sums, joined)
        ).where(cached != summed)
        orphans = select(*[sums.c[column] for column in ledger.owner], literal(None).label("cached"), sums.c.summed).where(
            ~select(literal(1)).select_from(ledger.balances).where(joined).exists()
        )
        for row in (await session.execute(with_balance.union_all(orphans))).mappings():
            key = {column: row[column] for column in ledger.owner}
            found.append(Mismatch(ledger.name, key, None if row["cached"] is None else int(row["cached"]), int(row["summed"])))
    return found


async def reconcile_report(session: AsyncSession) -> str:
    """`mismatches()` as text, one line each (for logs and test failures); empty when all agree."""
    return "\n".join(f"{m.ledger} {m.key}: cached {m.cached}, entries sum to {m.summed}" for m in await mismatches(session))

