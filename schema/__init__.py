"""The GraphQL layer: types, inputs, queries, mutations and dataloaders. Exports `schema`."""

from __future__ import annotations

from functools import lru_cache

import strawberry
from graphql import GraphQLError
from strawberry.extensions import AddValidationRules, MaskErrors, MaxAliasesLimiter, MaxTokensLimiter, ParserCache, QueryDepthLimiter, ValidationCache

from strawberry.schema.config import StrawberryConfig

from app.config import Settings, get_settings
from app.kit.request_ids import log_unexpected
from schema.catalog.mutations import CatalogMutations
from schema.catalog.queries import CatalogQueries
from schema.catalog.types import PRICE_TYPES
from schema.checkouts.mutations import CheckoutMutations
from schema.checkouts.queries import CheckoutQueries
from schema.customers.mutations import CustomerMutations
from schema.customers.queries import CustomerQueries
from schema.customers.types import BusinessCustomer, IndividualCustomer
from schema.discounts.mutations import DiscountMutations
from schema.discounts.queries import DiscountQueries
from schema.events.mutations import EventMutations
from schema.events.queries import EventQueries
from schema.kit.cost import CostEstimator, QueryCostLimiter
from schema.kit.nodes import NodeQueries
from schema.kit.scalars import SCALAR_MAP
from schema.kit.scopes import guard_nested_scopes
from schema.live.operations import Live
from schema.members.mutations import MemberMutations
from schema.members.queries import MemberQueries
from schema.meters.mutations import MeterMutations
from schema.meters.queries import MeterQueries
from schema.orders.mutations import OrderMutations
from schema.orders.queries import OrderQueries
from schema.organizations.mutations import OrganizationMutations
from schema.organizations.queries import OrganizationQueries
from schema.subscriptions.mutations import SubscriptionMutations
from schema.subscriptions.queries import SubscriptionQueries
from schema.webhooks.mutations import WebhookMutations
from schema.webhooks.queries import WebhookQueries
from schema.wallets.holds import WalletHoldMutations, WalletHoldQueries
from schema.wallets.mutations import WalletMutations
from schema.wallets.queries import WalletQueries


@strawberry.type(description="Everything a merchant can read.")
class Query(NodeQueries, OrganizationQueries, CustomerQueries, MemberQueries, WebhookQueries, CatalogQueries, MeterQueries, EventQueries, DiscountQueries, CheckoutQueries, OrderQueries, SubscriptionQueries, WalletQueries, WalletHoldQueries):
    pass


@strawberry.type(description="Everything a merchant can change. Each mutation takes one `input` and returns a union of its success payload and typed errors.")
class Mutation(CustomerMutations, MemberMutations, WebhookMutations, CatalogMutations, MeterMutations, OrganizationMutations, EventMutations, DiscountMutations, CheckoutMutations, OrderMutations, SubscriptionMutations, WalletMutations, WalletHoldMutations):
    pass


def _should_mask(error: GraphQLError) -> bool:
    """Mask unexpected exceptions only; GraphQL errors raised on purpose carry a code."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    return True


class KassaSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context=None) -> None:
        """Log unexpected exceptions only, with the request id the response carries; a caller's
        mistake (bad query, bad token) is not ours."""
        for error in errors:
            if _should_mask(error):
                log_unexpected(error.original_error, f"GraphQL field {'.'.join(map(str, error.path or []))}")


@lru_cache(maxsize=8)
def build_schema(settings: Settings) -> strawberry.Schema:
    # The limiters' validation rules are built once: the validation cache is keyed by the rule
    # classes, and a limiter built per request makes new ones (the cache would never hit).
    rules = [
        *QueryDepthLimiter(max_depth=settings.graphql_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases).validation_rules,
    ]
    # The cost limit needs the variables (`first: $first`), so it runs after validation, before
    # execution; its estimator (and cache) is built once per schema.
    estimator = CostEstimator(
        max_cost=settings.graphql_max_cost,
        assumed_list_size=settings.graphql_assumed_list_size,
        default_page_size=settings.page_size_max,
    )
    extensions = [
        lambda: AddValidationRules(rules),
        lambda: QueryCostLimiter(estimator),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        ParserCache,
        ValidationCache,
    ]
    if not settings.debug:
        extensions.append(lambda: MaskErrors(should_mask_error=_should_mask))
    return guard_nested_scopes(KassaSchema(
        query=Query,
        mutation=Mutation,
        subscription=Live,  # not `Subscription`: that is the billing object
        types=[IndividualCustomer, BusinessCustomer, *PRICE_TYPES],
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    ))


schema = build_schema(get_settings())
