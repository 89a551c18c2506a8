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
