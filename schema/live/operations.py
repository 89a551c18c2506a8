"""The `Live` root: subscription operations (the billing object is called `Subscription`, so
the root of live updates is not).

Each operation checks the caller's scope and the customer (another organization's customer is
"not found"), starts listening on the customer's channel (app/kit/live.py), sends the current
state, then reads the state again through the services, with a session of its own acting for
the caller, each time a worker says it changed. Nothing holds a database connection between
updates.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, AsyncGenerator, Awaitable, Callable, TypeVar

import strawberry
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.customers import service as customers
from app.kit import clock, live
from app.kit.db import SessionGate
from app.kit.errors import KassaError
from app.kit.ids import parse_global_id, to_global_id
from app.meters import billing_status as billing
from app.meters import scopes as meters_scopes
from app.models.wallet import Wallet
from app.wallets import scopes as wallets_scopes
from app.wallets import service as wallets
from schema.kit.money import Money
from schema.kit.scopes import RequireScope
from schema.live.types import WalletUpdate, WalletUpdateTransaction
from schema.meters.live import CustomerMeterState, CustomerMeterUpdate
from schema.meters.types import MeterStatusLevel

T = TypeVar("T")


async def _read(info: strawberry.Info, work: Callable[[AsyncSession, Subject], Awaitable[T]]) -> T:
    """`work` in a session of its own acting for the caller, closed at once. A domain error is
    the operation's error, with its code."""
    context = info.context
    gate = SessionGate(context.session_factory)
    gate.act_for(context.subject.scope)
    try:
        return await gate.run(lambda session: work(session, context.subject))
    except KassaError as exc:
        raise GraphQLError(exc.message, extensions={"code": exc.code}) from None
    finally:
        await gate.close()


async def _customer_id(info: strawberry.Info, customer_id: str) -> uuid.UUID:
    async def find(session: AsyncSession, subject: Subject) -> uuid.UUID:
        return (await customers.get_customer(session, subject, parse_global_id(customer_id, "Customer"))).id

    return await _read(info, find)


def _wallet_update(wallet: Wallet, last: Any, now: Any) -> WalletUpdate:
    currency = wallet.currency
    return WalletUpdate(
        wallet_id=strawberry.ID(to_global_id("Wallet", wallet.id)),
        customer_id=strawberry.ID(to_global_id("Customer", wallet.customer_id)),
        currency=currency,
        balance=Money.of(wallet.balance, currency),
        held=Money.of(wallet.held, currency),
        available=Money.of(wallet.available, currency),
        last_transaction=WalletUpdateTransaction(
            id=strawberry.ID(to_global_id("WalletTransaction", last.id)),
            type=last.type.upper(),
            amount=Money.of(last.amount, currency),
            created_at=last.created_at,
        )
        if last is not None
        else None,
        at=now,
    )


def _wallets_now(customer_id: uuid.UUID, currencies: set[str] | None) -> Callable[[AsyncSession, Subject], Awaitable[list[WalletUpdate]]]:
    """The customer's wallets (in `currencies`, else all) as they are now."""

    async def read(session: AsyncSession, subject: Subject) -> list[WalletUpdate]:
        if currencies is not None:  # a customer deleted since the stream started ends it with NOT_FOUND
            await customers.get_customer(session, subject, customer_id)
        [found] = await wallets.load_wallets_of(session, subject.scope, [customer_id])
        if currencies is not None:
            found = [w for w in found if w.currency in currencies]
        last = await wallets.load_recent_entries_of(session, subject.scope, [w.id for w in found], limit=1)
        now = clock.now()
        return [_wallet_update(wallet, entries[0] if entries else None, now) for wallet, entries in zip(found, last)]

    return read


def _meters_now(customer_id: uuid.UUID) -> Callable[[AsyncSession, Subject], Awaitable[CustomerMeterUpdate]]:
    async def read(session: AsyncSession, subject: Subject) -> CustomerMeterUpdate:
        customer = await customers.get_customer(session, subject, customer_id)
        status = await billing.billing_status(session, subject, customer)
        return CustomerMeterUpdate(
            customer_id=strawberry.ID(to_global_id("Customer", customer.id)),
            status=MeterStatusLevel(status.status),
            meters=[
                CustomerMeterState(
                    meter_id=strawberry.ID(to_global_id("Meter", m.meter.id)),
                    meter_name=m.meter.name,
                    consumed=m.consumed,
                    credited=m.credited,
                    balance=m.balance,
                    percent_used=m.percent_used,
                    status=MeterStatusLevel(m.status),
                )
                for m in status.meters
            ],
            at=clock.now(),
        )

    return read


CustomerIdArg = Annotated[strawberry.ID, strawberry.argument(description="The customer.")]


@strawberry.type(
    description="Live updates, as subscription operations over a WebSocket on `/graphql` (the graphql-transport-ws protocol). "
    "Authenticate with the organization access token in the `connection_init` payload (`{\"Authorization\": \"Bearer <token>\"}` "
    "or `{\"token\": \"<token>\"}`) or the `Authorization` header of the upgrade request. Each operation first sends the "
    "current state, then the new state after each change; a burst of changes may arrive as one update."
)
class Live:
    @strawberry.subscription(
        description="A customer's wallet balance as it changes: the wallet in `currency`, or every wallet of the customer. "
        "Requires the `wallets:read` scope.",
        extensions=[RequireScope(wallets_scopes.READ)],
    )
    async def wallet_updates(
        self,
        info: strawberry.Info,
        customer_id: CustomerIdArg,
        currency: Annotated[str | None, strawberry.argument(description="Only the wallet in this currency (ISO 4217), else all.")] = None,
    ) -> AsyncGenerator[WalletUpdate, None]:
        # Checked before the stream starts (the scope too): a refusal is the operation's `error` message.
        subject = info.context.subject
        try:
            code = wallets.check_currency_code(currency) if currency is not None else None
        except KassaError as exc:
            raise GraphQLError(exc.message, extensions={"code": exc.code}) from None
        customer = await _customer_id(info, customer_id)
        return _wallet_stream(info, subject, customer, code)

    @strawberry.subscription(
        description="A customer's meters as new usage or credits are counted: consumed, credited, balance and status per meter. "
        "Requires the `meters:read` scope.",
        extensions=[RequireScope(meters_scopes.READ)],
    )
    async def customer_meter_updates(self, info: strawberry.Info, customer_id: CustomerIdArg) -> AsyncGenerator[CustomerMeterUpdate, None]:
        subject = info.context.subject
        customer = await _customer_id(info, customer_id)
        return _meter_stream(info, subject, customer)


async def _wallet_stream(info: strawberry.Info, subject: Subject, customer: uuid.UUID, code: str | None) -> AsyncGenerator[WalletUpdate, None]:
    """Listening first, then the current state: a change between the two is not missed."""
    async with info.context.hub.listen(subject.organization_id, customer) as listener:
        for update in await _read(info, _wallets_now(customer, {code} if code else None)):
            yield update
        while True:
            changed = {m.get("currency") for m in await listener.next() if m.get("kind") == live.WALLET}
            wanted = {c for c in changed if isinstance(c, str) and (code is None or c == code)}
            if wanted:
                for update in await _read(info, _wallets_now(customer, wanted)):
                    yield update


async def _meter_stream(info: strawberry.Info, subject: Subject, customer: uuid.UUID) -> AsyncGenerator[CustomerMeterUpdate, None]:
    async with info.context.hub.listen(subject.organization_id, customer) as listener:
        yield await _read(info, _meters_now(customer))
        while True:
            if any(m.get("kind") == live.METERS for m in await listener.next()):
                yield await _read(info, _meters_now(customer))
