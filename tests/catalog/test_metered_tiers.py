"""Tiered metered prices through GraphQL: graduated, volume and package tiers on `meteredUnit`
prices, read back on the price, and bad input refused with typed field errors, nothing written."""

from __future__ import annotations

import pytest

from tests.catalog.operations import CREATE_PRODUCT, FIXED, catalog_counts, make_meter

TIERED_FIELDS = """
  prices { __typename ... on MeteredUnitPrice { unitAmount tierMode tiers { upTo unitAmount flatAmount { amount currency } }
           packageSize packageAmount { amount currency } capAmount { amount } } }
"""
CREATE = f"""
mutation($input: CreateProductInput!) {{
  createProduct(input: $input) {{
    __typename
    ... on CreateProductSuccess {{ product {{ {TIERED_FIELDS} }} }}
    ... on ValidationError {{ code fields {{ path code message }} }}
  }}
}}
"""


async def _create(api, token, metered: dict) -> dict:
    values = {"name": "Pro", "recurringInterval": "MONTH", "prices": [FIXED, {"meteredUnit": metered}]}
    return (await api.data(CREATE, {"input": values}, token=token))["createProduct"]


async def test_graduated_volume_and_package_prices_are_created_and_read_back(api, org, session_factory):
    meter = await make_meter(session_factory, org.id)
    graduated = await _create(
        api, org.token,
        {"meterId": meter, "tierMode": "GRADUATED", "capAmount": 100000,
         "tiers": [{"upTo": "1000", "unitAmount": "0"}, {"upTo": "10000.5", "unitAmount": "0.5", "flatAmount": 200}, {"unitAmount": "0.25"}]},
    )
    assert graduated["__typename"] == "CreateProductSuccess", graduated
    metered = graduated["product"]["prices"][1]
    assert metered == {
        "__typename": "MeteredUnitPrice", "unitAmount": None, "tierMode": "GRADUATED", "packageSize": None, "packageAmount": None,
        "capAmount": {"amount": 100000},
        "tiers": [
            {"upTo": "1000", "unitAmount": "0", "flatAmount": {"amount": 0, "currency": "usd"}},
            {"upTo": "10000.5", "unitAmount": "0.5", "flatAmount": {"amount": 200, "currency": "usd"}},
            {"upTo": None, "unitAmount": "0.25", "flatAmount": {"amount": 0, "currency": "usd"}},
        ],
    }
    package = await _create(api, org.token, {"meterId": meter, "tierMode": "PACKAGE", "packageSize": 1000, "packageAmount": 500})
    assert package["product"]["prices"][1] | {"capAmount": None} == {
        "__typename": "MeteredUnitPrice", "unitAmount": None, "tierMode": "PACKAGE", "tiers": None, "packageSize": 1000,
        "packageAmount": {"amount": 500, "currency": "usd"}, "capAmount": None,
    }
    volume = await _create(api, org.token, {"meterId": meter, "tierMode": "VOLUME", "tiers": [{"upTo": "10", "unitAmount": "2"}, {"unitAmount": "1"}]})
    assert volume["product"]["prices"][1]["tierMode"] == "VOLUME"
    plain = await _create(api, org.token, {"meterId": meter, "unitAmount": "0.05"})
    assert (plain["product"]["prices"][1]["unitAmount"], plain["product"]["prices"][1]["tierMode"]) == ("0.05", None)


P = ("prices", "1", "meteredUnit")


@pytest.mark.parametrize(
    "metered, path, code",
    [
        ({}, (*P, "unitAmount"), "required"),
        ({"tierMode": "GRADUATED", "tiers": []}, (*P, "tiers"), "required"),
        ({"tierMode": "GRADUATED"}, (*P, "tiers"), "required"),
        ({"tierMode": "GRADUATED", "unitAmount": "1", "tiers": [{"unitAmount": "1"}]}, (*P, "unitAmount"), "not_allowed"),
        ({"tierMode": "VOLUME", "tiers": [{"upTo": "10", "unitAmount": "1"}]}, (*P, "tiers", "0", "upTo"), "tier_not_open_ended"),
        ({"tierMode": "VOLUME", "tiers": [{"unitAmount": "1"}, {"unitAmount": "1"}]}, (*P, "tiers", "0", "upTo"), "tier_open_ended"),
        (
            {"tierMode": "GRADUATED", "tiers": [{"upTo": "10", "unitAmount": "1"}, {"upTo": "10", "unitAmount": "1"}, {"unitAmount": "1"}]},
            (*P, "tiers", "1", "upTo"),
            "tier_not_ascending",
        ),
        ({"tierMode": "GRADUATED", "tiers": [{"upTo": "0", "unitAmount": "1"}, {"unitAmount": "1"}]}, (*P, "tiers", "0", "upTo"), "out_of_range"),
        ({"tierMode": "GRADUATED", "tiers": [{"upTo": "-5", "unitAmount": "1"}, {"unitAmount": "1"}]}, (*P, "tiers", "0", "upTo"), "out_of_range"),
        ({"tierMode": "GRADUATED", "tiers": [{"unitAmount": "-1"}]}, (*P, "tiers", "0", "unitAmount"), "out_of_range"),
        ({"tierMode": "GRADUATED", "tiers": [{"unitAmount": "1", "flatAmount": -1}]}, (*P, "tiers", "0", "flatAmount"), "out_of_range"),
        ({"tierMode": "GRADUATED", "tiers": [{"unitAmount": "0.0000000000001"}]}, (*P, "tiers", "0", "unitAmount"), "too_precise"),
        ({"tierMode": "VOLUME", "tiers": [{"upTo": "5", "unitAmount": "0"}, {"unitAmount": "0"}]}, (*P, "tiers"), "all_free"),
        ({"tierMode": "VOLUME", "tiers": [{"upTo": str(i + 1), "unitAmount": "1"} for i in range(20)] + [{"unitAmount": "1"}]}, (*P, "tiers"), "too_many"),
        ({"tierMode": "PACKAGE", "packageAmount": 500}, (*P, "packageSize"), "required"),
        ({"tierMode": "PACKAGE", "packageSize": 0, "packageAmount": 500}, (*P, "packageSize"), "out_of_range"),
        ({"tierMode": "PACKAGE", "packageSize": 10, "packageAmount": 0}, (*P, "packageAmount"), "out_of_range"),
        ({"tierMode": "PACKAGE", "packageSize": 10, "packageAmount": 5, "tiers": [{"unitAmount": "1"}]}, (*P, "tiers"), "not_allowed"),
        ({"tierMode": "VOLUME", "packageSize": 10, "tiers": [{"unitAmount": "1"}]}, (*P, "packageSize"), "not_allowed"),
        ({"unitAmount": "1", "packageSize": 10}, (*P, "packageSize"), "not_allowed"),
        ({"unitAmount": "1", "tiers": [{"unitAmount": "1"}]}, (*P, "tiers"), "not_allowed"),
    ],
)
async def test_bad_tiers_are_typed_field_errors_and_nothing_is_written(api, org, session_factory, metered, path, code):
    meter = await make_meter(session_factory, org.id)
    before = await catalog_counts(session_factory)
    result = await _create(api, org.token, {"meterId": meter, **metered})
    assert result["__typename"] == "ValidationError", result
    assert result["code"] == "VALIDATION_ERROR"
    assert (path, code) in {(tuple(f["path"]), f["code"]) for f in result["fields"]}, result["fields"]
    assert await catalog_counts(session_factory) == before


async def test_an_unknown_tier_mode_is_refused_by_the_schema(api, org, session_factory):
    meter = await make_meter(session_factory, org.id)
    values = {"name": "Pro", "recurringInterval": "MONTH", "prices": [FIXED, {"meteredUnit": {"meterId": meter, "tierMode": "STAIRS"}}]}
    response = (await api.post(CREATE, {"input": values}, token=org.token)).json()
    assert response["errors"] and "STAIRS" in response["errors"][0]["message"]
