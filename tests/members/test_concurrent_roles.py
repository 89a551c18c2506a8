"""Exactly one active owner, whatever member mutations run at the same time and in whatever order
they reach the database (each runs in its own transaction, committed for real)."""

from __future__ import annotations

import asyncio
import itertools

from tests.conftest import make_org
from tests.members.test_roles import active_owner_count
from tests.operations import REMOVE_MEMBER, TRANSFER, UPDATE_MEMBER, create_business


def _typename(response, field: str) -> str:
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"][field]["__typename"]


async def test_transfer_and_remove_of_the_same_member(live):
    """transferOwnership(X) and removeMember(X) together, 30 times: one of them wins, and the
    customer keeps exactly one active owner."""
    org = await make_org(live.session_factory)
    outcomes = set()
    for trial in range(30):
        business = await create_business(live.api, org.token, members=1, prefix=f"t{trial}")
        member = next(m for m in business["members"] if m["role"] == "MEMBER")
        calls = [
            live.api.post(TRANSFER, {"input": {"customerId": business["id"], "memberId": member["id"]}}, token=org.token),
            live.api.post(REMOVE_MEMBER, {"input": {"id": member["id"]}}, token=org.token),
        ]
        if trial % 2:
            calls.reverse()
        responses = await asyncio.gather(*calls)
        if trial % 2:
            responses.reverse()
        outcomes.add((_typename(responses[0], "transferOwnership"), _typename(responses[1], "removeMember")))
        assert await active_owner_count(live.session_factory, business["id"]) == 1, (trial, outcomes)
    # either the transfer won (then the new owner is not removable) or the removal did
    assert outcomes <= {("TransferOwnershipSuccess", "MemberRoleError"), ("NotFoundError", "RemoveMemberSuccess")}, outcomes


async def test_any_interleaving_of_member_mutations_keeps_one_owner(live):
    """Transfers to two members, their removal and their demotion, all at once: one owner."""
    org = await make_org(live.session_factory)
    for trial in range(10):
        business = await create_business(live.api, org.token, members=2, prefix=f"i{trial}")
        a, b = [m for m in business["members"] if m["role"] == "MEMBER"]
        owner = next(m for m in business["members"] if m["role"] == "OWNER")
        operations = [
            (TRANSFER, {"customerId": business["id"], "memberId": a["id"]}),
            (TRANSFER, {"customerId": business["id"], "memberId": b["id"]}),
            (TRANSFER, {"customerId": business["id"], "memberId": owner["id"]}),
            (REMOVE_MEMBER, {"id": a["id"]}),
            (REMOVE_MEMBER, {"id": owner["id"]}),
            (UPDATE_MEMBER, {"id": b["id"], "role": "MEMBER"}),
            (UPDATE_MEMBER, {"id": owner["id"], "role": "BILLING_MANAGER"}),
        ]
        order = list(itertools.islice(itertools.permutations(operations), trial * 7, trial * 7 + 1))[0]
        responses = await asyncio.gather(*(live.api.post(q, {"input": i}, token=org.token) for q, i in order))
        for response in responses:
            assert not response.json().get("errors"), response.json()
        assert await active_owner_count(live.session_factory, business["id"]) == 1, trial
