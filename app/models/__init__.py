"""ORM models, one module per aggregate. Importing this package registers every table."""

from app.kit.models import Base
from app.models.access_token import AccessToken
from app.models.customer import Customer, CustomerType
from app.models.member import Member, MemberRole
from app.models.organization import Organization

__all__ = ["AccessToken", "Base", "Customer", "CustomerType", "Member", "MemberRole", "Organization"]
