"""The product catalog: products and their prices.

A product is recurring (monthly or yearly) or one-time; the interval is fixed at creation.
Products and prices are archived, never deleted. Prices are never edited either: to change a
price, add its replacement and archive the old one in the same call (`archive_price_ids`).

What a product's active prices may be:
- at least one, all in one currency;
- at most one base price (`fixed`, `custom`, `free` or `seat_unit`) plus any number of
  `metered_unit` prices, each on a different meter; a `seat_unit` price stands alone;
- a one-time product takes no `metered_unit` price (usage is billed per period);
- a metered price's meter belongs to the organization and is not archived;
- a metered price has a `unit_amount`, or instead a tier mode (app/catalog/usage_pricing.py):
  `graduated` or `volume` tiers (1 to 20, `up_to` ascending, only the last one open-ended),
  or `package` (`package_size` units for `package_amount`).

Every change to a product's prices locks the product row first, so two concurrent calls cannot
both pass these checks (partial unique indexes back the base and meter rules).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.catalog import repository
from app.catalog.errors import LastActivePrice, ProductArchived
from app.catalog.repository import ProductFilter
from app.catalog.usage_pricing import WALLET_AGGREGATIONS, TierMode
from app.kit import clock
from app.kit.batches import grouped, in_order
from app.kit.decimals import decimal_text
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.money import check_amount, check_currency, check_unit_amount
from app.kit.pagination import Page, check_page_size
from app.kit.validation import check_lookup_text, check_metadata, check_text
from app.kit.tenancy import TenantScope
from app.models import BASE_PRICE_TYPES, PriceType, Product, ProductPrice, RecurringInterval

__all__ = [
    "MeteredTierDraft",
    "PriceDraft",
    "ProductDraft",
    "ProductFilter",
    "SeatTierDraft",
    "archive_price",
    "archive_product",
    "create_price",
    "create_product",
    "list_products",
    "unarchive_product",
    "update_product",
]

NAME_MAX_LENGTH = 256
DESCRIPTION_MAX_LENGTH = 5000
MAX_ACTIVE_PRICES = 20
MAX_SEAT_TIERS = 20
MAX_SEATS = 1_000_000

# The member of the `PriceInput` oneOf that holds each price type, for error paths.
INPUT_MEMBER = {
    PriceType.fixed.value: "fixed",
    PriceType.custom.value: "custom",
    PriceType.free.value: "free",
    PriceType.metered_unit.value: "meteredUnit",
    PriceType.seat_unit.value: "seatUnit",
}


@dataclass(frozen=True)
class SeatTierDraft:
    min_seats: int
    max_seats: int | None
    price_per_seat: int


@dataclass(frozen=True)
class MeteredTierDraft:
    up_to: Decimal | None
    unit_amount: Decimal
    flat_amount: int | None = None


@dataclass
class PriceDraft:
    type: str
    currency: str = "usd"
    amount: int | None = None
    minimum_amount: int | None = None
    maximum_amount: int | None = None
    preset_amount: int | None = None
    meter_id: uuid.UUID | None = None
    unit_amount: Decimal | None = None
    cap_amount: int | None = None
    wallet_enabled: bool = False
    seat_tiers: list[SeatTierDraft] = field(default_factory=list)
    tier_mode: str | None = None
    tiers: list[MeteredTierDraft] = field(default_factory=list)
    package_size: int | None = None
    package_amount: int | None = None


@dataclass
class ProductDraft:
    name: str
    recurring_interval: str | None
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    prices: list[PriceDraft] = field(default_factory=list)
    trial_days: int | None = None


MAX_TRIAL_DAYS = 730


def _check_trial_days(issues: list[FieldIssue], value: Any, recurring: bool) -> int | None:
    """A free trial is for subscriptions only, 1 to 730 days (null: none)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TRIAL_DAYS:
        issues.append(FieldIssue(("trialDays",), f"must be 1 to {MAX_TRIAL_DAYS} days, or null for no trial", "out_of_range"))
        return None
    if not recurring:
        issues.append(FieldIssue(("trialDays",), "only a recurring product has a trial", "not_allowed"))
        return None
    return value


# -- reads ---------------------------------------------------------------------------------


async def list_products(
    session: AsyncSession,
    subject: Subject,
    filter: ProductFilter,
    *,
    order_by: str = "created_at",
    descending: bool = False,
    first: int = 50,
    after: str | None = None,
    max_page_size: int = 100,
) -> Page[Product]:
    check_page_size(first, max_page_size)
    check_lookup_text({"search": filter.search})
    return await repository.list_page(
        session, subject.scope, filter, order_by=order_by, descending=descending, first=first, after=after
    )


async def count_products(session: AsyncSession, subject: Subject, filter: ProductFilter) -> int:
    check_lookup_text({"search": filter.search})
    return await repository.count(session, subject.scope, filter)


async def get_product(session: AsyncSession, subject: Subject, product_id: uuid.UUID) -> Product:
    product = await repository.get(session, subject.scope, product_id)
    if product is None:
        raise NotFound("Product not found")
    return product


async def load_products(session: AsyncSession, scope: TenantScope, ids: list[uuid.UUID]) -> list[Product | None]:
    """For dataloaders: products in the order of `ids`, None where not found."""
    return in_order(await repository.get_many(session, scope, ids), ids)


async def load_prices(session: AsyncSession, scope: TenantScope, ids: list[uuid.UUID]) -> list[ProductPrice | None]:
    """For dataloaders: prices in the order of `ids`, None where not found."""
    return in_order(await repository.get_many_prices(session, scope, ids), ids)


async def load_prices_of(
    session: AsyncSession, scope: TenantScope, product_ids: list[uuid.UUID]
) -> list[list[ProductPrice]]:
    """For dataloaders: every price of each product, active ones first, archived ones after."""
    prices = await repository.list_prices_for_products(session, scope, product_ids)
    return grouped(prices, product_ids, key=lambda price: price.product_id)


# -- price rules ---------------------------------------------------------------------------


def _check_seat_tiers(issues: list[FieldIssue], path: tuple[str, ...], tiers: Sequence[SeatTierDraft]) -> None:
    """Volume tiers: contiguous from 1 seat, no gap or overlap, only the last one open-ended."""
    if not tiers:
        issues.append(FieldIssue(path, "needs at least one tier", "required"))
        return
    if len(tiers) > MAX_SEAT_TIERS:
        issues.append(FieldIssue(path, f"must have at most {MAX_SEAT_TIERS} tiers", "too_many"))
        return
    expected_min = 1
    for index, tier in enumerate(tiers):
        tier_path = (*path, str(index))
        last = index == len(tiers) - 1
        check_amount(issues, (*tier_path, "pricePerSeat"), tier.price_per_seat, minimum=0)
        if tier.min_seats != expected_min:
            if index == 0:
                message, code = "the first tier must start at 1 seat", "tier_start"
            elif tier.min_seats > expected_min:
                message, code = f"leaves a gap: the previous tier ends at {expected_min - 1} seats", "tier_gap"
            else:
                message, code = f"overlaps the previous tier, which ends at {expected_min - 1} seats", "tier_overlap"
            issues.append(FieldIssue((*tier_path, "minSeats"), message, code))
        if tier.max_seats is None:
            if not last:
                issues.append(FieldIssue((*tier_path, "maxSeats"), "only the last tier can be open-ended", "tier_open_ended"))
                return
        else:
            if last:
                issues.append(FieldIssue((*tier_path, "maxSeats"), "the last tier must be open-ended (null)", "tier_not_open_ended"))
            if tier.max_seats < tier.min_seats:
                issues.append(FieldIssue((*tier_path, "maxSeats"), "must be at least `minSeats`", "out_of_range"))
                return
            if tier.max_seats > MAX_SEATS:
                issues.append(FieldIssue((*tier_path, "maxSeats"), f"must be at most {MAX_SEATS}", "out_of_range"))
                return
            expected_min = tier.max_seats + 1


MAX_METERED_TIERS = 20


def _check_tier_amount(issues: list[FieldIssue], path: tuple[str, ...], value: Decimal | None) -> Decimal | None:
    """A tier's unit amount: like a price's unit amount, but 0 is allowed (a free tier)."""
    if value is not None and isinstance(value, Decimal) and value.is_finite() and value == 0:
        return Decimal(0)
    return check_unit_amount(issues, path, value)


MAX_TIER_UNITS = Decimal("1e15")


def _units_bound(value: Any) -> bool:
    """A tier's `upTo`: a positive number of units, at most 10^15, at most 12 decimal places."""
    try:
        return isinstance(value, Decimal) and value.is_finite() and 0 < value <= MAX_TIER_UNITS and value == value.quantize(Decimal("1e-12"))
    except InvalidOperation:
        return False


def _check_metered_tiers(issues: list[FieldIssue], path: tuple[str, ...], tiers: Sequence[MeteredTierDraft]) -> list[MeteredTierDraft]:
    """Graduated or volume tiers: 1 to 20, `upTo` positive and ascending, only the last one
    open-ended (null), amounts 0 or more, and something to pay in at least one tier."""
    if not tiers:
        issues.append(FieldIssue(path, "needs at least one tier", "required"))
        return []
    if len(tiers) > MAX_METERED_TIERS:
        issues.append(FieldIssue(path, f"must have at most {MAX_METERED_TIERS} tiers", "too_many"))
        return []
    before = len(issues)
    previous: Decimal | None = None
    for index, tier in enumerate(tiers):
        tier_path = (*path, str(index))
        last = index == len(tiers) - 1
        _check_tier_amount(issues, (*tier_path, "unitAmount"), tier.unit_amount)
        check_amount(issues, (*tier_path, "flatAmount"), tier.flat_amount, minimum=0, required=False)
        if tier.up_to is None:
            if not last:
                issues.append(FieldIssue((*tier_path, "upTo"), "only the last tier can be open-ended", "tier_open_ended"))
            continue
        if last:
            issues.append(FieldIssue((*tier_path, "upTo"), "the last tier must be open-ended (null)", "tier_not_open_ended"))
        if not _units_bound(tier.up_to):
            issues.append(FieldIssue((*tier_path, "upTo"), "must be a positive number of units (at most 12 decimal places)", "out_of_range"))
            continue
        if previous is not None and tier.up_to <= previous:
            issues.append(FieldIssue((*tier_path, "upTo"), f"must be greater than the previous tier's ({previous})", "tier_not_ascending"))
        previous = tier.up_to
    if len(issues) == before and all(t.unit_amount == 0 and not t.flat_amount for t in tiers):
        issues.append(FieldIssue(path, "every tier is free: use a unit amount or a free price", "all_free"))
    return list(tiers)


def _check_metered_pricing(issues: list[FieldIssue], path: tuple[str, ...], draft: PriceDraft, clean: PriceDraft) -> None:
    """A unit amount, or a tier mode with its tiers or package (and then no unit amount)."""
    if draft.tier_mode is None:
        clean.unit_amount = check_unit_amount(issues, (*path, "unitAmount"), draft.unit_amount)
        for name, value in (("tiers", draft.tiers or None), ("packageSize", draft.package_size), ("packageAmount", draft.package_amount)):
            if value is not None:
                issues.append(FieldIssue((*path, name), "needs a `tierMode`", "not_allowed"))
        return
    if draft.tier_mode not in TierMode.all:
        issues.append(FieldIssue((*path, "tierMode"), "must be graduated, volume or package", "invalid_value"))
        return
    clean.tier_mode = draft.tier_mode
    if draft.unit_amount is not None:
        issues.append(FieldIssue((*path, "unitAmount"), "a tiered price has no unit amount: the tiers price the units", "not_allowed"))
    if draft.tier_mode == TierMode.package:
        if draft.tiers:
            issues.append(FieldIssue((*path, "tiers"), "a package price has no tiers", "not_allowed"))
        clean.package_size = check_amount(issues, (*path, "packageSize"), draft.package_size, minimum=1)
        clean.package_amount = check_amount(issues, (*path, "packageAmount"), draft.package_amount, minimum=1)
        return
    for name, value in (("packageSize", draft.package_size), ("packageAmount", draft.package_amount)):
        if value is not None:
            issues.append(FieldIssue((*path, name), "only a package price has one", "not_allowed"))
    clean.tiers = _check_metered_tiers(issues, (*path, "tiers"), draft.tiers)


def _check_price_fields(issues: list[FieldIssue], path: tuple[str, ...], draft: PriceDraft) -> PriceDraft:
    """The fields of one price, on their own. `path` points at the price's oneOf member."""
    if draft.type not in INPUT_MEMBER:
        issues.append(FieldIssue(path, "is not a price type", "invalid_type"))
        return draft
    clean = PriceDraft(type=draft.type, currency=check_currency(issues, (*path, "currency"), draft.currency))
    if draft.type == PriceType.fixed.value:
        clean.amount = check_amount(issues, (*path, "amount"), draft.amount, minimum=1)
    elif draft.type == PriceType.custom.value:
        minimum = check_amount(issues, (*path, "minimumAmount"), draft.minimum_amount, minimum=0)
        maximum = check_amount(issues, (*path, "maximumAmount"), draft.maximum_amount, minimum=0, required=False)
        preset = check_amount(issues, (*path, "presetAmount"), draft.preset_amount, minimum=0, required=False)
        if minimum is not None and maximum is not None and maximum < minimum:
            issues.append(FieldIssue((*path, "maximumAmount"), "must be at least `minimumAmount`", "less_than_minimum"))
        if preset is not None:
            if minimum is not None and preset < minimum:
                issues.append(FieldIssue((*path, "presetAmount"), "must be at least `minimumAmount`", "out_of_bounds"))
            elif maximum is not None and preset > maximum:
                issues.append(FieldIssue((*path, "presetAmount"), "must be at most `maximumAmount`", "out_of_bounds"))
        clean.minimum_amount, clean.maximum_amount, clean.preset_amount = minimum, maximum, preset
    elif draft.type == PriceType.metered_unit.value:
        if draft.meter_id is None:
            issues.append(FieldIssue((*path, "meterId"), "is required", "required"))
        clean.meter_id = draft.meter_id
        _check_metered_pricing(issues, path, draft, clean)
        clean.cap_amount = check_amount(issues, (*path, "capAmount"), draft.cap_amount, minimum=1, required=False)
        clean.wallet_enabled = bool(draft.wallet_enabled)
    elif draft.type == PriceType.seat_unit.value:
        _check_seat_tiers(issues, (*path, "tiers"), draft.seat_tiers)
        clean.seat_tiers = list(draft.seat_tiers)
    return clean


def _check_composition(
    issues: list[FieldIssue],
    product: Product | ProductDraft,
    kept: Sequence[ProductPrice],
    added: Sequence[tuple[tuple[str, ...], PriceDraft]],
) -> None:
    """The rules on the set of active prices a product would have: the `kept` ones plus `added`."""
    if len(kept) + len(added) > MAX_ACTIVE_PRICES:
        path = ("prices",) if isinstance(product, ProductDraft) else ("price",)
        issues.append(FieldIssue(path, f"a product has at most {MAX_ACTIVE_PRICES} active prices", "too_many"))
    currency = kept[0].currency if kept else (added[0][1].currency if added else None)
    base_taken = next((p.type for p in kept if p.type in BASE_PRICE_TYPES), None)
    seat_kept = base_taken == PriceType.seat_unit.value
    meters_taken = {p.meter_id for p in kept if p.meter_id is not None}
    total = len(kept) + len(added)
    for path, price in added:
        if price.currency != currency:
            issues.append(
                FieldIssue((*path, "currency"), f"must be {currency!r}, the currency of the product's other prices", "currency_mismatch")
            )
        if price.type == PriceType.metered_unit.value and product.recurring_interval is None:
            issues.append(
                FieldIssue(path, "a one-time product cannot have metered prices: usage is billed per period", "metered_on_one_time")
            )
        if price.type in BASE_PRICE_TYPES:
            if base_taken is not None:
                issues.append(
                    FieldIssue(
                        path,
                        f"the product already has a {base_taken} price; a product has one fixed, custom, free or "
                        "seat price (plus metered prices): archive the other one in the same call",
                        "multiple_base_prices",
                    )
                )
            elif price.type == PriceType.seat_unit.value and total > 1:
                issues.append(FieldIssue(path, "a seat price must be the product's only active price", "seat_price_not_alone"))
            base_taken = base_taken or price.type
        elif seat_kept:
            issues.append(FieldIssue(path, "the product has a seat price, which must be its only active price", "seat_price_not_alone"))
        if price.meter_id is not None:
            if price.meter_id in meters_taken:
                issues.append(FieldIssue((*path, "meterId"), "the product already has a price on this meter", "duplicate_meter"))
            meters_taken.add(price.meter_id)


async def _check_meters(
    session: AsyncSession, issues: list[FieldIssue], scope: TenantScope, added: Iterable[tuple[tuple[str, ...], PriceDraft]]
) -> None:
    metered = [(path, price) for path, price in added if price.meter_id is not None]
    meters = {m.id: m for m in await repository.get_meters(session, scope, [p.meter_id for _, p in metered])}
    for path, price in metered:
        meter = meters.get(price.meter_id)
        if meter is None:
            issues.append(FieldIssue((*path, "meterId"), "no such meter in this organization", "not_found"))
        elif meter.archived_at is not None:
            issues.append(FieldIssue((*path, "meterId"), "the meter is archived", "meter_archived"))
        elif price.wallet_enabled and meter.aggregation.get("func") not in WALLET_AGGREGATIONS:
            issues.append(
                FieldIssue(
                    (*path, "walletEnabled"),
                    "a price paid from the wallet needs a meter that counts events or sums a property (COUNT or SUM)",
                    "wallet_aggregation",
                )
            )


def _price_row(scope: TenantScope, product_id: uuid.UUID, draft: PriceDraft) -> ProductPrice:
    return ProductPrice(
        id=uuid.uuid4(),
        organization_id=scope.organization_id,
        product_id=product_id,
        type=draft.type,
        currency=draft.currency,
        amount=draft.amount,
        minimum_amount=draft.minimum_amount,
        maximum_amount=draft.maximum_amount,
        preset_amount=draft.preset_amount,
        meter_id=draft.meter_id,
        unit_amount=draft.unit_amount,
        cap_amount=draft.cap_amount,
        wallet_enabled=draft.wallet_enabled,
        seat_tiers=[
            {"min_seats": t.min_seats, "max_seats": t.max_seats, "price_per_seat": t.price_per_seat} for t in draft.seat_tiers
        ]
        if draft.type == PriceType.seat_unit.value
        else None,
        tier_mode=draft.tier_mode,
        tiers=[
            {"up_to": None if t.up_to is None else decimal_text(t.up_to), "unit_amount": decimal_text(t.unit_amount), "flat_amount": t.flat_amount or 0}
            for t in draft.tiers
        ]
        if draft.tier_mode in (TierMode.graduated, TierMode.volume)
        else None,
        package_size=draft.package_size,
        package_amount=draft.package_amount,
    )


# -- products ------------------------------------------------------------------------------


async def create_product(session: AsyncSession, subject: Subject, draft: ProductDraft) -> Product:
    """A product with its first prices, in one go."""
    issues: list[FieldIssue] = []
    name = check_text(issues, ("name",), draft.name, max_length=NAME_MAX_LENGTH, required=True)
    description = check_text(issues, ("description",), draft.description, max_length=DESCRIPTION_MAX_LENGTH, free_text=True)
    metadata = check_metadata(issues, ("metadata",), draft.metadata)
    if draft.recurring_interval is not None and draft.recurring_interval not in {i.value for i in RecurringInterval}:
        issues.append(FieldIssue(("recurringInterval",), "must be month, year or null (one-time)", "invalid_value"))
    trial_days = _check_trial_days(issues, draft.trial_days, draft.recurring_interval is not None)
    if not draft.prices:
        issues.append(FieldIssue(("prices",), "a product needs at least one price", "required"))
    added: list[tuple[tuple[str, ...], PriceDraft]] = []
    for index, price in enumerate(draft.prices):
        path = ("prices", str(index), INPUT_MEMBER.get(price.type, price.type))
        added.append((path, _check_price_fields(issues, path, price)))
    _check_composition(issues, draft, [], added)
    await _check_meters(session, issues, subject.scope, added)
    if issues:
        raise ValidationFailed(issues)

    product = Product(
        id=uuid.uuid4(),
        organization_id=subject.organization_id,
        name=name,
        description=description,
        recurring_interval=draft.recurring_interval,
        trial_days=trial_days,
        user_metadata=metadata,
    )
    session.add(product)
    await session.flush()
    session.add_all([_price_row(subject.scope, product.id, price) for _path, price in added])
    await session.flush()
    return product


async def update_product(
    session: AsyncSession, subject: Subject, product_id: uuid.UUID, changes: Mapping[str, Any]
) -> Product:
    """Apply the given fields only (name, description, metadata, trial days: checkouts created
    from now on offer the new trial); the recurring interval is fixed."""
    product = await repository.get(session, subject.scope, product_id, for_update=True)
    if product is None:
        raise NotFound("Product not found")
    issues: list[FieldIssue] = []
    if "name" in changes:
        name = check_text(issues, ("name",), changes["name"], max_length=NAME_MAX_LENGTH, required=True)
        if name is not None:
            product.name = name
    if "description" in changes:
        product.description = check_text(issues, ("description",), changes["description"], max_length=DESCRIPTION_MAX_LENGTH, free_text=True)
    if "metadata" in changes:
        product.user_metadata = check_metadata(issues, ("metadata",), changes["metadata"] or {})
    if "trial_days" in changes:
        before = len(issues)
        trial_days = _check_trial_days(issues, changes["trial_days"], product.is_recurring)
        if len(issues) == before:
            product.trial_days = trial_days
    if issues:
        raise ValidationFailed(issues)
    await session.flush()
    return product


async def archive_product(session: AsyncSession, subject: Subject, product_id: uuid.UUID) -> Product:
    """Take the product off sale; its prices stay as they are. Archiving twice is a no-op."""
    product = await repository.get(session, subject.scope, product_id, for_update=True)
    if product is None:
        raise NotFound("Product not found")
    if product.archived_at is None:
        product.archived_at = clock.now()
        await session.flush()
    return product


async def unarchive_product(session: AsyncSession, subject: Subject, product_id: uuid.UUID) -> Product:
    product = await repository.get(session, subject.scope, product_id, for_update=True)
    if product is None:
        raise NotFound("Product not found")
    if product.archived_at is not None:
        product.archived_at = None
        await session.flush()
    return product


# -- prices --------------------------------------------------------------------------------


async def _locked_product(session: AsyncSession, scope: TenantScope, product_id: uuid.UUID) -> Product:
    product = await repository.get(session, scope, product_id, for_update=True)
    if product is None:
        raise NotFound("Product not found")
    if product.archived_at is not None:
        raise ProductArchived(product.id)
    return product


async def create_price(
    session: AsyncSession,
    subject: Subject,
    product_id: uuid.UUID,
    draft: PriceDraft,
    *,
    archive_price_ids: Sequence[uuid.UUID] = (),
) -> ProductPrice:
    """Add a price to a product, archiving `archive_price_ids` (active prices of the same product)
    in the same step; the rules apply to the prices that remain active."""
    product = await _locked_product(session, subject.scope, product_id)
    active = await repository.list_prices_for_products(session, subject.scope, [product.id], active_only=True)
    active_by_id = {p.id: p for p in active}
    issues: list[FieldIssue] = []
    for index, price_id in enumerate(archive_price_ids):
        if price_id not in active_by_id:
            issues.append(FieldIssue(("archivePriceIds", str(index)), "is not an active price of this product", "not_found"))
    path = ("price", INPUT_MEMBER.get(draft.type, draft.type))
    clean = _check_price_fields(issues, path, draft)
    retiring = set(archive_price_ids)
    kept = [p for p in active if p.id not in retiring]
    _check_composition(issues, product, kept, [(path, clean)])
    await _check_meters(session, issues, subject.scope, [(path, clean)])
    if issues:
        raise ValidationFailed(issues)

    now = clock.now()
    for price_id in retiring:
        active_by_id[price_id].archived_at = now
    await session.flush()  # archive first: the partial unique indexes see only active prices
    price = _price_row(subject.scope, product.id, clean)
    session.add(price)
    await session.flush()
    return price


async def archive_price(session: AsyncSession, subject: Subject, price_id: uuid.UUID) -> ProductPrice:
    """Archive a price; the product keeps at least one active price. Archiving twice is a no-op."""
    price = await repository.get_price(session, subject.scope, price_id)
    if price is None:
        raise NotFound("Price not found")
    product = await _locked_product(session, subject.scope, price.product_id)
    active = await repository.list_prices_for_products(session, subject.scope, [product.id], active_only=True)
    if price.id not in {p.id for p in active}:  # already archived (maybe just now, by another call)
        await session.refresh(price)
        return price
    if len(active) == 1:
        raise LastActivePrice(price.id)
    price.archived_at = clock.now()
    await session.flush()
    return price
