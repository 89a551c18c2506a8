"""GraphQL operations and factories the tests share, written as a merchant would write them."""

from __future__ import annotations

from typing import Any

CUSTOMER_FIELDS = """
  __typename id type email name externalId billingName taxId metadata createdAt
  billingAddress { line1 line2 postalCode city state country }
  owner { id email role }
  members { id email name externalId role customer { id } }
"""

ERROR_FIELDS = "__typename ... on Error { message code }"
VALIDATION = "... on ValidationError { fields { path message code } }"
NOT_FOUND = "... on NotFoundError { id }"
DUPLICATES = """
  ... on DuplicateMemberEmailError { email path }
  ... on DuplicateMemberExternalIdError { externalId path }
"""
DUPLICATE_EXTERNAL_ID = "... on DuplicateExternalIdError { externalId }"
ROLE = "... on MemberRoleError { rule }"

CREATE_CUSTOMER = f"""
mutation CreateCustomer($input: CreateCustomerInput!) {{
  createCustomer(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {DUPLICATES} {DUPLICATE_EXTERNAL_ID}
    ... on CreateCustomerSuccess {{ customer {{ {CUSTOMER_FIELDS} }} }}
  }}
}}
"""

UPDATE_CUSTOMER = f"""
mutation UpdateCustomer($input: UpdateCustomerInput!) {{
  updateCustomer(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {NOT_FOUND} {DUPLICATES} {DUPLICATE_EXTERNAL_ID}
    ... on UpdateCustomerSuccess {{ customer {{ {CUSTOMER_FIELDS} }} }}
  }}
}}
"""

DELETE_CUSTOMER = f"""
mutation DeleteCustomer($input: DeleteCustomerInput!) {{
  deleteCustomer(input: $input) {{
    {ERROR_FIELDS} {NOT_FOUND}
    ... on DeleteCustomerSuccess {{ deletedCustomerId }}
  }}
}}
"""

UPGRADE = f"""
mutation Upgrade($input: UpgradeCustomerToBusinessInput!) {{
  upgradeCustomerToBusiness(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {NOT_FOUND}
    ... on UpgradeCustomerToBusinessSuccess {{ customer {{ {CUSTOMER_FIELDS} }} }}
  }}
}}
"""

MEMBER_FIELDS = "id email name externalId role customer { id type }"

ADD_MEMBER = f"""
mutation AddMember($input: AddMemberInput!) {{
  addMember(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {NOT_FOUND} {DUPLICATES}
    ... on AddMemberSuccess {{ member {{ {MEMBER_FIELDS} }} }}
  }}
}}
"""

UPDATE_MEMBER = f"""
mutation UpdateMember($input: UpdateMemberInput!) {{
  updateMember(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {NOT_FOUND} {DUPLICATES} {ROLE}
    ... on UpdateMemberSuccess {{ member {{ {MEMBER_FIELDS} }} }}
  }}
}}
"""

REMOVE_MEMBER = f"""
mutation RemoveMember($input: RemoveMemberInput!) {{
  removeMember(input: $input) {{
    {ERROR_FIELDS} {NOT_FOUND} {ROLE}
    ... on RemoveMemberSuccess {{ removedMemberId }}
  }}
}}
"""

TRANSFER = f"""
mutation Transfer($input: TransferOwnershipInput!) {{
  transferOwnership(input: $input) {{
    {ERROR_FIELDS} {NOT_FOUND} {ROLE}
    ... on TransferOwnershipSuccess {{ owner {{ {MEMBER_FIELDS} }} previousOwner {{ {MEMBER_FIELDS} }} customer {{ id owner {{ id }} }} }}
  }}
}}
"""

GET_CUSTOMER = f"""
query GetCustomer($id: ID, $externalId: String) {{
  customer(id: $id, externalId: $externalId) {{ {CUSTOMER_FIELDS} }}
}}
"""

LIST_CUSTOMERS = f"""
query ListCustomers($first: Int!, $after: String, $filter: CustomerFilter, $orderBy: CustomerOrder) {{
  customers(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {{
    totalCount
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
    edges {{ cursor node {{ {CUSTOMER_FIELDS} }} }}
  }}
}}
"""

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Customer { email }
    ... on Member { email role }
  }
}
"""


async def create_customer(api, token: str, **input: Any) -> dict:
    """Create a customer and return it; the test fails if the API returns an error."""
    values: dict[str, Any] = {"email": "person@example.com"}
    values.update(input)
    result = (await api.data(CREATE_CUSTOMER, {"input": values}, token=token))["createCustomer"]
    assert result["__typename"] == "CreateCustomerSuccess", result
    return result["customer"]


async def create_business(api, token: str, *, members: int | list = 2, prefix: str = "acme", **input: Any) -> dict:
    """A business with an owner and `members` more (a count, or the member inputs themselves)."""
    if isinstance(members, int):
        members = [{"email": f"m{i}@{prefix}.example", "externalId": f"{prefix}-m{i}"} for i in range(members)]
    values: dict[str, Any] = {
        "type": "BUSINESS",
        "email": f"billing@{prefix}.example",
        "name": prefix.title(),
        "externalId": prefix,
        "owner": {"email": f"owner@{prefix}.example", "name": "Owner", "externalId": f"{prefix}-owner"},
        "members": members,
    }
    values.update(input)
    return await create_customer(api, token, **values)
