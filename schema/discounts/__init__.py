"""GraphQL layer of discounts and tax rates."""
