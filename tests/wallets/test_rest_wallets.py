"""The wallet REST twins: GET /v1/wallets/check and the holds' POST endpoints (hold, capture,
release) with the Idempotency-Key header; 409 for insufficient funds and holds no longer active,
422 for bad input, 404 for another organization's objects, 401/403 without the right token."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from app.kit.ids import from_global_id
from tests.conftest import as_owner, make_org
from tests.operations import create_customer
from tests.wallets.holds_support import adjust, business_with_members, set_budget, wallet_priced_subscription


def _auth(token: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


async def _customer(api, org, **fields) -> tuple[str, str]:
    customer = await create_customer(api, org.token, **fields)
    return customer["id"], str(from_global_id(customer["id"])[1])


async def _wallet(session_factory) -> tuple[int, int]:
    async with session_factory() as session, as_owner(session):
        return tuple((await session.execute(text("SELECT balance, held FROM wallets"))).one())


async def test_hold_capture_and_release_over_rest(api, org, session_factory):
    gid, customer_id = await _customer(api, org, externalId="cus-1")
    await adjust(api, org.token, gid, 1000)
    http = api.client

    created = await http.post("/v1/wallets/holds", json={"external_customer_id": "cus-1", "currency": "USD", "amount": 400, "expires_in": 60}, headers=_auth(org.token, "k1"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["status"], body["amount"], body["currency"], body["customer_id"]) == ("active", 400, "usd", customer_id)
    replay = await http.post("/v1/wallets/holds", json={"external_customer_id": "cus-1", "currency": "USD", "amount": 400, "expires_in": 60}, headers=_auth(org.token, "k1"))
    assert replay.status_code == 201 and replay.json()["id"] == body["id"]
    assert await _wallet(session_factory) == (1000, 400)

    captured = await http.post(f"/v1/wallets/holds/{body['id']}/capture", json={"amount": 150}, headers=_auth(org.token, "c1"))
    assert captured.status_code == 200, captured.text
    assert (captured.json()["status"], captured.json()["captured_amount"]) == ("captured", 150)
    assert await _wallet(session_factory) == (850, 0)
    again = await http.post(f"/v1/wallets/holds/{body['id']}/capture", json={}, headers=_auth(org.token))
    assert again.status_code == 409 and again.json()["error"] == "HOLD_NOT_ACTIVE" and again.json()["status"] == "captured"

    second = (await http.post("/v1/wallets/holds", json={"customer_id": customer_id, "currency": "usd", "amount": 100, "expires_in": 60}, headers=_auth(org.token))).json()
    released = await http.post(f"/v1/wallets/holds/{second['graphql_id']}/release", headers=_auth(org.token))
    assert released.status_code == 200 and released.json()["status"] == "released"
    whole = (await http.post("/v1/wallets/holds", json={"customer_id": gid, "currency": "usd", "amount": 100, "expires_in": 60}, headers=_auth(org.token))).json()
    all_of_it = await http.post(f"/v1/wallets/holds/{whole['id']}/capture", headers=_auth(org.token))
    assert all_of_it.status_code == 200 and all_of_it.json()["captured_amount"] == 100
    assert await _wallet(session_factory) == (750, 0)


async def test_insufficient_funds_is_a_409_with_the_reason_and_changes_nothing(api, org, session_factory):
    gid, customer_id = await _customer(api, org)
    await adjust(api, org.token, gid, 100)
    refused = await api.client.post("/v1/wallets/holds", json={"customer_id": customer_id, "currency": "usd", "amount": 101, "expires_in": 60}, headers=_auth(org.token, "x"))
    assert refused.status_code == 409
    assert refused.json() | {"detail": None} == {
        "error": "INSUFFICIENT_FUNDS", "detail": None, "reason": "INSUFFICIENT_BALANCE", "available": 100, "requested": 101, "currency": "usd"
    }
    replay = await api.client.post("/v1/wallets/holds", json={"customer_id": customer_id, "currency": "usd", "amount": 101, "expires_in": 60}, headers=_auth(org.token, "x"))
    assert replay.status_code == 409 and replay.json()["reason"] == "INSUFFICIENT_BALANCE"
    assert await _wallet(session_factory) == (100, 0)


async def test_wallet_check_over_rest_with_a_member_budget(api, org, session_factory):
    customer, (m1, _m2) = await business_with_members(api, org.token)
    priced = await wallet_priced_subscription(session_factory, org.id, customer, unit_amount="1")
    await adjust(api, org.token, customer, 1000)
    await set_budget(api, org.token, m1, 50)
    params = {"customer_id": customer, "meter_id": priced.meter_id, "units": "40"}
    ok = await api.client.get("/v1/wallets/check", params=params, headers=_auth(org.token))
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"covers": True, "reason": "COVERED", "estimated_cost": 40, "available": 1000, "member_budget_remaining": None, "currency": "usd"}
    member = str(from_global_id(m1)[1])
    capped = await api.client.get("/v1/wallets/check", params={**params, "units": "60", "member_id": member, "meter_id": str(priced.meter_uuid)}, headers=_auth(org.token))
    assert capped.json() == {
        "covers": False, "reason": "MEMBER_BUDGET_EXCEEDED", "estimated_cost": 60, "available": 1000, "member_budget_remaining": 50, "currency": "usd"
    }
    held = await api.client.post("/v1/wallets/holds", json={"customer_id": customer, "member_id": m1, "currency": "usd", "amount": 51, "expires_in": 5}, headers=_auth(org.token))
    assert held.status_code == 409 and held.json()["reason"] == "MEMBER_BUDGET_EXCEEDED" and held.json()["available"] == 50
    short = await api.client.get("/v1/wallets/check", params={**params, "units": "1001"}, headers=_auth(org.token))
    assert short.json()["reason"] == "INSUFFICIENT_BALANCE" and short.json()["covers"] is False


async def test_bad_input_unknown_objects_and_credentials(api, org, session_factory, clock):
    gid, customer_id = await _customer(api, org)
    await adjust(api, org.token, gid, 100)
    http = api.client
    bad = await http.post("/v1/wallets/holds", json={"customer_id": customer_id, "currency": "usd", "amount": 0, "expires_in": 0}, headers=_auth(org.token))
    assert bad.status_code == 422
    assert sorted(d["loc"][-1] for d in bad.json()["detail"]) == ["amount", "expiresIn"]
    assert (await http.post("/v1/wallets/holds", content=b"[1]", headers=_auth(org.token))).status_code == 422
    assert (await http.post("/v1/wallets/holds", json={"currency": "usd", "amount": 1, "expires_in": 1}, headers=_auth(org.token))).status_code == 422
    check = await http.get("/v1/wallets/check", params={"customer_id": customer_id, "meter_id": "nope", "units": "1"}, headers=_auth(org.token))
    assert check.status_code == 422
    check = await http.get("/v1/wallets/check", params={"customer_id": customer_id, "meter_id": str(customer_id), "units": "-1"}, headers=_auth(org.token))
    assert check.status_code == 422 and check.json()["detail"][0]["loc"] == ["query", "units"]

    held = (await http.post("/v1/wallets/holds", json={"customer_id": customer_id, "currency": "usd", "amount": 10, "expires_in": 30}, headers=_auth(org.token))).json()
    assert (await http.post(f"/v1/wallets/holds/{held['id']}/capture", json={"amount": 11}, headers=_auth(org.token))).status_code == 422
    clock.advance(timedelta(seconds=31))
    expired = await http.post(f"/v1/wallets/holds/{held['id']}/capture", headers=_auth(org.token))
    assert expired.status_code == 409 and expired.json()["status"] == "expired"

    other = await make_org(session_factory, name="Other")
    assert (await http.post(f"/v1/wallets/holds/{held['id']}/release", headers=_auth(other.token))).status_code == 404
    assert (await http.post("/v1/wallets/holds", json={"customer_id": customer_id, "currency": "usd", "amount": 1, "expires_in": 5}, headers=_auth(other.token))).status_code == 404
    assert (await http.get("/v1/wallets/check", params={"customer_id": customer_id, "meter_id": customer_id, "units": "1"}, headers=_auth(other.token))).status_code == 404
    assert (await http.post(f"/v1/wallets/holds/{held['id']}/release")).status_code == 401
    reader = await make_org(session_factory, name="Reader", scopes=["wallets:read"])
    assert (await http.post("/v1/wallets/holds", json={}, headers=_auth(reader.token))).status_code == 403
    assert (await http.get("/v1/wallets/check", params={"customer_id": customer_id, "meter_id": customer_id, "units": "1"}, headers=_auth(reader.token))).status_code == 404
    assert await _wallet(session_factory) == (100, 10)  # the overdue hold waits for the sweep or the next hold
