"""Shared building blocks: database, models base, ids, pagination, dataloader batches, errors, tenant scoping."""
