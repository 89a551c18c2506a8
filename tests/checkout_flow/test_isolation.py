"""Tenant isolation of checkouts, orders, refunds and transactions: another organization's are
"not found" (null) by id and by node, never in a list or a filter, and every mutation on them is
`NotFoundError`. A checkout's client secret reaches that checkout alone, and nothing of the
merchant's: not another checkout, not the order or customer behind its own, not the merchant's
queries or mutations; an unknown or malformed client secret is refused at the door (401)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.checkout_flow.operations import (
    CHECKOUT_SESSION,
    CONFIRM_CHECKOUT,
    CREATE_CHECKOUT,
    CUSTOMER_ORDERS,
    GET_CHECKOUT,
    GET_ORDER,
    LIST_CHECKOUTS,
    LIST_ORDERS,
    LIST_TRANSACTIONS,
    NODE,
    NODES,
    UPDATE_CHECKOUT,
    create_checkout,
    flow_counts,
    get_order,
    one_time_product,
    paid_order,
    refund,
    update_session,
)
from tests.conftest import make_org


async def _world(api, org) -> dict[str, Any]:
    """An organization's paid and refunded order, an open checkout, and their ids."""
    product = await one_time_product(api, org.token)
    paid = await paid_order(api, org.token, product, email=f"buyer-{org.id}@example.com")
    made = await refund(api, org.token, orderId=paid["orderId"], amount=100)
    assert made["__typename"] == "CreateRefundSuccess", made
    order = await get_order(api, org.token, paid["orderId"])
    transactions = (await api.data(LIST_TRANSACTIONS, {"filter": {"orderId": order["id"]}}, token=org.token))["transactions"]["nodes"]
    assert len(transactions) == 2
    open_checkout = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], paymentProcessor="MANUAL", customer={"email": "next@example.com"})
    return {
        "paid_checkout": paid,
        "open_checkout": open_checkout,
        "order": order,
        "refund": made["refund"]["id"],
        "transactions": [t["id"] for t in transactions],
        "customer": order["customerId"],
        "product": product["id"],
        "price": product["prices"][0]["id"],
    }


async def test_another_organizations_checkouts_orders_refunds_and_transactions_are_not_found(api, org, session_factory):
    other = await make_org(session_factory, name="Other")
    mine = await _world(api, org)
    theirs = await _world(api, other)

    # By id: null, through the type's own query and through node(id:) / nodes(ids:).
    for checkout in (theirs["paid_checkout"], theirs["open_checkout"]):
        assert (await api.data(GET_CHECKOUT, {"id": checkout["id"]}, token=org.token))["checkout"] is None
    assert (await api.data(GET_ORDER, {"id": theirs["order"]["id"]}, token=org.token))["order"] is None
    their_ids = [theirs["paid_checkout"]["id"], theirs["open_checkout"]["id"], theirs["order"]["id"], theirs["refund"], *theirs["transactions"]]
    for id in their_ids:
        assert (await api.data(NODE, {"id": id}, token=org.token))["node"] is None, id
    assert (await api.data(NODES, {"ids": their_ids}, token=org.token))["nodes"] == [None] * len(their_ids)
    my_ids = [mine["paid_checkout"]["id"], mine["open_checkout"]["id"], mine["order"]["id"], mine["refund"], *mine["transactions"]]
    found = (await api.data(NODES, {"ids": my_ids}, token=org.token))["nodes"]
    assert [node["__typename"] for node in found] == ["Checkout", "Checkout", "Order", "Refund", "Transaction", "Transaction"]
    assert (await api.data(CUSTOMER_ORDERS, {"id": theirs["customer"]}, token=org.token))["customer"] is None

    # Lists show the organization's own only, whatever the filter.
    checkouts = (await api.data(LIST_CHECKOUTS, token=org.token))["checkouts"]
    assert checkouts["totalCount"] == 2 and {c["id"] for c in checkouts["nodes"]} == {mine["paid_checkout"]["id"], mine["open_checkout"]["id"]}
    orders = (await api.data(LIST_ORDERS, token=org.token))["orders"]
    assert (orders["totalCount"], [o["id"] for o in orders["nodes"]]) == (1, [mine["order"]["id"]])
    transactions = (await api.data(LIST_TRANSACTIONS, token=org.token))["transactions"]["nodes"]
    assert sorted(t["id"] for t in transactions) == sorted(mine["transactions"])
    for query, key, filter in [
        (LIST_CHECKOUTS, "checkouts", {"customerId": theirs["customer"]}),
        (LIST_CHECKOUTS, "checkouts", {"productId": theirs["product"]}),
        (LIST_ORDERS, "orders", {"customerId": theirs["customer"]}),
        (LIST_ORDERS, "orders", {"productId": theirs["product"]}),
        (LIST_TRANSACTIONS, "transactions", {"orderId": theirs["order"]["id"]}),
        (LIST_TRANSACTIONS, "transactions", {"customerId": theirs["customer"]}),
    ]:
        assert (await api.data(query, {"filter": filter}, token=org.token))[key]["nodes"] == [], (key, filter)

    # Mutations on theirs: not found, and nothing changes on either side.
    before = await flow_counts(session_factory)
    result = await refund(api, org.token, orderId=theirs["order"]["id"], amount=1)
    assert (result["__typename"], result["code"]) == ("NotFoundError", "NOT_FOUND"), result
    for checkout in (theirs["open_checkout"], theirs["paid_checkout"]):
        updated = (await api.data(UPDATE_CHECKOUT, {"input": {"id": checkout["id"], "customer": {"name": "Mallory"}}}, token=org.token))["updateCheckout"]
        assert (updated["__typename"], updated["code"]) == ("NotFoundError", "NOT_FOUND"), updated
        confirmed = (await api.data(CONFIRM_CHECKOUT, {"input": {"id": checkout["id"]}}, token=org.token))["confirmCheckout"]
        assert (confirmed["__typename"], confirmed["code"]) == ("NotFoundError", "NOT_FOUND"), confirmed
    created = (await api.data(CREATE_CHECKOUT, {"input": {"productPriceId": theirs["price"], "paymentProcessor": "MANUAL"}}, token=org.token))["createCheckout"]
    assert created["__typename"] == "ValidationError" and created["fields"][0]["code"] == "not_found", created
    created = (await api.data(CREATE_CHECKOUT, {"input": {"productPriceId": mine["price"], "customerId": theirs["customer"], "paymentProcessor": "MANUAL"}}, token=org.token))["createCheckout"]
    assert created["__typename"] == "ValidationError" and created["fields"][0]["path"] == ["customerId"], created
    assert await flow_counts(session_factory) == before
    assert await get_order(api, other.token, theirs["order"]["id"]) == theirs["order"]
    assert (await api.data(GET_CHECKOUT, {"id": theirs["open_checkout"]["id"]}, token=other.token))["checkout"] == theirs["open_checkout"]


async def test_a_client_secret_reaches_its_own_checkout_and_nothing_else(api, org, session_factory):
    other = await make_org(session_factory, name="Other")
    mine = await _world(api, org)
    theirs = await _world(api, other)
    product = await one_time_product(api, org.token, name="Another")
    sibling = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], paymentProcessor="MANUAL")
    secret = mine["open_checkout"]["clientSecret"]
    paid_secret = mine["paid_checkout"]["clientSecret"]

    session = (await api.data(CHECKOUT_SESSION, token=secret))["checkoutSession"]
    assert session["id"] == mine["open_checkout"]["id"]

    # Another checkout, of the same organization or another, by node: null or forbidden.
    for id in (sibling["id"], theirs["open_checkout"]["id"], mine["order"]["id"], mine["refund"], mine["transactions"][0]):
        body = await api.gql(NODE, {"id": id}, token=secret)
        assert body["data"] is None or body["data"]["node"] is None, (id, body)
        if body.get("errors"):
            assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}, body

    # The merchant's queries and mutations: forbidden.
    for query, variables in [
        (LIST_ORDERS, {}),
        (LIST_CHECKOUTS, {}),
        (LIST_TRANSACTIONS, {}),
        (GET_CHECKOUT, {"id": mine["open_checkout"]["id"]}),
        (GET_ORDER, {"id": mine["order"]["id"]}),
        (CUSTOMER_ORDERS, {"id": mine["customer"]}),
        ("{ organization { id } }", {}),
        (UPDATE_CHECKOUT, {"input": {"id": mine["open_checkout"]["id"], "customer": {"name": "Me"}}}),
        (CONFIRM_CHECKOUT, {"input": {"id": mine["open_checkout"]["id"]}}),
        (CREATE_CHECKOUT, {"input": {"productPriceId": mine["price"]}}),
    ]:
        body = await api.gql(query, variables, token=secret)
        assert body.get("errors") and {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}, (query, body)
    from tests.checkout_flow.operations import CREATE_REFUND

    body = await api.gql(CREATE_REFUND, {"input": {"orderId": mine["order"]["id"], "amount": 1, "reason": "OTHER"}}, token=paid_secret)
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}, body

    # Its own checkout's order and customer belong to the merchant: forbidden at those fields.
    body = await api.gql("{ checkoutSession { id status order { id } } }", token=paid_secret)
    assert body["data"]["checkoutSession"] == {"id": mine["paid_checkout"]["id"], "status": "SUCCEEDED", "order": None}, body
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [(["checkoutSession", "order"], "FORBIDDEN")]
    body = await api.gql("{ checkoutSession { id customer { id email } } }", token=paid_secret)
    assert body["data"]["checkoutSession"]["customer"] is None
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [(["checkoutSession", "customer"], "FORBIDDEN")]

    # A merchant's token is not a client secret.
    body = await api.gql(CHECKOUT_SESSION, token=org.token)
    assert body.get("errors") and {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}, body
    body = await api.gql("mutation { confirmCheckoutSession(input: {}) { __typename } }", token=org.token)
    assert body.get("errors") and {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}, body
    # Nothing of the above changed anything; its own checkout is still as it was, and its to fill in.
    assert (await api.data(GET_CHECKOUT, {"id": mine["open_checkout"]["id"]}, token=org.token))["checkout"] == mine["open_checkout"]
    answer = await update_session(api, secret, customer={"name": "Ann"})
    assert answer["__typename"] == "UpdateCheckoutSuccess" and answer["checkout"]["customerName"] == "Ann", answer


@pytest.mark.parametrize(
    "secret",
    [
        "kassa_cs_" + "A" * 43,  # well formed, unknown
        "kassa_cs_short",
        "kassa_cs_" + "A" * 42 + "!",
        "kassa_cs_" + "A" * 44,
        "kassa_cs_" + "A" * 42 + "\u00e9",
    ],
    ids=["unknown", "short", "bad-character", "too-long", "non-ascii"],
)
async def test_an_unknown_or_malformed_client_secret_is_refused_at_the_door(api, secret):
    response = await api.client.post("/graphql", json={"query": CHECKOUT_SESSION}, headers={"Authorization": f"Bearer {secret}".encode("utf-8")})
    assert response.status_code == 401, response.text


async def test_the_secret_of_a_deleted_checkout_is_refused(api, org, session_factory):
    from sqlalchemy import text

    from tests.conftest import as_owner

    product = await one_time_product(api, org.token)
    checkout = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], paymentProcessor="MANUAL")
    async with session_factory() as session, as_owner(session):
        await session.execute(text("DELETE FROM checkouts WHERE id = (SELECT id FROM checkouts LIMIT 1)"))
        await session.commit()
    response = await api.post(CHECKOUT_SESSION, token=checkout["clientSecret"])
    assert response.status_code == 401, response.text
