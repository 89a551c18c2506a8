"""The per-request GraphQL context: settings, the session gate, the caller, the dataloaders
(built lazily from the factories each domain declares, see schema.kit.loaders)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.auth.errors import AuthenticationFailed
from app.auth.subject import Subject
from app.config import Settings
from app.kit.db import SessionGate
from schema.kit.loaders import Loaders


@dataclass
class Context:
    settings: Settings
    db: SessionGate
    subject: Subject | None
    queue: Any = None
    auth_error: AuthenticationFailed | None = None
    operation_type: str | None = None  # "query" or "mutation", set before execution (schema.kit.cost)
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self)
