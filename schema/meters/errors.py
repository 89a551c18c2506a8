"""Meter errors and their GraphQL form."""

from __future__ import annotations

import strawberry

from app.meters.errors import MeterArchived
from schema.kit.errors import Error, register_error


@strawberry.type(description="The meter is archived: it counts nothing until it is unarchived.")
class MeterArchivedError(Error):
    pass


register_error(
    MeterArchived,
    "The meter is archived: it counts nothing until it is unarchived.",
    MeterArchivedError,
    lambda e: MeterArchivedError(message=e.message, code=e.code),
)
