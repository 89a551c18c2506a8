"""Scope checks for root fields: `scoped(scope, description)` declares and enforces the scope."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import FieldExtension

from app.auth.scopes import Scope
from app.auth.subject import Subject


class AuthError(GraphQLError):
    """An authentication or permission failure, shown to the caller as is (never masked)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, extensions={"code": code})


def require(info: strawberry.Info, scope: Scope | None) -> Subject:
    """The caller, who must be authenticated and, unless `scope` is None, hold `scope`."""
    context = info.context
    if context.auth_error is not None:
        raise AuthError(context.auth_error.message, context.auth_error.code)
    if context.subject is None:
        raise AuthError("Authentication required: send 'Authorization: Bearer <access token>'", "UNAUTHENTICATED")
    if scope is not None and not context.subject.has_scope(scope.value):
        raise AuthError(f"This access token lacks the '{scope.value}' scope", "FORBIDDEN")
    return context.subject


class RequireScope(FieldExtension):
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def resolve(self, next_, source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        require(info, self.scope)
        return next_(source, info, **kwargs)

    async def resolve_async(self, next_, source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        require(info, self.scope)
        return await next_(source, info, **kwargs)


def scoped_field(scope: Scope, description: str, **kwargs: Any) -> Any:
    """A root query field that needs `scope`; the scope is written into its description."""
    return strawberry.field(
        description=f"{description} Requires the `{scope.value}` scope.", extensions=[RequireScope(scope)], **kwargs
    )


def scoped_mutation(scope: Scope, description: str, **kwargs: Any) -> Any:
    return strawberry.mutation(
        description=f"{description} Requires the `{scope.value}` scope.", extensions=[RequireScope(scope)], **kwargs
    )
