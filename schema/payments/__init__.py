"""Payments in GraphQL: for now only the codes of their errors (the checkout and orders build on them)."""
