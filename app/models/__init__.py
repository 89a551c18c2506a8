"""ORM models, one module per aggregate. Importing this package registers every table: every
module in it is imported (a new domain's module registers its tables without a change here; its
code may import its models from their module), and the models of the first domains are also
named here for short imports."""

import importlib as _importlib
import pkgutil as _pkgutil

from app.kit.models import Base
from app.models.access_token import AccessToken
from app.models.customer import Customer, CustomerType
from app.models.customer_meter import CustomerMeter, CustomerMeterMember, CustomerMeterState, MeterDistinctValue
from app.models.event import Event, EventSource
from app.models.member import Member, MemberRole
from app.models.meter import Meter
from app.models.job_failure import JobFailure
from app.models.job_outbox import JobOutbox
from app.models.organization import Organization
from app.models.product import BASE_PRICE_TYPES, PriceType, Product, ProductPrice, RecurringInterval
from app.models.webhook import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookEvent, WebhookEventType

__all__ = [
    "AccessToken",
    "Base",
    "Customer",
    "CustomerMeter",
    "CustomerMeterMember",
    "CustomerMeterState",
    "CustomerType",
    "Event",
    "EventSource",
    "JobFailure",
    "JobOutbox",
    "Member",
    "MemberRole",
    "Meter",
    "MeterDistinctValue",
    "Organization",
    "BASE_PRICE_TYPES",
    "PriceType",
    "Product",
    "ProductPrice",
    "RecurringInterval",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookEventType",
]

for _module in _pkgutil.iter_modules(__path__):
    _importlib.import_module(f"{__name__}.{_module.name}")
