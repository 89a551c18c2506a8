"""GraphQL operations and factories of the catalog tests, written as a merchant would write them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from app.kit import clock
from app.kit.ids import to_global_id
from app.models import Meter
from tests.operations import ERROR_FIELDS, NOT_FOUND, VALIDATION
from tests.conftest import as_owner

MONEY = "{ amount currency }"
PRICE_FIELDS = f"""
  __typename id type currency isArchived archivedAt productId
  ... on FixedPrice {{ amount {MONEY} }}
  ... on CustomPrice {{ minimumAmount {MONEY} maximumAmount {MONEY} presetAmount {MONEY} }}
  ... on MeteredUnitPrice {{ meterId meter {{ id name archivedAt }} unitAmount capAmount {MONEY} walletEnabled }}
  ... on SeatUnitPrice {{ tiers {{ minSeats maxSeats pricePerSeat {MONEY} }} }}
"""
PRODUCT_FIELDS = f"""
  id name description recurringInterval isRecurring trialDays metadata isArchived archivedAt createdAt
  prices {{ {PRICE_FIELDS} }}
  allPrices: prices(includeArchived: true) {{ id isArchived }}
"""
PRODUCT_ARCHIVED = "... on ProductArchivedError { productId }"
LAST_ACTIVE_PRICE = "... on LastActivePriceError { priceId }"

CREATE_PRODUCT = f"""
mutation CreateProduct($input: CreateProductInput!) {{
  createProduct(input: $input) {{
    {ERROR_FIELDS} {VALIDATION}
    ... on CreateProductSuccess {{ product {{ {PRODUCT_FIELDS} }} }}
  }}
}}
"""

UPDATE_PRODUCT = f"""
mutation UpdateProduct($input: UpdateProductInput!) {{
  updateProduct(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {NOT_FOUND}
    ... on UpdateProductSuccess {{ product {{ {PRODUCT_FIELDS} }} }}
  }}
}}
"""

ARCHIVE_PRODUCT = f"""
mutation ArchiveProduct($input: ArchiveProductInput!) {{
  archiveProduct(input: $input) {{
    {ERROR_FIELDS} {NOT_FOUND}
    ... on ArchiveProductSuccess {{ product {{ {PRODUCT_FIELDS} }} }}
  }}
}}
"""

UNARCHIVE_PRODUCT = f"""
mutation UnarchiveProduct($input: UnarchiveProductInput!) {{
  unarchiveProduct(input: $input) {{
    {ERROR_FIELDS} {NOT_FOUND}
    ... on UnarchiveProductSuccess {{ product {{ {PRODUCT_FIELDS} }} }}
  }}
}}
"""

CREATE_PRICE = f"""
mutation CreatePrice($input: CreateProductPriceInput!) {{
  createProductPrice(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {NOT_FOUND} {PRODUCT_ARCHIVED}
    ... on CreateProductPriceSuccess {{ price {{ {PRICE_FIELDS} }} product {{ {PRODUCT_FIELDS} }} }}
  }}
}}
"""

ARCHIVE_PRICE = f"""
mutation ArchivePrice($input: ArchiveProductPriceInput!) {{
  archiveProductPrice(input: $input) {{
    {ERROR_FIELDS} {NOT_FOUND} {PRODUCT_ARCHIVED} {LAST_ACTIVE_PRICE}
    ... on ArchiveProductPriceSuccess {{ price {{ {PRICE_FIELDS} }} product {{ {PRODUCT_FIELDS} }} }}
  }}
}}
"""

GET_PRODUCT = f"""
query GetProduct($id: ID!) {{
  product(id: $id) {{ {PRODUCT_FIELDS} }}
}}
"""

LIST_PRODUCTS = """
query ListProducts($first: Int!, $after: String, $filter: ProductFilter, $orderBy: ProductOrder) {
  products(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id name recurringInterval isArchived } }
  }
}
"""

NODE = f"""
query Node($id: ID!) {{
  node(id: $id) {{
    __typename id
    ... on Product {{ name }}
    ... on ProductPrice {{ type product {{ id name }} }}
  }}
}}
"""

FIXED = {"fixed": {"amount": 1999}}

API_CALL_FILTER = {"conjunction": "and", "clauses": [{"property": "name", "operator": "eq", "value": "api_call"}]}


async def make_meter(session_factory, organization_id, *, name: str = "API calls", archived: bool = False) -> str:
    """A meter inserted directly (the meters API is built elsewhere); returns its global id."""
    async with session_factory() as session, as_owner(session):
        meter = Meter(
            organization_id=organization_id,
            name=name,
            filter=API_CALL_FILTER,
            aggregation={"func": "count", "property": None},
            archived_at=clock.now() if archived else None,
        )
        session.add(meter)
        await session.commit()
    return to_global_id("Meter", meter.id)


async def create_product(api, token: str, **input: Any) -> dict:
    """Create a product and return it; the test fails if the API returns an error."""
    values: dict[str, Any] = {"name": "Pro", "recurringInterval": "MONTH", "prices": [FIXED]}
    values.update(input)
    result = (await api.data(CREATE_PRODUCT, {"input": values}, token=token))["createProduct"]
    assert result["__typename"] == "CreateProductSuccess", result
    return result["product"]


async def catalog_counts(session_factory) -> dict[str, int]:
    async with session_factory() as session, as_owner(session):
        return {
            table: int(await session.scalar(text(f"SELECT count(*) FROM {table}")))
            for table in ("products", "product_prices")
        } | {
            "active_prices": int(await session.scalar(text("SELECT count(*) FROM product_prices WHERE archived_at IS NULL"))),
            "archived_products": int(await session.scalar(text("SELECT count(*) FROM products WHERE archived_at IS NOT NULL"))),
        }
