"""Subscriptions through GraphQL, as a merchant's back end reads and changes them: the checkout of a
recurring product starts one, readable by id, by node, in lists with each filter, on its customer
and on its order; cancel, uncancel and revoke with their webhook events; a renewal on the test
clock shows its order and billing entry; another organization's subscriptions are not found; bad
input is a typed error; a page of customers with their subscriptions costs the same statements
whatever its size."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from app.auth.service import issue_token, operator_scope
from app.kit.ids import from_global_id, to_global_id
from app.subscriptions import scopes as subscriptions_scopes
from app.subscriptions import service as subscriptions
from tests.catalog.operations import create_product
from tests.checkout_flow.operations import CONFIRM_CHECKOUT, create_checkout, get_order, one_time_product, paid_order, webhook_events
from tests.conftest import as_owner, make_org, tenant_factory
from tests.operations import ERROR_FIELDS, NOT_FOUND, VALIDATION

FIELDS = """
  id status customerId memberId productId productPriceId checkoutId discountId currency amount seats recurringInterval
  currentPeriodStart currentPeriodEnd trialStart trialEnd cancelAtPeriodEnd canceledAt endedAt startedAt pastDueAt
  metadata createdAt modifiedAt
"""
NESTED = f"""
  {FIELDS}
  orders {{ id billingReason status subtotalAmount subscriptionId }}
  billingEntries {{ id type direction amount currency startAt endAt orderId productPriceId }}
  customer {{ id email }}
  product {{ id name }}
"""
GET = f"query Subscription($id: ID!) {{ subscription(id: $id) {{ {NESTED} }} }}"
NODE = "query Node($id: ID!) { node(id: $id) { __typename id ... on Subscription { status } } }"
LIST = """
query Subscriptions($first: Int! = 50, $filter: SubscriptionFilter, $orderBy: CreatedOrder) {
  subscriptions(first: $first, filter: $filter, orderBy: $orderBy) { totalCount nodes { id status } pageInfo { hasNextPage } }
}
"""
CUSTOMER = "query Customer($id: ID!) { customer(id: $id) { id subscriptions { id status productId } } }"
ORDER = "query Order($id: ID!) { order(id: $id) { id subscriptionId subscription { id status } } }"
CHANGED = f"{ERROR_FIELDS} {VALIDATION} {NOT_FOUND} ... on SubscriptionNotChangeableError {{ status }}"


def _mutation(name: str) -> str:
    title = name[0].upper() + name[1:]
    return f"""
mutation {title}($input: {title}Input!) {{
  {name}(input: $input) {{
    {CHANGED}
    ... on {title}Success {{ subscription {{ {FIELDS} }} }}
  }}
}}
"""


CANCEL, UNCANCEL, REVOKE = _mutation("cancelSubscription"), _mutation("uncancelSubscription"), _mutation("revokeSubscription")
T0 = datetime(2027, 1, 31, 9, 30, tzinfo=timezone.utc)


async def change(api, token: str, operation: str, id: str) -> dict:
    data = await api.data(operation, {"input": {"id": id}}, token=token)
    return next(iter(data.values()))


async def subscribe(api, token: str, product: dict, *, email: str, metadata: dict | None = None) -> dict:
    """A manual checkout of `product`'s first price for a new customer, confirmed (an offline
    payment); returns the subscription it started, with its orders and billing entries."""
    checkout = await create_checkout(
        api, token, productPriceId=product["prices"][0]["id"], paymentProcessor="MANUAL", customer={"email": email}, metadata=metadata or {}
    )
    result = (await api.data(CONFIRM_CHECKOUT, {"input": {"id": checkout["id"]}}, token=token))["confirmCheckout"]
    assert result["checkout"]["status"] == "SUCCEEDED", result
    order = await api.data(ORDER, {"id": result["checkout"]["orderId"]}, token=token)
    subscription_id = order["order"]["subscriptionId"]
    assert subscription_id is not None and order["order"]["subscription"]["id"] == subscription_id
    return (await api.data(GET, {"id": subscription_id}, token=token))["subscription"]


async def ids_listed(api, token: str, filter: dict | None = None) -> list[str]:
    listed = (await api.data(LIST, {"filter": filter}, token=token))["subscriptions"]
    assert listed["totalCount"] == len(listed["nodes"])
    return [node["id"] for node in listed["nodes"]]


async def test_a_checkout_of_a_recurring_product_starts_a_subscription_readable_everywhere(api, org, session_factory, clock):
    clock.set(T0)
    monthly = await create_product(api, org.token, name="Pro", prices=[{"fixed": {"amount": 1000}}])
    trial = await create_product(api, org.token, name="Trial", trialDays=14, prices=[{"fixed": {"amount": 500}}])
    once = await one_time_product(api, org.token, name="Book")

    ann = await subscribe(api, org.token, monthly, email="ann@example.com", metadata={"plan": "pro"})
    order_id = ann["orders"][0]["id"]
    assert {k: ann[k] for k in ("status", "currency", "amount", "seats", "recurringInterval", "cancelAtPeriodEnd", "metadata")} == {
        "status": "ACTIVE", "currency": "usd", "amount": 1000, "seats": None, "recurringInterval": "MONTH", "cancelAtPeriodEnd": False, "metadata": {"plan": "pro"},
    }
    assert (ann["productId"], ann["productPriceId"], ann["memberId"], ann["discountId"]) == (monthly["id"], monthly["prices"][0]["id"], None, None)
    # the first period starts now and ends on the same day of the next month (February has no 31st)
    assert (ann["startedAt"], ann["currentPeriodStart"], ann["currentPeriodEnd"]) == (T0.isoformat(), T0.isoformat(), "2027-02-28T09:30:00+00:00")
    assert (ann["trialStart"], ann["trialEnd"], ann["canceledAt"], ann["endedAt"], ann["pastDueAt"]) == (None,) * 5
    assert ann["orders"] == [{"id": order_id, "billingReason": "SUBSCRIPTION_CREATE", "status": "PAID", "subtotalAmount": 1000, "subscriptionId": ann["id"]}]
    [entry] = ann["billingEntries"]
    assert {k: v for k, v in entry.items() if k != "id"} == {
        "type": "CYCLE", "direction": "DEBIT", "amount": 1000, "currency": "usd", "startAt": ann["currentPeriodStart"],
        "endAt": ann["currentPeriodEnd"], "orderId": order_id, "productPriceId": monthly["prices"][0]["id"],
    }
    assert ann["customer"] == {"id": ann["customerId"], "email": "ann@example.com"} and ann["product"] == {"id": monthly["id"], "name": "Pro"}
    assert ann["checkoutId"] == (await get_order(api, org.token, order_id))["checkoutId"]

    clock.advance(timedelta(hours=1))
    bob = await subscribe(api, org.token, trial, email="bob@example.com")
    later = (T0 + timedelta(hours=1)).isoformat()
    assert (bob["status"], bob["trialStart"], bob["trialEnd"], bob["currentPeriodEnd"]) == ("TRIALING", later, "2027-02-14T10:30:00+00:00", "2027-02-14T10:30:00+00:00")
    assert bob["billingEntries"] == [] and [o["subtotalAmount"] for o in bob["orders"]] == [0]  # nothing billed before the trial ends
    book = await paid_order(api, org.token, once, email="cat@example.com")
    assert (await api.data(ORDER, {"id": book["orderId"]}, token=org.token))["order"] == {"id": book["orderId"], "subscriptionId": None, "subscription": None}

    # by node, and in a list (newest first; oldest first when asked)
    assert (await api.data(NODE, {"id": ann["id"]}, token=org.token))["node"] == {"__typename": "Subscription", "id": ann["id"], "status": "ACTIVE"}
    assert await ids_listed(api, org.token) == [bob["id"], ann["id"]]
    oldest = await api.data(LIST, {"orderBy": {"direction": "ASC"}, "first": 1}, token=org.token)
    assert [n["id"] for n in oldest["subscriptions"]["nodes"]] == [ann["id"]] and oldest["subscriptions"]["pageInfo"]["hasNextPage"]
    # each filter
    assert await ids_listed(api, org.token, {"status": "ACTIVE"}) == [ann["id"]]
    assert await ids_listed(api, org.token, {"status": "TRIALING"}) == [bob["id"]]
    assert await ids_listed(api, org.token, {"status": "CANCELED"}) == []
    assert await ids_listed(api, org.token, {"productId": monthly["id"]}) == [ann["id"]]
    assert await ids_listed(api, org.token, {"productId": once["id"]}) == []
    assert await ids_listed(api, org.token, {"customerId": bob["customerId"]}) == [bob["id"]]
    assert await ids_listed(api, org.token, {"customerId": book["customerId"]}) == []
    assert await ids_listed(api, org.token, {"renewingBefore": "2027-02-15T00:00:00Z"}) == [bob["id"]]
    assert await ids_listed(api, org.token, {"renewingBefore": "2027-03-01T00:00:00Z"}) == [bob["id"], ann["id"]]
    assert await ids_listed(api, org.token, {"renewingBefore": "2027-03-01T00:00:00Z", "status": "ACTIVE", "productId": monthly["id"]}) == [ann["id"]]
    assert await ids_listed(api, org.token, {"renewingBefore": T0.isoformat()}) == []
    # a filter's id of another type is an error of the query
    body = await api.gql(LIST, {"filter": {"productId": ann["id"]}}, token=org.token)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    # nested on the customer
    customer = (await api.data(CUSTOMER, {"id": ann["customerId"]}, token=org.token))["customer"]
    assert customer["subscriptions"] == [{"id": ann["id"], "status": "ACTIVE", "productId": monthly["id"]}]
    assert (await api.data(CUSTOMER, {"id": book["customerId"]}, token=org.token))["customer"]["subscriptions"] == []

    # the webhooks say what the API shows
    events = await webhook_events(session_factory, prefixes=("subscription.",))
    assert [type for type, _ in events] == ["subscription.created", "subscription.active", "subscription.created"]
    created = events[0][1]["data"]
    assert created == {key: ann[key] for key in created}


async def test_cancel_uncancel_and_revoke_with_their_webhooks(api, org, session_factory, clock):
    clock.set(T0)
    product = await create_product(api, org.token, prices=[{"fixed": {"amount": 1000}}])
    subscription = await subscribe(api, org.token, product, email="ann@example.com")
    before = len(await webhook_events(session_factory, prefixes=("subscription.",)))

    async def new_events() -> list[tuple[str, dict]]:
        nonlocal before
        events = await webhook_events(session_factory, prefixes=("subscription.",))
        fresh, before = events[before:], len(events)
        return fresh

    clock.advance(timedelta(days=3))
    canceled = await change(api, org.token, CANCEL, subscription["id"])
    assert canceled["__typename"] == "CancelSubscriptionSuccess", canceled
    now = (T0 + timedelta(days=3)).isoformat()
    state = canceled["subscription"]
    assert (state["status"], state["cancelAtPeriodEnd"], state["canceledAt"], state["endedAt"]) == ("ACTIVE", True, now, None)
    events = await new_events()
    assert [type for type, _ in events] == ["subscription.canceled", "subscription.updated"]
    assert events[0][1]["data"] == {key: state[key] for key in events[0][1]["data"]}
    again = await change(api, org.token, CANCEL, subscription["id"])
    assert again["__typename"] == "CancelSubscriptionSuccess" and again["subscription"]["canceledAt"] == now  # twice: nothing new
    assert await new_events() == []
    # a canceled subscription does not renew
    assert await ids_listed(api, org.token, {"renewingBefore": "2027-12-31T00:00:00Z"}) == []

    uncanceled = await change(api, org.token, UNCANCEL, subscription["id"])
    assert uncanceled["__typename"] == "UncancelSubscriptionSuccess", uncanceled
    assert (uncanceled["subscription"]["cancelAtPeriodEnd"], uncanceled["subscription"]["canceledAt"]) == (False, None)
    assert [type for type, _ in await new_events()] == ["subscription.uncanceled", "subscription.updated"]
    assert (await change(api, org.token, UNCANCEL, subscription["id"]))["__typename"] == "UncancelSubscriptionSuccess"
    assert await new_events() == []
    assert await ids_listed(api, org.token, {"renewingBefore": "2027-12-31T00:00:00Z"}) == [subscription["id"]]

    clock.advance(timedelta(days=1))
    revoked = await change(api, org.token, REVOKE, subscription["id"])
    assert revoked["__typename"] == "RevokeSubscriptionSuccess", revoked
    now = (T0 + timedelta(days=4)).isoformat()
    state = revoked["subscription"]
    assert (state["status"], state["cancelAtPeriodEnd"], state["canceledAt"], state["endedAt"]) == ("CANCELED", False, now, now)
    events = await new_events()
    assert [type for type, _ in events] == ["subscription.revoked", "subscription.updated"]
    assert events[0][1]["data"]["status"] == "CANCELED" and events[0][1]["data"]["endedAt"] == now

    # an ended subscription changes no more, whatever is asked
    for operation in (CANCEL, UNCANCEL, REVOKE):
        refused = await change(api, org.token, operation, subscription["id"])
        assert (refused["__typename"], refused["code"], refused["status"]) == ("SubscriptionNotChangeableError", "SUBSCRIPTION_NOT_CHANGEABLE", "CANCELED"), refused
        assert refused["message"] == "The subscription is canceled: it has ended"
    assert await new_events() == []
    read = (await api.data(GET, {"id": subscription["id"]}, token=org.token))["subscription"]
    assert (read["status"], read["endedAt"]) == ("CANCELED", now)
    assert await ids_listed(api, org.token, {"status": "CANCELED"}) == [subscription["id"]]


async def test_a_renewal_on_the_test_clock_shows_its_order_and_billing_entry(api, org, session_factory, clock):
    clock.set(T0)
    product = await create_product(api, org.token, prices=[{"fixed": {"amount": 1000}}])
    subscription = await subscribe(api, org.token, product, email="ann@example.com")
    sessions = tenant_factory(session_factory, org.id)

    async with sessions() as session:  # not due yet
        assert await subscriptions.renew_due(session, operator_scope(org.id)) == 0
    clock.set(datetime(2027, 2, 28, 9, 30, 1, tzinfo=timezone.utc))
    async with sessions() as session:  # what the worker's sweep does
        assert await subscriptions.renew_due(session, operator_scope(org.id)) == 1
        await session.commit()
    async with sessions() as session:
        assert await subscriptions.renew_due(session, operator_scope(org.id)) == 0  # once per period

    renewed = (await api.data(GET, {"id": subscription["id"]}, token=org.token))["subscription"]
    assert (renewed["status"], renewed["currentPeriodStart"], renewed["currentPeriodEnd"]) == (
        "ACTIVE", "2027-02-28T09:30:00+00:00", "2027-03-31T09:30:00+00:00"  # back to the 31st: anchored to the first day
    )
    first, second = renewed["orders"]
    assert first["id"] == subscription["orders"][0]["id"]
    assert (second["billingReason"], second["status"], second["subtotalAmount"], second["subscriptionId"]) == ("SUBSCRIPTION_CYCLE", "PENDING", 1000, subscription["id"])
    assert [(e["type"], e["amount"], e["startAt"], e["endAt"], e["orderId"]) for e in renewed["billingEntries"]] == [
        ("CYCLE", 1000, "2027-01-31T09:30:00+00:00", "2027-02-28T09:30:00+00:00", first["id"]),
        ("CYCLE", 1000, "2027-02-28T09:30:00+00:00", "2027-03-31T09:30:00+00:00", second["id"]),
    ]
    # the renewal order's charge (its job's work): paid, once
    async with sessions() as session:
        assert await subscriptions.charge_order(session, operator_scope(org.id), from_global_id(second["id"])[1], stripe=None) == "paid"
        await session.commit()
    paid = (await api.data(GET, {"id": subscription["id"]}, token=org.token))["subscription"]
    assert [o["status"] for o in paid["orders"]] == ["PAID", "PAID"]
    events = [type for type, _ in await webhook_events(session_factory, prefixes=("subscription.",))]
    assert events == ["subscription.created", "subscription.active", "subscription.cycled", "subscription.updated"]


async def test_the_workers_renew_and_charge_a_subscription_once(live, clock):
    """The same through the workers: the sweep (`subscriptions.renew`), its batches and the charge."""
    org = await make_org(live.session_factory, name="Live")
    clock.set(T0)
    product = await create_product(live.api, org.token, prices=[{"fixed": {"amount": 1000}}])
    subscription = await subscribe(live.api, org.token, product, email="ann@example.com")
    clock.set(datetime(2027, 2, 28, 9, 31, tzinfo=timezone.utc))
    for _ in range(2):  # the sweep run twice renews once
        await live.redis.enqueue_job("subscriptions.renew")
        await live.run_worker()
    renewed = (await live.api.data(GET, {"id": subscription["id"]}, token=org.token))["subscription"]
    assert [(o["billingReason"], o["status"]) for o in renewed["orders"]] == [("SUBSCRIPTION_CREATE", "PAID"), ("SUBSCRIPTION_CYCLE", "PAID")]
    assert [e["orderId"] for e in renewed["billingEntries"]] == [o["id"] for o in renewed["orders"]]
    assert renewed["currentPeriodEnd"] == "2027-03-31T09:30:00+00:00"


async def test_another_organizations_subscriptions_are_not_found(api, org, session_factory, clock):
    clock.set(T0)
    other = await make_org(session_factory, name="Other")
    mine = await subscribe(api, org.token, await create_product(api, org.token), email="mine@example.com")
    theirs = await subscribe(api, other.token, await create_product(api, other.token), email="theirs@example.com")

    assert (await api.data(GET, {"id": theirs["id"]}, token=org.token))["subscription"] is None
    assert (await api.data(NODE, {"id": theirs["id"]}, token=org.token))["node"] is None
    assert await ids_listed(api, org.token) == [mine["id"]]
    for filter in ({"customerId": theirs["customerId"]}, {"productId": theirs["productId"]}):
        assert await ids_listed(api, org.token, filter) == []
    assert (await api.data(CUSTOMER, {"id": theirs["customerId"]}, token=org.token))["customer"] is None
    assert (await api.data(ORDER, {"id": theirs["orders"][0]["id"]}, token=org.token))["order"] is None

    events = len(await webhook_events(session_factory, prefixes=("subscription.",)))
    for operation in (CANCEL, UNCANCEL, REVOKE):
        result = await change(api, org.token, operation, theirs["id"])
        assert (result["__typename"], result["code"]) == ("NotFoundError", "NOT_FOUND"), result
    assert len(await webhook_events(session_factory, prefixes=("subscription.",))) == events
    assert (await api.data(GET, {"id": theirs["id"]}, token=other.token))["subscription"] == theirs


async def test_bad_input_of_the_mutations_is_a_typed_error(api, org, session_factory, clock):
    clock.set(T0)
    subscription = await subscribe(api, org.token, await create_product(api, org.token), email="ann@example.com")
    unknown = to_global_id("Subscription", uuid.uuid4())
    for operation in (CANCEL, UNCANCEL, REVOKE):
        for id in (subscription["customerId"], unknown, "not an id", ""):
            result = await change(api, org.token, operation, id)
            assert (result["__typename"], result["code"]) == ("NotFoundError", "NOT_FOUND"), (id, result)
        body = await api.gql(operation, {"input": {}}, token=org.token)  # no id at all: refused before it runs
        assert body["errors"] and body.get("data") is None, body
    assert (await api.data(GET, {"id": subscription["id"]}, token=org.token))["subscription"] == subscription
    # a token that may read subscriptions but not change them
    async with session_factory() as session, as_owner(session):
        _row, reader = await issue_token(session, org.id, scopes=[subscriptions_scopes.READ.value])
        await session.commit()
    body = await api.gql(CANCEL, {"input": {"id": subscription["id"]}}, token=reader)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert (await api.data(GET, {"id": subscription["id"]}, token=org.token))["subscription"]["cancelAtPeriodEnd"] is False


async def test_a_page_of_customers_with_their_subscriptions_costs_the_same_statements(api, org):
    product = await create_product(api, org.token, prices=[{"fixed": {"amount": 1000}}])
    query = """query($first: Int!) { customers(first: $first) { nodes { email subscriptions {
        id orders { id subscription { id } } billingEntries { amount } customer { id } product { name } } } } }"""
    counts = {}
    for round, emails in enumerate((["a@example.com", "b@example.com"], [f"c{i}@example.com" for i in range(8)])):
        for email in emails:
            await subscribe(api, org.token, product, email=email)
        data = await api.data(query, {"first": 20}, token=org.token)
        nodes = data["customers"]["nodes"]
        assert len(nodes) == (2 if round == 0 else 10) and all(len(n["subscriptions"]) == 1 for n in nodes)
        assert all(s["orders"][0]["subscription"]["id"] == s["id"] for n in nodes for s in n["subscriptions"])
        counts[len(nodes)] = api.last_statement_count
    assert counts[2] == counts[10], counts


SET_METHOD = f"""
mutation($input: UpdateSubscriptionPaymentMethodInput!) {{
  updateSubscriptionPaymentMethod(input: $input) {{ {CHANGED} ... on UpdateSubscriptionPaymentMethodSuccess {{ subscription {{ id }} }} }}
}}
"""


async def test_update_subscription_payment_method_refuses_what_it_cannot_do(api, org, session_factory, clock):
    """Through GraphQL: a manual subscription has no card (a ValidationError on `paymentMethod`), an
    empty method is invalid, another organization's subscription is not found; nothing changes.
    (A card given to a Stripe subscription, paid at once: tests/subscriptions/test_workers.py.)"""
    clock.set(T0)
    other = await make_org(session_factory, name="Other")
    mine = await subscribe(api, org.token, await create_product(api, org.token), email="mine@example.com")
    theirs = await subscribe(api, other.token, await create_product(api, other.token), email="theirs@example.com")
    events = len(await webhook_events(session_factory, prefixes=("subscription.",)))

    async def answer(id: str, method: str) -> dict:
        return (await api.data(SET_METHOD, {"input": {"id": id, "paymentMethod": method}}, token=org.token))["updateSubscriptionPaymentMethod"]

    manual = await answer(mine["id"], "pm_card_visa")
    assert (manual["__typename"], [(f["path"], f["code"]) for f in manual["fields"]]) == ("ValidationError", [(["paymentMethod"], "manual_processor")])
    empty = await answer(mine["id"], "")
    assert (empty["__typename"], [f["path"] for f in empty["fields"]]) == ("ValidationError", [["paymentMethod"]])
    for id in (theirs["id"], to_global_id("Subscription", uuid.uuid4()), "not an id"):
        result = await answer(id, "pm_card_visa")
        assert (result["__typename"], result["code"]) == ("NotFoundError", "NOT_FOUND"), (id, result)
    assert len(await webhook_events(session_factory, prefixes=("subscription.",))) == events
    assert (await api.data(GET, {"id": mine["id"]}, token=org.token))["subscription"] == mine


DELETE_CUSTOMER = "mutation($input: DeleteCustomerInput!) { deleteCustomer(input: $input) { __typename } }"


async def test_deleting_a_customer_ends_its_subscriptions(api, org, session_factory, clock):
    """Nobody is billed for a customer that is gone: `deleteCustomer` revokes its subscriptions
    in the deletion's transaction (`subscription.revoked`), and the renewal sweep finds nothing due."""
    clock.set(T0)
    subscription = await subscribe(api, org.token, await create_product(api, org.token), email="gone@example.com")
    done = await api.data(DELETE_CUSTOMER, {"input": {"id": subscription["customerId"]}}, token=org.token)
    assert done["deleteCustomer"]["__typename"] == "DeleteCustomerSuccess"
    ended = (await api.data(GET, {"id": subscription["id"]}, token=org.token))["subscription"]
    assert (ended["status"], ended["endedAt"] is not None) == ("CANCELED", True)
    assert "subscription.revoked" in [type for type, _ in await webhook_events(session_factory, prefixes=("subscription.",))]
    clock.set(datetime.fromisoformat(subscription["currentPeriodEnd"]) + timedelta(days=1))
    async with tenant_factory(session_factory, org.id)() as session:
        assert await subscriptions.renew_due(session, operator_scope(org.id)) == 0
