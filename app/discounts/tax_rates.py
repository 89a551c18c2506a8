"""Tax rates: per organization, a rate in basis points (825 = 8.25 %) for each billing country
(ISO 3166-1 alpha-2) and, optionally, a state of it, plus a default for every other place.

`tax_rate_for(country, state)` picks the most specific: the state's rate, else the country's,
else the default, else 0. Orders store the rate they used; changing a rate changes only what
is computed after.
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.discounts import repository
from app.discounts.repository import TAX_RATE_INDEX
from app.kit.errors import Conflict, FieldIssue, NotFound, ValidationFailed
from app.kit.repository import flush_unique
from app.kit.tenancy import TenantScope
from app.kit.validation import check_text
from app.models.discount import TaxRate

MAX_BASIS_POINTS = 10_000
STATE_MAX_LENGTH = 16


def _check_place(issues: list[FieldIssue], country: str | None, state: str | None) -> tuple[str | None, str | None]:
    before = len(issues)
    clean_country = check_text(issues, ("country",), country, max_length=2)
    if clean_country is not None:
        if len(issues) == before and len(clean_country) != 2 or not clean_country.isascii() or not clean_country.isalpha():
            issues.append(FieldIssue(("country",), "must be an ISO 3166-1 alpha-2 code such as 'US'", "invalid_country"))
        clean_country = clean_country.upper()
    before = len(issues)
    clean_state = check_text(issues, ("state",), state, max_length=STATE_MAX_LENGTH)
    if clean_state is not None:
        if len(issues) == before and not clean_state.replace("-", "").isalnum() or not clean_state.isascii():
            issues.append(FieldIssue(("state",), "must be a subdivision code such as 'CA'", "invalid_state"))
        if clean_country is None:
            issues.append(FieldIssue(("state",), "needs a country", "required"))
        clean_state = clean_state.upper()
    return clean_country, clean_state


async def list_tax_rates(session: AsyncSession, subject: Subject) -> list[TaxRate]:
    return await repository.list_tax_rates(session, subject.scope)


async def set_tax_rate(session: AsyncSession, subject: Subject, country: str | None, state: str | None, basis_points: int) -> TaxRate:
    """Set the rate of (country, state); no country sets the default. Replaces the rate there."""
    issues: list[FieldIssue] = []
    country, state = _check_place(issues, country, state)
    if isinstance(basis_points, bool) or not isinstance(basis_points, int):
        issues.append(FieldIssue(("basisPoints",), "must be an integer", "invalid_type"))
    elif not 0 <= basis_points <= MAX_BASIS_POINTS:
        issues.append(FieldIssue(("basisPoints",), f"must be 0 to {MAX_BASIS_POINTS}", "out_of_range"))
    if issues:
        raise ValidationFailed(issues)
    row = await repository.get_tax_rate(session, subject.scope, country, state)
    if row is None:
        row = TaxRate(organization_id=subject.organization_id, country=country, state=state, basis_points=basis_points)
        session.add(row)
    else:
        row.basis_points = basis_points
    place = f"{country or 'default'}{'/' + state if state else ''}"
    await flush_unique(
        session, {TAX_RATE_INDEX: lambda: Conflict("Another request set this rate at the same time; retry", field="country", value=place)}
    )
    return row


async def remove_tax_rate(session: AsyncSession, subject: Subject, country: str | None, state: str | None) -> TaxRate:
    issues: list[FieldIssue] = []
    country, state = _check_place(issues, country, state)
    if issues:
        raise ValidationFailed(issues)
    row = await repository.get_tax_rate(session, subject.scope, country, state)
    if row is None:
        raise NotFound("No tax rate is set there")
    await repository.delete_tax_rate(session, row)
    return row


def _place(country: str | None, state: str | None) -> tuple[str | None, str | None]:
    country = country.strip().upper() if country else None
    state = state.strip().upper() if state else None
    return (country, state) if country is not None else (None, None)


async def tax_rate_for(session: AsyncSession, scope: TenantScope, country: str | None, state: str | None = None) -> int:
    """The rate in basis points for a customer billed in (country, state): the state's, else the
    country's, else the organization's default, else 0."""
    return (await tax_rates_for(session, scope, [(country, state)]))[(country, state)]


async def tax_rates_for(session: AsyncSession, scope: TenantScope, places: Iterable[tuple[str | None, str | None]]) -> dict[tuple[str | None, str | None], int]:
    """`tax_rate_for` of many places at once (a batch of renewals), in one query: each (country,
    state) given -> its rate."""
    places = set(places)
    normalized = {place: _place(*place) for place in places}
    countries = sorted({country for country, _state in normalized.values() if country is not None})
    rates = await repository.candidate_tax_rates(session, scope, countries)
    by_place = {(r.country, r.state): r.basis_points for r in rates}
    found: dict[tuple[str | None, str | None], int] = {}
    for place, (country, state) in normalized.items():
        candidates = ((country, state), (country, None), (None, None)) if country is not None else ((None, None),)
        found[place] = next((by_place[c] for c in candidates if c in by_place), 0)
    return found
