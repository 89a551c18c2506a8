"""GraphQL layer of the product catalog."""
