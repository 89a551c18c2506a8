"""Wallets through GraphQL: grants (idempotent), adjustments, member budgets, the customer's and
members' wallets, transactions paged, typed errors that change nothing, tenant isolation and the
statement count of nested wallets."""

from __future__ import annotations

from datetime import timedelta

from app.kit import clock as kit_clock
from tests.operations import create_business, create_customer
from tests.wallets.holds_support import hold
from tests.wallets.operations import (
    ADJUST,
    CUSTOMER_WALLET,
    CUSTOMER_WALLETS,
    SET_BUDGET,
    WALLET_TRANSACTIONS,
    adjust,
    grant,
)


async def test_a_grant_replayed_with_its_key_credits_once(api, org):
    customer = await create_customer(api, org.token)
    first = await grant(api, org.token, customer["id"], 500, reason="welcome", idempotencyKey="g-1")
    assert first["__typename"] == "WalletTransactionSuccess", first
    assert first["wallet"]["balance"] == {"amount": 500, "currency": "usd"}
    assert first["transaction"]["type"] == "GRANT" and first["transaction"]["reason"] == "welcome"
    again = await grant(api, org.token, customer["id"], 500, reason="welcome", idempotencyKey="g-1")
    assert again["transaction"]["id"] == first["transaction"]["id"]
    reused = await grant(api, org.token, customer["id"], 600, reason="welcome", idempotencyKey="g-1")
    assert reused["code"] == "IDEMPOTENCY_KEY_REUSED"
    wallet = (await api.data(CUSTOMER_WALLET, {"customerId": customer["id"], "currency": "USD"}, token=org.token))["customerWallet"]
    assert wallet["balance"]["amount"] == 500


async def test_adjustments_and_their_typed_errors_change_nothing(api, org):
    customer = await create_customer(api, org.token)
    assert (await adjust(api, org.token, customer["id"], 300))["wallet"]["balance"]["amount"] == 300
    refused = await adjust(api, org.token, customer["id"], -301)
    assert refused["__typename"] == "InsufficientFundsError"
    assert (refused["requested"], refused["available"], refused["reason"]) == (301, 300, "INSUFFICIENT_BALANCE")
    bad = await adjust(api, org.token, customer["id"], 0, reason="")
    assert bad["__typename"] == "ValidationError"
    assert {f["path"][-1] for f in bad["fields"]} == {"amount", "reason"}
    bad_currency = await grant(api, org.token, customer["id"], 10, currency="zzz")
    assert bad_currency["__typename"] == "ValidationError"
    past = await grant(api, org.token, customer["id"], 10, expiresAt=(kit_clock.now() - timedelta(days=1)).isoformat())
    assert past["__typename"] == "ValidationError"
    taken = await adjust(api, org.token, customer["id"], -120, reason="goodwill reversed")
    assert taken["wallet"]["balance"]["amount"] == 180 and taken["transaction"]["amount"]["amount"] == -120
    data = await api.data(CUSTOMER_WALLETS, {"id": customer["id"]}, token=org.token)
    [wallet] = data["customer"]["wallets"]
    assert [t["type"] for t in wallet["recentTransactions"]] == ["ADJUSTMENT", "ADJUSTMENT"]
    assert wallet["balance"]["amount"] == 180


async def test_transactions_page_newest_first(api, org):
    customer = await create_customer(api, org.token)
    for i in range(1, 6):
        result = await grant(api, org.token, customer["id"], i)
    wallet_id = result["wallet"]["id"]
    seen, after = [], None
    while True:
        page = (await api.data(WALLET_TRANSACTIONS, {"walletId": wallet_id, "first": 2, "after": after}, token=org.token))["walletTransactions"]
        seen += [n["amount"]["amount"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [5, 4, 3, 2, 1]
    only = (await api.data(WALLET_TRANSACTIONS, {"walletId": wallet_id, "first": 10, "types": ["ADJUSTMENT"]}, token=org.token))["walletTransactions"]
    assert only["nodes"] == []


async def test_member_budgets_on_a_business_wallet(api, org):
    business = await create_business(api, org.token, members=1)
    member = next(m for m in business["members"] if m["role"] == "MEMBER")
    set_ = (await api.data(SET_BUDGET, {"input": {"memberId": member["id"], "currency": "usd", "amount": 1000, "period": "MONTH"}}, token=org.token))[
        "setMemberBudget"
    ]
    assert set_["__typename"] == "SetMemberBudgetSuccess", set_
    assert set_["budget"]["amount"] == {"amount": 1000, "currency": "usd"} and set_["budget"]["remaining"]["amount"] == 1000
    data = await api.data(CUSTOMER_WALLETS, {"id": business["id"]}, token=org.token)
    budgets = {m["id"]: m["walletBudgets"] for m in data["customer"]["members"]}
    assert budgets[member["id"]][0]["period"] == "MONTH"
    assert all(m["wallets"] == [{"id": set_["budget"]["wallet"]["id"]}] for m in data["customer"]["members"])
    removed = (await api.data(SET_BUDGET, {"input": {"memberId": member["id"], "currency": "usd", "amount": None}}, token=org.token))["setMemberBudget"]
    assert removed == {"__typename": "SetMemberBudgetSuccess", "budget": None}
    individual = await create_customer(api, org.token)
    refused = (await api.data(SET_BUDGET, {"input": {"memberId": individual["owner"]["id"], "currency": "usd", "amount": 5}}, token=org.token))[
        "setMemberBudget"
    ]
    assert refused["code"] == "WALLET_NOT_ALLOWED"


async def test_another_organizations_wallet_is_not_found(api, org, other_org):
    customer = await create_customer(api, org.token)
    result = await grant(api, org.token, customer["id"], 100)
    wallet_id = result["wallet"]["id"]
    theirs = await grant(api, other_org.token, customer["id"], 100)
    assert theirs["code"] == "NOT_FOUND"
    assert (await api.data("query($id: ID!) { wallet(id: $id) { id } }", {"id": wallet_id}, token=other_org.token))["wallet"] is None
    assert (await api.data("query($id: ID!) { node(id: $id) { id } }", {"id": result["transaction"]["id"]}, token=other_org.token))["node"] is None
    refused = (await api.data(ADJUST, {"input": {"customerId": customer["id"], "currency": "usd", "amount": -1, "reason": "x"}}, token=other_org.token))[
        "adjustWalletBalance"
    ]
    assert refused["code"] == "NOT_FOUND"


NESTED_WALLETS = """
query Nested($first: Int!) {
  customers(first: $first) {
    nodes { id wallets { id balance { amount } recentTransactions { id amount { amount } } activeHolds { id amount { amount } } } uncoveredUsage { quantity } }
  }
}
"""


async def test_nested_wallets_cost_the_same_statements_whatever_the_page(api, org):
    for i in range(12):
        customer = await create_customer(api, org.token, email=f"w{i}@example.com")
        await grant(api, org.token, customer["id"], 100 + i)
        await grant(api, org.token, customer["id"], 1, currency="eur")
        assert (await hold(api, org.token, customer["id"], 40 + i))["__typename"] == "WalletHoldSuccess"
    counts = {}
    for first in (2, 12):
        data = await api.data(NESTED_WALLETS, {"first": first}, token=org.token)
        assert all(len(node["wallets"]) == 2 and node["wallets"][0]["recentTransactions"] for node in data["customers"]["nodes"])
        assert sorted(len(w["activeHolds"]) for node in data["customers"]["nodes"] for w in node["wallets"]) == [0] * first + [1] * first
        counts[first] = api.last_statement_count
    assert counts[2] == counts[12], counts


MEMBERS_SPEND = """
query Spend($first: Int!) {
  customers(first: $first) { nodes { members { id walletSpend { walletId periodStart spent { amount currency } } } } }
}
"""


async def test_members_spend_this_month_per_shared_wallet_in_the_same_statements_whatever_the_page(api, org):
    """Each member's captured holds this month, per wallet (usd and eur apart); members that spent
    nothing list nothing; a released hold is not spend; the statement count does not grow with
    the page."""
    from tests.wallets.holds_support import adjust, business_with_members, capture, release

    spent: dict[str, list[tuple[int, str]]] = {}
    for i in range(6):
        customer, (m1, m2) = await business_with_members(api, org.token, prefix=f"spend{i}")
        await adjust(api, org.token, customer, 10_000)
        await adjust(api, org.token, customer, 500, currency="eur")
        usd = await hold(api, org.token, customer, 300, member_id=m1)
        assert (await capture(api, org.token, usd["hold"]["id"], 120 + i))["__typename"] == "WalletHoldSuccess"
        eur = await hold(api, org.token, customer, 50, member_id=m1, currency="eur")
        assert (await capture(api, org.token, eur["hold"]["id"]))["__typename"] == "WalletHoldSuccess"
        other = await hold(api, org.token, customer, 70, member_id=m2)
        assert (await release(api, org.token, other["hold"]["id"]))["__typename"] == "WalletHoldSuccess"
        spent[m1] = sorted([(120 + i, "usd"), (50, "eur")])
        spent[m2] = []
    counts = {}
    for first in (2, 6):
        data = await api.data(MEMBERS_SPEND, {"first": first}, token=org.token)
        for node in data["customers"]["nodes"]:
            for member in node["members"]:
                if member["id"] in spent:
                    assert sorted((s["spent"]["amount"], s["spent"]["currency"]) for s in member["walletSpend"]) == spent[member["id"]]
                else:  # the owner spent nothing
                    assert member["walletSpend"] == []
        counts[first] = api.last_statement_count
    assert counts[2] == counts[6], counts
