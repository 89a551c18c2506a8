from __future__ import annotations

import uuid

from app.kit.errors import KassaError


class ProductArchived(KassaError):
    """The product is archived: its prices cannot change until it is unarchived."""

    code = "PRODUCT_ARCHIVED"

    def __init__(self, product_id: uuid.UUID) -> None:
        super().__init__("The product is archived; unarchive it before changing its prices")
        self.product_id = product_id


class LastActivePrice(KassaError):
    """A product keeps at least one active price: add the replacement first, then archive the old one."""

    code = "LAST_ACTIVE_PRICE"

    def __init__(self, price_id: uuid.UUID) -> None:
        super().__init__(
            "This is the product's last active price; add its replacement first, or archive the product instead"
        )
        self.price_id = price_id
