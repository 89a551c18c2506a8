"""GraphQL operations of the wallet tests."""

from __future__ import annotations

from typing import Any

WALLET_FIELDS = "id currency balance { amount currency } held { amount } available { amount } customerId"
TRANSACTION_FIELDS = "id type amount { amount currency } reason memberId meterId priceId quantity holdId orderId sequence createdAt"

GRANT = f"""
mutation Grant($input: GrantWalletCreditInput!) {{
  grantWalletCredit(input: $input) {{
    __typename
    ... on WalletTransactionSuccess {{ wallet {{ {WALLET_FIELDS} }} transaction {{ {TRANSACTION_FIELDS} }} }}
    ... on Error {{ message code }}
    ... on ValidationError {{ fields {{ path message code }} }}
  }}
}}
"""

ADJUST = f"""
mutation Adjust($input: AdjustWalletBalanceInput!) {{
  adjustWalletBalance(input: $input) {{
    __typename
    ... on WalletTransactionSuccess {{ wallet {{ {WALLET_FIELDS} }} transaction {{ {TRANSACTION_FIELDS} }} }}
    ... on InsufficientFundsError {{ requested available currency reason }}
    ... on Error {{ message code }}
    ... on ValidationError {{ fields {{ path message code }} }}
  }}
}}
"""

SET_BUDGET = """
mutation Budget($input: SetMemberBudgetInput!) {
  setMemberBudget(input: $input) {
    __typename
    ... on SetMemberBudgetSuccess { budget { period amount { amount currency } spent { amount } remaining { amount } periodStart wallet { id } } }
    ... on Error { message code }
    ... on ValidationError { fields { path message code } }
  }
}
"""

CUSTOMER_WALLETS = f"""
query Wallets($id: ID!) {{
  customer(id: $id) {{
    wallets {{ {WALLET_FIELDS} recentTransactions {{ {TRANSACTION_FIELDS} }} }}
    uncoveredUsage {{ amount {{ amount currency }} quantity meterId memberId }}
    members {{ id wallets {{ id }} walletBudgets {{ period amount {{ amount }} spent {{ amount }} remaining {{ amount }} }} }}
  }}
}}
"""

WALLET_TRANSACTIONS = f"""
query Transactions($walletId: ID!, $first: Int!, $after: String, $types: [WalletTransactionType!]) {{
  walletTransactions(walletId: $walletId, first: $first, after: $after, types: $types) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {TRANSACTION_FIELDS} }}
  }}
}}
"""

CUSTOMER_WALLET = f"""
query CustomerWallet($customerId: ID!, $currency: String!) {{
  customerWallet(customerId: $customerId, currency: $currency) {{ {WALLET_FIELDS} }}
}}
"""


async def grant(api, token: str, customer_id: str, amount: int, **input: Any) -> dict:
    values = {"customerId": customer_id, "currency": "usd", "amount": amount, **input}
    return (await api.data(GRANT, {"input": values}, token=token))["grantWalletCredit"]


async def adjust(api, token: str, customer_id: str, amount: int, reason: str = "correction", **input: Any) -> dict:
    values = {"customerId": customer_id, "currency": "usd", "amount": amount, "reason": reason, **input}
    return (await api.data(ADJUST, {"input": values}, token=token))["adjustWalletBalance"]
