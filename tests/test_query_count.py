"""Nested lists cost the same number of SQL statements whatever the page size (no N+1)."""

from __future__ import annotations

from tests.operations import create_business, create_customer

NESTED = """
query List($first: Int!) {
  customers(first: $first) {
    totalCount
    edges { cursor node {
      id type email
      owner { id email customer { id } }
      members { id role email customer { id email members { id } } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

MEMBERS_TO_CUSTOMERS = """
query Nodes($ids: [ID!]!) {
  nodes(ids: $ids) { id ... on Member { email customer { id owner { id } } } }
}
"""


async def test_statement_count_does_not_grow_with_the_page(api, org):
    for i in range(100):
        if i % 2:
            await create_customer(api, org.token, email=f"p{i}@example.com")
        else:
            await create_business(api, org.token, prefix=f"co{i}", members=2)

    counts = {}
    for first in (10, 100):
        data = await api.data(NESTED, {"first": first}, token=org.token)
        assert len(data["customers"]["edges"]) == first
        assert all(node["node"]["members"] for node in data["customers"]["edges"])
        counts[first] = api.last_statement_count
    assert counts[10] == counts[100], counts
    # token, page, count, members (customers come primed), plus the harness's SAVEPOINT and its release
    assert counts[10] <= 6, counts


async def test_node_lookups_batch(api, org):
    member_ids = []
    for i in range(30):
        business = await create_business(api, org.token, prefix=f"n{i}", members=1)
        member_ids += [m["id"] for m in business["members"]]
    counts = []
    for size in (5, 60):
        data = await api.data(MEMBERS_TO_CUSTOMERS, {"ids": member_ids[:size]}, token=org.token)
        assert all(node is not None for node in data["nodes"])
        counts.append(api.last_statement_count)
    assert counts[0] == counts[1], counts


ONE_CUSTOMER = """
query One($id: ID!, $nested: Boolean!) {
  customer(id: $id) {
    id email
    members { id customer @include(if: $nested) { id email name members { id } } }
    owner { id customer @include(if: $nested) { id email } }
  }
}
"""

FRAGMENTS = """
fragment Listed on Customer { members { id role customer { id } } }
query List {
  customers(first: 10) {
    nodes { id email ... on BusinessCustomer { ...Listed } ... { owner { email customer { email } } } }
  }
}
"""

PLAIN_LIST = "query List { customers(first: 10) { nodes { id email } } }"


async def test_a_members_customer_is_the_customer_it_is_listed_under(api, org):
    """`customer` of a member listed under a customer is that customer: no statement to load it again."""
    business = await create_business(api, org.token, prefix="parent", members=3)

    flat = await api.data(ONE_CUSTOMER, {"id": business["id"], "nested": False}, token=org.token)
    flat_count = api.last_statement_count
    nested = await api.data(ONE_CUSTOMER, {"id": business["id"], "nested": True}, token=org.token)
    assert api.last_statement_count == flat_count, (flat_count, api.last_statement_count)

    customer = nested["customer"]
    assert [m["id"] for m in customer["members"]] == [m["id"] for m in flat["customer"]["members"]]
    assert len(customer["members"]) == 4
    for member in customer["members"]:
        assert member["customer"] == {
            "id": business["id"],
            "email": "billing@parent.example",
            "name": "Parent",
            "members": [{"id": m["id"]} for m in customer["members"]],
        }
    assert customer["owner"]["customer"] == {"id": business["id"], "email": "billing@parent.example"}


async def test_the_list_fetches_members_only_when_asked(api, org):
    """Members asked for through fragments come with the page; a list without them costs a statement less."""
    for i in range(3):
        await create_business(api, org.token, prefix=f"frag{i}", members=1)
    await create_customer(api, org.token, email="solo@example.com")

    data = await api.data(FRAGMENTS, token=org.token)
    with_members = api.last_statement_count
    nodes = data["customers"]["nodes"]
    assert len(nodes) == 4
    for node in nodes:
        assert node["owner"]["customer"]["email"] == node["email"]
        if "members" in node:
            assert len(node["members"]) == 2 and node["members"][0]["role"] == "OWNER"
            assert all(member["customer"]["id"] == node["id"] for member in node["members"])
    assert sum("members" in node for node in nodes) == 3

    await api.data(PLAIN_LIST, token=org.token)
    assert api.last_statement_count == with_members - 1
