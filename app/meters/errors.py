from __future__ import annotations

from app.kit.errors import KassaError


class MeterArchived(KassaError):
    code = "METER_ARCHIVED"
