"""GraphQL operations and factories of the checkout and order tests, written as a merchant would write them."""

from __future__ import annotations

from typing import Any

from tests.operations import ERROR_FIELDS, NOT_FOUND, VALIDATION

CHECKOUT_FIELDS = """
  id status clientSecret paymentProcessor expiresAt productId productPriceId productName currency seats amount
  subtotalAmount discountAmount netAmount taxAmount totalAmount dueNow taxBasisPoints discountId trialDays
  customerId customerType customerEmail customerName customerBillingName
  customerBillingAddress { line1 city state postalCode country } customerTaxId orderId paymentAttempts
  failureCode failureMessage metadata
"""
CHECKOUT_ERRORS = f"""{ERROR_FIELDS} {VALIDATION} {NOT_FOUND}
  ... on CheckoutNotOpenError {{ status }}
"""

CREATE_CHECKOUT = f"""
mutation CreateCheckout($input: CreateCheckoutInput!) {{
  createCheckout(input: $input) {{
    {ERROR_FIELDS} {VALIDATION}
    ... on CreateCheckoutSuccess {{ checkout {{ {CHECKOUT_FIELDS} }} }}
  }}
}}
"""

UPDATE_CHECKOUT = f"""
mutation UpdateCheckout($input: UpdateCheckoutInput!) {{
  updateCheckout(input: $input) {{
    {CHECKOUT_ERRORS}
    ... on UpdateCheckoutSuccess {{ checkout {{ {CHECKOUT_FIELDS} }} }}
  }}
}}
"""

CONFIRM_CHECKOUT = f"""
mutation ConfirmCheckout($input: ConfirmCheckoutInput!) {{
  confirmCheckout(input: $input) {{
    {CHECKOUT_ERRORS}
    ... on ConfirmCheckoutSuccess {{ checkout {{ {CHECKOUT_FIELDS} }} }}
  }}
}}
"""

CHECKOUT_SESSION = f"query CheckoutSession {{ checkoutSession {{ {CHECKOUT_FIELDS} }} }}"

UPDATE_CHECKOUT_SESSION = f"""
mutation UpdateCheckoutSession($input: UpdateCheckoutSessionInput!) {{
  updateCheckoutSession(input: $input) {{
    {CHECKOUT_ERRORS}
    ... on UpdateCheckoutSuccess {{ checkout {{ {CHECKOUT_FIELDS} }} }}
  }}
}}
"""

CONFIRM_CHECKOUT_SESSION = f"""
mutation ConfirmCheckoutSession($input: ConfirmCheckoutSessionInput!) {{
  confirmCheckoutSession(input: $input) {{
    {CHECKOUT_ERRORS}
    ... on ConfirmCheckoutSuccess {{ checkout {{ {CHECKOUT_FIELDS} }} }}
  }}
}}
"""

ORDER_FIELDS = """
  id invoiceNumber status billingReason customerId productId checkoutId discountId currency
  subtotalAmount discountAmount netAmount taxAmount totalAmount appliedBalanceAmount dueAmount
  refundedAmount refundedTaxAmount refundableAmount balanceAmount taxBasisPoints taxCountry
  billingName processor paymentId paidAt metadata
  items { label quantity unitAmount amount priceId }
  refunds { id amount taxAmount status reason processorRefundId }
  transactions { type amount taxAmount processor processorId }
"""

GET_ORDER = f"query Order($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"

CREATE_REFUND = f"""
mutation CreateRefund($input: CreateRefundInput!) {{
  createRefund(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {NOT_FOUND}
    ... on RefundExceedsRefundableError {{ requested refundable currency }}
    ... on CreateRefundSuccess {{ refund {{ id amount taxAmount status reason }} order {{ {ORDER_FIELDS} }} }}
  }}
}}
"""


async def create_checkout(api, token: str, **input: Any) -> dict:
    """Create a checkout and return it; the test fails if the API returns an error."""
    result = (await api.data(CREATE_CHECKOUT, {"input": input}, token=token))["createCheckout"]
    assert result["__typename"] == "CreateCheckoutSuccess", result
    return result["checkout"]


async def paid_order(api, token: str, product: dict, *, email: str = "buyer@example.com") -> dict:
    """A paid order of `product`'s first price: a manual checkout for a new customer, confirmed
    by the merchant (an offline payment). Returns the checkout."""
    checkout = await create_checkout(api, token, productPriceId=product["prices"][0]["id"], paymentProcessor="MANUAL", customer={"email": email})
    result = (await api.data(CONFIRM_CHECKOUT, {"input": {"id": checkout["id"]}}, token=token))["confirmCheckout"]
    assert result["__typename"] == "ConfirmCheckoutSuccess" and result["checkout"]["status"] == "SUCCEEDED", result
    return result["checkout"]
