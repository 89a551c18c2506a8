"""Shared building blocks: database, models base, ids, pagination, errors, tenant scoping."""
