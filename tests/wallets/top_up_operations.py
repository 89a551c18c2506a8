"""GraphQL operations and factories of the top-up and auto top-up tests, as a merchant writes them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.checkout_flow.operations import CHECKOUT_FIELDS, ORDER_FIELDS
from tests.conftest import as_owner
from tests.operations import ERROR_FIELDS, NOT_FOUND, VALIDATION

WALLET_FIELDS = """
  id currency balance { amount currency } held { amount } available { amount }
  autoTopUp { enabled threshold { amount } target { amount } monthlyCap { amount } cooldownSeconds maxFailures failuresInARow pausedAt lastAttemptAt }
"""

CREATE_TOP_UP_CHECKOUT = f"""
mutation CreateWalletTopUpCheckout($input: CreateWalletTopUpCheckoutInput!) {{
  createWalletTopUpCheckout(input: $input) {{
    {ERROR_FIELDS} {VALIDATION}
    ... on CreateWalletTopUpCheckoutSuccess {{ checkout {{ {CHECKOUT_FIELDS} walletTopUp }} }}
  }}
}}
"""

CONFIRM_CHECKOUT = f"""
mutation ConfirmCheckout($input: ConfirmCheckoutInput!) {{
  confirmCheckout(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {NOT_FOUND}
    ... on ConfirmCheckoutSuccess {{ checkout {{ {CHECKOUT_FIELDS} walletTopUp }} }}
  }}
}}
"""

CUSTOMER_WALLET = f"""
query CustomerWallet($customerId: ID!, $currency: String!) {{
  customerWallet(customerId: $customerId, currency: $currency) {{
    {WALLET_FIELDS}
    recentTransactions {{ type amount {{ amount }} orderId reason }}
  }}
}}
"""

REFUND_TOP_UP = f"""
mutation RefundWalletTopUp($input: RefundWalletTopUpInput!) {{
  refundWalletTopUp(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {NOT_FOUND}
    ... on RefundExceedsUnspentError {{ requested refundable currency }}
    ... on RefundWalletTopUpSuccess {{
      wallet {{ {WALLET_FIELDS} }} transaction {{ type amount {{ amount }} orderId }} refundId
    }}
  }}
}}
"""

CREATE_REFUND = f"""
mutation CreateRefund($input: CreateRefundInput!) {{
  createRefund(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {NOT_FOUND}
    ... on CreateRefundSuccess {{ refund {{ id amount }} }}
  }}
}}
"""

GET_ORDER = f"query Order($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"

CONFIGURE_AUTO_TOP_UP = f"""
mutation ConfigureWalletAutoTopUp($input: ConfigureWalletAutoTopUpInput!) {{
  configureWalletAutoTopUp(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {NOT_FOUND}
    ... on ConfigureWalletAutoTopUpSuccess {{ wallet {{ {WALLET_FIELDS} }} }}
  }}
}}
"""

ADJUST = f"""
mutation Adjust($input: AdjustWalletBalanceInput!) {{
  adjustWalletBalance(input: $input) {{ {ERROR_FIELDS} {VALIDATION} ... on WalletTransactionSuccess {{ wallet {{ {WALLET_FIELDS} }} }} }}
}}
"""


async def create_top_up_checkout(api, token: str, **input: Any) -> dict:
    """createWalletTopUpCheckout's answer (any member of its union)."""
    return (await api.data(CREATE_TOP_UP_CHECKOUT, {"input": input}, token=token))["createWalletTopUpCheckout"]


async def confirm(api, token: str, checkout_id: str, **input: Any) -> dict:
    return (await api.data(CONFIRM_CHECKOUT, {"input": {"id": checkout_id, **input}}, token=token))["confirmCheckout"]


async def wallet_of(api, token: str, customer_id: str, currency: str = "usd") -> dict | None:
    return (await api.data(CUSTOMER_WALLET, {"customerId": customer_id, "currency": currency}, token=token))["customerWallet"]


async def balance_of(api, token: str, customer_id: str, currency: str = "usd") -> int:
    wallet = await wallet_of(api, token, customer_id, currency)
    return int(wallet["balance"]["amount"]) if wallet is not None else 0


async def manual_top_up(api, token: str, customer_id: str, amount: int, currency: str = "usd") -> dict:
    """A manual top-up checkout confirmed by the merchant: the succeeded checkout."""
    created = await create_top_up_checkout(api, token, customerId=customer_id, currency=currency, amount=amount, paymentProcessor="MANUAL")
    assert created["__typename"] == "CreateWalletTopUpCheckoutSuccess", created
    confirmed = await confirm(api, token, created["checkout"]["id"])
    assert confirmed["__typename"] == "ConfirmCheckoutSuccess" and confirmed["checkout"]["status"] == "SUCCEEDED", confirmed
    return confirmed["checkout"]


async def spend(api, token: str, customer_id: str, amount: int, currency: str = "usd") -> dict:
    """Money leaves the wallet (a negative adjustment standing for usage)."""
    result = (await api.data(ADJUST, {"input": {"customerId": customer_id, "currency": currency, "amount": -amount, "reason": "usage"}}, token=token))
    assert result["adjustWalletBalance"]["__typename"] == "WalletTransactionSuccess", result
    return result["adjustWalletBalance"]["wallet"]


async def wallet_events(session_factory, prefix: str = "wallet.auto_top_up") -> list[tuple[str, dict]]:
    async with session_factory() as session, as_owner(session):
        rows = (await session.execute(text("SELECT type, payload FROM webhook_events WHERE type LIKE :p ORDER BY sequence"), {"p": prefix + "%"})).all()
    return [(row[0], row[1]) for row in rows]


async def sql(session_factory, statement: str, **params: Any) -> list[Any]:
    """Run `statement` as the database owner (across organizations) and commit; its rows."""
    async with session_factory() as session:
        async with as_owner(session):
            result = await session.execute(text(statement), params)
            found = list(result.all()) if result.returns_rows else []
        await session.commit()
    return found
