"""Operations and set-up the hold tests share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import insert, select

from app.catalog import service as catalog
from app.catalog.service import PriceDraft, ProductDraft
from app.kit import clock
from app.kit.ids import to_global_id
from app.kit.tenancy import tenant_session
from app.meters import service as meters
from app.models import ProductPrice
from app.models.subscription import Subscription
from tests.operations import ERROR_FIELDS, VALIDATION, create_business
from tests.orders.factories import merchant

MONEY = "amount currency"
HOLD_FIELDS = f"id status amount {{ {MONEY} }} captured {{ {MONEY} }} expiresAt resolvedAt description memberId wallet {{ id }}"
WALLET_FIELDS = f"id balance {{ {MONEY} }} held {{ {MONEY} }} available {{ {MONEY} }}"
INSUFFICIENT = "... on InsufficientFundsError { requested available currency reason }"
NOT_ACTIVE = "... on HoldNotActiveError { status }"

HOLD = f"""
mutation Hold($input: HoldWalletFundsInput!) {{
  holdWalletFunds(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {INSUFFICIENT}
    ... on WalletHoldSuccess {{ hold {{ {HOLD_FIELDS} }} wallet {{ {WALLET_FIELDS} }} }}
  }}
}}
"""
CAPTURE = f"""
mutation Capture($input: CaptureWalletHoldInput!) {{
  captureWalletHold(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {NOT_ACTIVE} {INSUFFICIENT}
    ... on WalletHoldSuccess {{ hold {{ {HOLD_FIELDS} }} wallet {{ {WALLET_FIELDS} }} }}
  }}
}}
"""
RELEASE = f"""
mutation Release($input: ReleaseWalletHoldInput!) {{
  releaseWalletHold(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {NOT_ACTIVE}
    ... on WalletHoldSuccess {{ hold {{ {HOLD_FIELDS} }} wallet {{ {WALLET_FIELDS} }} }}
  }}
}}
"""
ADJUST = f"""
mutation Adjust($input: AdjustWalletBalanceInput!) {{
  adjustWalletBalance(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {INSUFFICIENT}
    ... on WalletTransactionSuccess {{ wallet {{ {WALLET_FIELDS} }} }}
  }}
}}
"""
SET_BUDGET = f"""
mutation Budget($input: SetMemberBudgetInput!) {{
  setMemberBudget(input: $input) {{ {ERROR_FIELDS} {VALIDATION} ... on SetMemberBudgetSuccess {{ budget {{ spent {{ {MONEY} }} }} }} }}
}}
"""
CHECK = f"""
query Check($customerId: ID!, $meterId: ID!, $units: Decimal!, $memberId: ID) {{
  walletCheck(customerId: $customerId, meterId: $meterId, units: $units, memberId: $memberId) {{
    estimatedCost {{ {MONEY} }} available {{ {MONEY} }} memberBudgetRemaining {{ {MONEY} }} covers reason
  }}
}}
"""
WALLET_HOLDS = f"""
query Holds($id: ID!, $status: WalletHoldStatus) {{
  walletHolds(walletId: $id, status: $status, first: 10) {{ nodes {{ {HOLD_FIELDS} }} }}
}}
"""
CALLS = {"conjunction": "and", "clauses": [{"property": "name", "operator": "eq", "value": "api_call"}]}


async def hold(api, token, customer_id, amount, *, expires_in=600, key=None, member_id=None, currency="usd", **more) -> dict:
    values = {"customerId": customer_id, "currency": currency, "amount": amount, "expiresIn": expires_in, "idempotencyKey": key, **more}
    if member_id is not None:
        values["memberId"] = member_id
    return (await api.data(HOLD, {"input": values}, token=token))["holdWalletFunds"]


async def capture(api, token, hold_id, amount=None, *, key=None) -> dict:
    values = {"holdId": hold_id, "amount": amount, "idempotencyKey": key}
    return (await api.data(CAPTURE, {"input": values}, token=token))["captureWalletHold"]


async def release(api, token, hold_id, *, key=None) -> dict:
    return (await api.data(RELEASE, {"input": {"holdId": hold_id, "idempotencyKey": key}}, token=token))["releaseWalletHold"]


async def adjust(api, token, customer_id, amount, *, key=None, currency="usd") -> dict:
    values = {"customerId": customer_id, "currency": currency, "amount": amount, "reason": "test", "idempotencyKey": key}
    result = (await api.data(ADJUST, {"input": values}, token=token))["adjustWalletBalance"]
    return result


async def set_budget(api, token, member_id, amount, currency="usd") -> dict:
    result = (await api.data(SET_BUDGET, {"input": {"memberId": member_id, "currency": currency, "amount": amount}}, token=token))["setMemberBudget"]
    assert result["__typename"] == "SetMemberBudgetSuccess", result
    return result


@dataclass
class Priced:
    meter_id: str
    meter_uuid: uuid.UUID
    price_id: uuid.UUID
    subscription_id: uuid.UUID


async def wallet_priced_subscription(session_factory, org_id, customer_gid: str, *, unit_amount: str = "0.5", tiers=None, wallet: bool = True) -> Priced:
    """A meter, a product with a wallet-enabled metered price for it, and an active subscription
    of the customer to it (inserted as the renewal tests do: a checkout would make it a test of
    checkouts)."""
    subject = merchant(org_id)
    from app.kit.ids import from_global_id

    customer_id = from_global_id(customer_gid)[1]
    async with tenant_session(session_factory, subject.scope) as session:
        meter = await meters.create_meter(session, subject, name=f"calls {uuid.uuid4().hex[:6]}", filter=CALLS, aggregation={"func": "count", "property": None})
        draft = PriceDraft(type="metered_unit", meter_id=meter.id, unit_amount=Decimal(unit_amount) if tiers is None else None, wallet_enabled=wallet)
        if tiers is not None:
            draft.tier_mode, draft.tiers = tiers
        product = await catalog.create_product(session, subject, ProductDraft(name="Pro", recurring_interval="month", prices=[PriceDraft(type="fixed", amount=1000), draft]))
        fixed = await session.scalar(select(ProductPrice).where(ProductPrice.product_id == product.id, ProductPrice.type == "fixed"))
        metered = await session.scalar(select(ProductPrice).where(ProductPrice.product_id == product.id, ProductPrice.type == "metered_unit"))
        now = clock.now()
        start = datetime(now.year, now.month, 1, tzinfo=timezone.utc)
        subscription_id = uuid.uuid4()
        await session.execute(
            insert(Subscription).values(
                id=subscription_id, organization_id=org_id, customer_id=customer_id, product_id=product.id, product_price_id=fixed.id,
                processor="manual", status="active", currency="usd", amount=1000, recurring_interval="month", anchor_at=start, period_number=0,
                current_period_start=start, current_period_end=start.replace(year=start.year + 1), started_at=start, user_metadata={},
                created_at=now, modified_at=now,
            )
        )
        await session.commit()
    return Priced(to_global_id("Meter", meter.id), meter.id, metered.id, subscription_id)


async def business_with_members(api, token, prefix="acme") -> tuple[str, list[str]]:
    customer = await create_business(api, token, members=2, prefix=prefix)
    return customer["id"], [m["id"] for m in customer["members"] if m["role"] == "MEMBER"]
