"""GraphQL operations and a factory of the subscription change tests (pause, resume, product and
seat changes)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from app.catalog.service import PriceDraft, SeatTierDraft
from app.kit.ids import to_global_id
from app.models import Customer
from app.models.subscription import Subscription
from tests.conftest import tenant_factory
from tests.operations import ERROR_FIELDS, NOT_FOUND, VALIDATION
from tests.orders.factories import make_product, merchant

BASE_ERRORS = f"""{ERROR_FIELDS} {VALIDATION} {NOT_FOUND} ... on SubscriptionNotChangeableError {{ status }}"""
ERRORS = f"""{BASE_ERRORS} ... on SubscriptionChangeNotAllowedError {{ reason }} ... on SeatsBelowHeldError {{ requestedSeats seatsHeld }}"""
MONEY = "{ amount currency }"
CHANGE = f"""
  at prorationBehavior productId productPriceId seats
  lines {{ type direction amount {MONEY} startAt endAt label }}
  subtotal {MONEY} discount {MONEY} tax {MONEY} total {MONEY} dueNow {MONEY} addedToNextOrder {MONEY} newPeriodAmount {MONEY}
"""
STATE = "id status amount seats productId productPriceId currentPeriodStart currentPeriodEnd pauseAtPeriodEnd pausedAt cancelAtPeriodEnd endedAt"
ORDER = "id billingReason status subtotalAmount discountAmount taxAmount totalAmount dueAmount items { label unitAmount amount proration }"
PREVIEW = f"""
query Preview($input: PreviewSubscriptionUpdateInput!) {{
  previewSubscriptionUpdate(input: $input) {{ {ERRORS} ... on SubscriptionUpdatePreview {{ {CHANGE} }} }}
}}
"""
UPDATE = f"""
mutation Update($input: UpdateSubscriptionInput!) {{
  updateSubscription(input: $input) {{
    {ERRORS}
    ... on UpdateSubscriptionSuccess {{ subscription {{ {STATE} orders {{ {ORDER} }} }} orderId change {{ {CHANGE} }} }}
  }}
}}
"""
PAUSE = f"""
mutation Pause($input: PauseSubscriptionInput!) {{
  pauseSubscription(input: $input) {{ {BASE_ERRORS} ... on PauseSubscriptionSuccess {{ subscription {{ {STATE} }} }} }}
}}
"""
RESUME = f"""
mutation Resume($input: ResumeSubscriptionInput!) {{
  resumeSubscription(input: $input) {{ {BASE_ERRORS} ... on ResumeSubscriptionSuccess {{ subscription {{ {STATE} orders {{ {ORDER} }} }} orderId }} }}
}}
"""
GET = f"""query Get($id: ID!) {{ subscription(id: $id) {{ {STATE}
  orders {{ {ORDER} }} billingEntries {{ type direction amount startAt endAt orderId productPriceId }} }} }}"""


async def answer(api, token: str, operation: str, input: dict) -> dict:
    """The operation's answer; for a success with an `orderId`, that order as `order` (or None)."""
    data = await api.data(operation, {"input": input}, token=token)
    result = next(iter(data.values()))
    if "orderId" in result:
        result["order"] = next((o for o in result["subscription"].pop("orders") if o["id"] == result["orderId"]), None)
        assert (result["order"] is None) == (result["orderId"] is None)
    return result


@dataclass
class Plan:
    product_id: str
    price_id: str


async def plan(session_factory, org_id: uuid.UUID, *, name: str, amount: int | None = None, per_seat: int | None = None, currency: str = "usd", interval: str = "month") -> Plan:
    """A recurring product with one fixed (`amount`) or per-seat (`per_seat`, one tier) price."""
    draft = PriceDraft(type="fixed", amount=amount, currency=currency) if amount is not None else PriceDraft(
        type="seat_unit", currency=currency, seat_tiers=[SeatTierDraft(1, None, per_seat)]  # type: ignore[arg-type]
    )
    async with tenant_factory(session_factory, org_id)() as session:
        product, price = await make_product(session, merchant(org_id), draft, name=name, recurring_interval=interval)
        await session.commit()
    return Plan(to_global_id("Product", product.id), to_global_id("ProductPrice", price.id))


async def subscribed(
    session_factory, org_id: uuid.UUID, to: Plan, *, start: datetime, end: datetime, amount: int, seats: int | None = None,
    currency: str = "usd", interval: str = "month", processor: str = "manual", billing_address: dict | None = None,
) -> str:
    """An active subscription of a new customer to `to`, in its first period [start, end) (inserted:
    a checkout each would make these tests about checkouts). Its global id."""
    from app.kit.ids import from_global_id

    async with tenant_factory(session_factory, org_id)() as session:
        customer = Customer(id=uuid.uuid4(), organization_id=org_id, type="individual", email=f"{uuid.uuid4().hex[:8]}@example.com", billing_address=billing_address, user_metadata={})
        session.add(customer)
        await session.flush()
        subscription = Subscription(
            id=uuid.uuid4(), organization_id=org_id, customer_id=customer.id, product_id=from_global_id(to.product_id)[1],
            product_price_id=from_global_id(to.price_id)[1], processor=processor, status="active", currency=currency, amount=amount, seats=seats,
            recurring_interval=interval, anchor_at=start, period_number=0, current_period_start=start, current_period_end=end, started_at=start,
            user_metadata={},
        )
        session.add(subscription)
        await session.commit()
    return to_global_id("Subscription", subscription.id)
