from __future__ import annotations

from app.kit.errors import FieldIssue, ValidationFailed


class WebhookUrlNotAllowed(ValidationFailed):
    """The URL is not https, or points at a loopback, private or link-local address."""

    def __init__(self, reason: str) -> None:
        super().__init__([FieldIssue(("url",), reason, "url_not_allowed")])
