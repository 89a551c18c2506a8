"""The `ErrorCode` enum: every code registered by the domains' `schema/<domain>/errors.py`.

This module imports each of them (add a new domain's here), then builds the enum; the `code`
field of `Error` (schema/kit/errors.py) refers to it lazily."""

from __future__ import annotations

import schema.auth.errors  # noqa: F401
import schema.catalog.errors  # noqa: F401
import schema.customers.errors  # noqa: F401
import schema.members.errors  # noqa: F401
import schema.meters.errors  # noqa: F401
from schema.kit.errors import error_code_enum

ErrorCode = error_code_enum()
