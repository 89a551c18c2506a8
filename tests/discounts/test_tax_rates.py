"""Tax rates through GraphQL and `tax_rate_for`: the state's rate, else the country's, else the
default, else 0; bad input changes nothing; each organization sees only its own."""

from __future__ import annotations

import pytest

from app.auth.service import operator_scope
from app.discounts.tax_rates import tax_rate_for, tax_rates_for
from tests.conftest import tenant_factory
from tests.discounts.operations import REMOVE_TAX_RATE, SET_TAX_RATE, TAX_RATES, set_tax_rate


async def _rate(session_factory, org, country, state=None) -> int:
    async with tenant_factory(session_factory, org.id)() as session:
        return await tax_rate_for(session, operator_scope(org.id), country, state)


async def test_the_most_specific_rate_applies(api, org, other_org, session_factory):
    assert await _rate(session_factory, org, "US") == 0
    assert await set_tax_rate(api, org.token, basisPoints=1000) == {"country": None, "state": None, "basisPoints": 1000}
    assert await set_tax_rate(api, org.token, country="us", basisPoints=0) == {"country": "US", "state": None, "basisPoints": 0}
    assert await set_tax_rate(api, org.token, country="US", state="ca", basisPoints=725) == {"country": "US", "state": "CA", "basisPoints": 725}
    await set_tax_rate(api, org.token, country="DE", basisPoints=1900)
    await set_tax_rate(api, org.token, country="DE", basisPoints=1600)  # replaces it
    assert await _rate(session_factory, org, "US", "CA") == 725
    assert await _rate(session_factory, org, "us", "ny") == 0
    assert await _rate(session_factory, org, "US") == 0
    assert await _rate(session_factory, org, "DE") == 1600
    assert await _rate(session_factory, org, "FR") == 1000
    assert await _rate(session_factory, org, None) == 1000
    places = [("US", "CA"), ("us", "ny"), ("US", None), ("DE", None), ("FR", None), (None, None), (None, "CA"), ("de", "by")]
    async with tenant_factory(session_factory, org.id)() as session:  # many places in one query (a renewal batch): the same answers
        assert await tax_rates_for(session, operator_scope(org.id), places) == {
            ("US", "CA"): 725, ("us", "ny"): 0, ("US", None): 0, ("DE", None): 1600, ("FR", None): 1000, (None, None): 1000, (None, "CA"): 1000, ("de", "by"): 1600,
        }
    listed = (await api.data(TAX_RATES, {}, token=org.token))["taxRates"]
    assert listed == [
        {"country": None, "state": None, "basisPoints": 1000},
        {"country": "DE", "state": None, "basisPoints": 1600},
        {"country": "US", "state": None, "basisPoints": 0},
        {"country": "US", "state": "CA", "basisPoints": 725},
    ]
    # another organization has none of them
    assert (await api.data(TAX_RATES, {}, token=other_org.token))["taxRates"] == []
    assert await _rate(session_factory, other_org, "DE") == 0
    result = (await api.data(REMOVE_TAX_RATE, {"input": {"country": "DE"}}, token=other_org.token))["removeTaxRate"]
    assert result["__typename"] == "NotFoundError"

    removed = (await api.data(REMOVE_TAX_RATE, {"input": {"country": "US", "state": "CA"}}, token=org.token))["removeTaxRate"]
    assert removed["taxRate"] == {"country": "US", "state": "CA", "basisPoints": 725}
    assert await _rate(session_factory, org, "US", "CA") == 0
    await api.data(REMOVE_TAX_RATE, {"input": {}}, token=org.token)
    assert await _rate(session_factory, org, "FR") == 0


@pytest.mark.parametrize(
    ("input", "expected"),
    [
        ({"country": "USA", "basisPoints": 1}, [(("country",), "too_long")]),
        ({"country": "U1", "basisPoints": 1}, [(("country",), "invalid_country")]),
        ({"state": "CA", "basisPoints": 1}, [(("state",), "required")]),
        ({"country": "US", "state": "C A", "basisPoints": 1}, [(("state",), "invalid_state")]),
        ({"country": "US", "basisPoints": -1}, [(("basisPoints",), "out_of_range")]),
        ({"country": "US", "basisPoints": 10001}, [(("basisPoints",), "out_of_range")]),
    ],
)
async def test_bad_input_changes_nothing(api, org, input, expected):
    result = (await api.data(SET_TAX_RATE, {"input": input}, token=org.token))["setTaxRate"]
    assert result["__typename"] == "ValidationError", result
    assert [(tuple(f["path"]), f["code"]) for f in result["fields"]] == expected
    assert (await api.data(TAX_RATES, {}, token=org.token))["taxRates"] == []


async def test_bad_input_to_remove(api, org):
    result = (await api.data(REMOVE_TAX_RATE, {"input": {"country": "1"}}, token=org.token))["removeTaxRate"]
    assert result["__typename"] == "ValidationError"
    result = (await api.data(REMOVE_TAX_RATE, {"input": {"country": "FR"}}, token=org.token))["removeTaxRate"]
    assert result["__typename"] == "NotFoundError"
