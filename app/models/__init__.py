"""ORM models, one module per aggregate. Importing this package registers every table."""

from app.kit.models import Base
from app.models.access_token import AccessToken
from app.models.customer import Customer, CustomerType
from app.models.member import Member, MemberRole
from app.models.job_failure import JobFailure
from app.models.organization import Organization
from app.models.webhook import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookEvent, WebhookEventType

__all__ = [
    "AccessToken",
    "Base",
    "Customer",
    "CustomerType",
    "JobFailure",
    "Member",
    "MemberRole",
    "Organization",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookEventType",
]
