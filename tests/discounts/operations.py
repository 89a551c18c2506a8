"""GraphQL operations and factories of the discount tests, written as a merchant would write them."""

from __future__ import annotations

from typing import Any

from tests.operations import ERROR_FIELDS, NOT_FOUND, VALIDATION

DISCOUNT_FIELDS = """
  id name type amount { amount currency } basisPoints duration durationInMonths code maxRedemptions
  redemptionsCount startsAt endsAt isArchived archivedAt productIds products { id name }
"""

CREATE_DISCOUNT = f"""
mutation CreateDiscount($input: CreateDiscountInput!) {{
  createDiscount(input: $input) {{
    {ERROR_FIELDS} {VALIDATION}
    ... on CreateDiscountSuccess {{ discount {{ {DISCOUNT_FIELDS} }} }}
  }}
}}
"""

UPDATE_DISCOUNT = f"""
mutation UpdateDiscount($input: UpdateDiscountInput!) {{
  updateDiscount(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {NOT_FOUND}
    ... on UpdateDiscountSuccess {{ discount {{ {DISCOUNT_FIELDS} }} }}
  }}
}}
"""

ARCHIVE_DISCOUNT = f"""
mutation ArchiveDiscount($input: ArchiveDiscountInput!) {{
  archiveDiscount(input: $input) {{
    {ERROR_FIELDS} {NOT_FOUND}
    ... on ArchiveDiscountSuccess {{ discount {{ {DISCOUNT_FIELDS} }} }}
  }}
}}
"""

LIST_DISCOUNTS = f"""
query Discounts($first: Int, $after: String, $filter: DiscountFilter, $orderBy: DiscountOrder) {{
  discounts(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {{
    totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ {DISCOUNT_FIELDS} }}
  }}
}}
"""

GET_DISCOUNT = f"""
query Discount($id: ID!) {{ discount(id: $id) {{ {DISCOUNT_FIELDS} }} }}
"""

NODE = """
query Node($id: ID!) { node(id: $id) { __typename id ... on Discount { name } } }
"""

TAX_RATE_FIELDS = "country state basisPoints"

SET_TAX_RATE = f"""
mutation SetTaxRate($input: SetTaxRateInput!) {{
  setTaxRate(input: $input) {{
    {ERROR_FIELDS} {VALIDATION}
    ... on SetTaxRateSuccess {{ taxRate {{ {TAX_RATE_FIELDS} }} }}
  }}
}}
"""

REMOVE_TAX_RATE = f"""
mutation RemoveTaxRate($input: RemoveTaxRateInput!) {{
  removeTaxRate(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {NOT_FOUND}
    ... on RemoveTaxRateSuccess {{ taxRate {{ {TAX_RATE_FIELDS} }} }}
  }}
}}
"""

TAX_RATES = f"query TaxRates {{ taxRates {{ {TAX_RATE_FIELDS} }} }}"


async def create_discount(api, token: str, **input: Any) -> dict:
    """Create a discount (10 % off, once, by default) and return it; fails the test on an error."""
    values: dict[str, Any] = {"name": "Launch", "percentage": {"basisPoints": 1000}, "duration": "ONCE"}
    values.update(input)
    result = (await api.data(CREATE_DISCOUNT, {"input": values}, token=token))["createDiscount"]
    assert result["__typename"] == "CreateDiscountSuccess", result
    return result["discount"]


async def set_tax_rate(api, token: str, **input: Any) -> dict:
    result = (await api.data(SET_TAX_RATE, {"input": input}, token=token))["setTaxRate"]
    assert result["__typename"] == "SetTaxRateSuccess", result
    return result["taxRate"]
