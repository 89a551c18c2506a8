"""Member role rules: exactly one owner, ownership moves by transfer, the owner stays."""

from __future__ import annotations

from sqlalchemy import text

from tests.conftest import as_owner, tenant_factory
from tests.operations import (
    ADD_MEMBER,
    GET_CUSTOMER,
    REMOVE_MEMBER,
    TRANSFER,
    UPDATE_MEMBER,
    create_business,
    create_customer,
)


def by_email(customer: dict) -> dict[str, dict]:
    return {m["email"]: m for m in customer["members"]}


async def active_owner_count(session_factory, customer_global_id: str) -> int:
    from app.kit.ids import from_global_id

    _, customer_id = from_global_id(customer_global_id)
    async with session_factory() as session, as_owner(session):
        return int(
            await session.scalar(
                text("SELECT count(*) FROM members WHERE customer_id = :c AND role = 'owner' AND deleted_at IS NULL"),
                {"c": customer_id},
            )
        )


async def test_add_update_and_remove_members(api, org):
    business = await create_business(api, org.token, members=0)
    added = (
        await api.data(ADD_MEMBER, {"input": {"customerId": business["id"], "email": "new@acme.example", "role": "BILLING_MANAGER"}}, token=org.token)
    )["addMember"]
    assert added["__typename"] == "AddMemberSuccess", added
    member = added["member"]
    assert member["role"] == "BILLING_MANAGER"
    assert member["customer"]["id"] == business["id"]

    updated = (await api.data(UPDATE_MEMBER, {"input": {"id": member["id"], "role": "MEMBER", "name": "Newbie"}}, token=org.token))[
        "updateMember"
    ]
    assert updated["__typename"] == "UpdateMemberSuccess", updated
    assert (updated["member"]["role"], updated["member"]["name"]) == ("MEMBER", "Newbie")

    removed = (await api.data(REMOVE_MEMBER, {"input": {"id": member["id"]}}, token=org.token))["removeMember"]
    assert removed == {"__typename": "RemoveMemberSuccess", "removedMemberId": member["id"]}
    after = (await api.data(GET_CUSTOMER, {"id": business["id"]}, token=org.token))["customer"]
    assert [m["email"] for m in after["members"]] == ["owner@acme.example"]
    # the email is free again once removed
    again = (await api.data(ADD_MEMBER, {"input": {"customerId": business["id"], "email": "new@acme.example"}}, token=org.token))["addMember"]
    assert again["__typename"] == "AddMemberSuccess"


async def test_owner_cannot_be_removed(api, org, session_factory):
    business = await create_business(api, org.token)
    result = (await api.data(REMOVE_MEMBER, {"input": {"id": business["owner"]["id"]}}, token=org.token))["removeMember"]
    assert result["__typename"] == "MemberRoleError"
    assert result["rule"] == "owner_not_removable"
    assert await active_owner_count(session_factory, business["id"]) == 1


async def test_owner_role_changes_only_by_transfer(api, org, session_factory):
    business = await create_business(api, org.token)
    owner_id = business["owner"]["id"]
    member_id = by_email(business)["m0@acme.example"]["id"]
    demote = (await api.data(UPDATE_MEMBER, {"input": {"id": owner_id, "role": "MEMBER"}}, token=org.token))["updateMember"]
    assert (demote["__typename"], demote["rule"]) == ("MemberRoleError", "owner_role_fixed")
    promote = (await api.data(UPDATE_MEMBER, {"input": {"id": member_id, "role": "OWNER"}}, token=org.token))["updateMember"]
    assert (promote["__typename"], promote["rule"]) == ("MemberRoleError", "owner_by_transfer_only")
    add_owner = (
        await api.data(ADD_MEMBER, {"input": {"customerId": business["id"], "email": "x@acme.example", "role": "OWNER"}}, token=org.token)
    )["addMember"]
    assert add_owner["__typename"] == "ValidationError"
    assert add_owner["fields"][0]["path"] == ["role"]
    assert await active_owner_count(session_factory, business["id"]) == 1


async def test_transfer_makes_old_owner_billing_manager(api, org, session_factory):
    business = await create_business(api, org.token)
    old_owner = business["owner"]
    new_owner = by_email(business)["m1@acme.example"]
    result = (await api.data(TRANSFER, {"input": {"customerId": business["id"], "memberId": new_owner["id"]}}, token=org.token))[
        "transferOwnership"
    ]
    assert result["__typename"] == "TransferOwnershipSuccess", result
    assert result["owner"]["id"] == new_owner["id"]
    assert result["owner"]["role"] == "OWNER"
    assert result["previousOwner"]["id"] == old_owner["id"]
    assert result["previousOwner"]["role"] == "BILLING_MANAGER"
    assert result["customer"]["owner"]["id"] == new_owner["id"]
    assert await active_owner_count(session_factory, business["id"]) == 1

    again = (await api.data(TRANSFER, {"input": {"customerId": business["id"], "memberId": new_owner["id"]}}, token=org.token))[
        "transferOwnership"
    ]
    assert (again["__typename"], again["rule"]) == ("MemberRoleError", "already_owner")
    # the old owner can now be removed
    removed = (await api.data(REMOVE_MEMBER, {"input": {"id": old_owner["id"]}}, token=org.token))["removeMember"]
    assert removed["__typename"] == "RemoveMemberSuccess"


async def test_transfer_to_a_member_of_another_customer_is_not_found(api, org):
    first = await create_business(api, org.token, prefix="one")
    second = await create_business(api, org.token, prefix="two")
    stranger = by_email(second)["m0@two.example"]
    result = (await api.data(TRANSFER, {"input": {"customerId": first["id"], "memberId": stranger["id"]}}, token=org.token))[
        "transferOwnership"
    ]
    assert result["__typename"] == "NotFoundError"


async def test_individual_has_only_its_owner(api, org):
    individual = await create_customer(api, org.token, email="solo@example.com")
    add = (await api.data(ADD_MEMBER, {"input": {"customerId": individual["id"], "email": "friend@example.com"}}, token=org.token))[
        "addMember"
    ]
    assert add["__typename"] == "CustomerNotBusinessError"
    assert add["code"] == "CUSTOMER_NOT_BUSINESS"
    edit = (await api.data(UPDATE_MEMBER, {"input": {"id": individual["owner"]["id"], "name": "x"}}, token=org.token))["updateMember"]
    assert edit["__typename"] == "CustomerNotBusinessError"
    remove = (await api.data(REMOVE_MEMBER, {"input": {"id": individual["owner"]["id"]}}, token=org.token))["removeMember"]
    assert remove["__typename"] == "MemberRoleError"


async def test_one_owner_is_enforced_by_the_database(session_factory, org):
    """Even a write that bypasses the service cannot create a second active owner."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    from app.auth.service import operator_scope
    from app.auth.subject import Subject
    from app.customers.service import CustomerDraft, create_customer as create
    from app.members.service import MemberDraft
    from app.models import Member

    subject = Subject(scope=operator_scope(org.id), token_id=org.token_id, scopes=frozenset())
    async with tenant_factory(session_factory, org.id)() as session:
        customer = await create(session, subject, CustomerDraft(type="business", email="b@x.example", owner=MemberDraft(email="o@x.example")))
        session.add(Member(organization_id=org.id, customer_id=customer.id, role="owner", email="o2@x.example"))
        with pytest.raises(IntegrityError):
            await session.flush()
        await session.rollback()
