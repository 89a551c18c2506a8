"""Scope checks for root fields: `scoped(scope, description)` declares and enforces the scope."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import FieldExtension

from app.auth.scopes import Scope
from app.auth.subject import Subject
from schema.kit.errors import DomainErrorsAsMembers


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
    """A mutation that needs `scope`; a domain error its resolver raises is a member of its union."""
    return strawberry.mutation(
        description=f"{description} Requires the `{scope.value}` scope.",
        extensions=[RequireScope(scope), DomainErrorsAsMembers()],
        **kwargs,
    )


# ---------------------------------------------------------------------------------------------
# Scopes of nested fields.
#
# Every object type belongs to the read scope of the schema package that defines it (a type of
# `schema/meters/` belongs to `meters:read`, a mutation payload of `schema/customers/` to
# `customers:read`, a `Connection[Product]` to its items' scope). A field whose type belongs to
# another scope than its parent type's requires that scope: without it the field is null with a
# FORBIDDEN error, and the rest of the response stays. Root fields state their own scope
# (`scoped_field`, `scoped_mutation`); a mutation's payload types live in the mutation's package,
# so a write scope reads what its mutation returns, and edges from there to another domain need
# that domain's read scope. The check is a dictionary lookup in the token's scopes: no SQL.

def _package_scopes() -> dict[str, Scope]:
    """Each schema package's `READ_SCOPE`, declared in its `__init__.py` (found by looking: a new
    domain edits nothing here)."""
    import importlib
    import pkgutil

    import schema

    found: dict[str, Scope] = {}
    for module in pkgutil.iter_modules(schema.__path__):
        if module.ispkg:
            package = importlib.import_module(f"schema.{module.name}")
            scope = getattr(package, "READ_SCOPE", None)
            if scope is not None:
                found[f"schema.{module.name}"] = scope
    return found


PACKAGE_SCOPES: dict[str, Scope] = _package_scopes()
# Shared building blocks (Money, PageInfo, errors, Node): no scope of their own. A field of one of
# them that leads into a domain requires that domain's scope (a generic Connection/Edge takes the
# scope of its items instead).
NEUTRAL_PACKAGES = ("schema.kit",)


class ScopeDeclarationError(TypeError):
    """The schema has a type without a scope, or an edge whose scope cannot be checked."""


_MIXED = object()  # an abstract type whose possible types belong to several scopes


def _scope_of_class(cls: type) -> Scope | None:
    module = cls.__module__
    package = ".".join(module.split(".")[:2])
    if package in PACKAGE_SCOPES:
        return PACKAGE_SCOPES[package]
    if package in NEUTRAL_PACKAGES:
        return None
    raise ScopeDeclarationError(
        f"GraphQL type {cls.__name__} ({module}) belongs to no scope: declare READ_SCOPE in its package's __init__.py, or list the package "
        "in NEUTRAL_PACKAGES (schema/kit/scopes.py)"
    )


def _scope_of_named_type(graphql_type: Any) -> Any:
    """The scope of an object, interface or union type (None: neutral; _MIXED: several)."""
    from graphql import GraphQLUnionType

    if isinstance(graphql_type, GraphQLUnionType):
        scopes = {_scope_of_named_type(member) for member in graphql_type.types} - {None}
        return scopes.pop() if len(scopes) == 1 else (_MIXED if scopes else None)
    definition = graphql_type.extensions["strawberry-definition"]
    if definition.concrete_of is not None and definition.type_var_map:  # Connection[Product], Edge[Product]
        from strawberry.types.lazy_type import LazyType

        args = [arg.resolve_type() if isinstance(arg, LazyType) else arg for arg in definition.type_var_map.values()]  # Connection[lazy X]
        scopes = {_scope_of_class(arg) for arg in args if isinstance(arg, type)} - {None}
        return scopes.pop() if len(scopes) == 1 else (_MIXED if scopes else None)
    return _scope_of_class(definition.origin)


def type_scopes(graphql_schema: Any) -> dict[str, Scope | None]:
    """Every object, interface and union type of the schema (roots aside) and its scope.
    An interface whose implementations span several scopes (`Node`, `Error`) maps to None here
    and cannot be the type of a nested field."""
    from graphql import GraphQLInterfaceType, GraphQLObjectType, GraphQLUnionType

    roots = _root_names(graphql_schema)
    result: dict[str, Scope | None] = {}
    for name, graphql_type in graphql_schema.type_map.items():
        if name.startswith("__") or name in roots:
            continue
        if isinstance(graphql_type, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
            scope = _scope_of_named_type(graphql_type)
            result[name] = None if scope is _MIXED else scope
    return result


def _root_names(graphql_schema: Any) -> set[str]:
    roots = (graphql_schema.query_type, graphql_schema.mutation_type, graphql_schema.subscription_type)
    return {root.name for root in roots if root is not None}


def _field_scope(graphql_schema: Any, field_type: Any) -> Any:
    """The scope a field's values belong to, from its (unwrapped) type; None for leaves and
    neutral types. An abstract type counts every type it can resolve to."""
    from graphql import GraphQLInterfaceType, GraphQLObjectType, GraphQLUnionType, get_named_type

    named = get_named_type(field_type)
    if isinstance(named, GraphQLInterfaceType):
        scopes = {_scope_of_named_type(named)} | {_scope_of_named_type(t) for t in graphql_schema.get_possible_types(named)}
        scopes.discard(None)
        return scopes.pop() if len(scopes) == 1 else (_MIXED if scopes else None)
    if isinstance(named, (GraphQLObjectType, GraphQLUnionType)):
        return _scope_of_named_type(named)
    return None


def scoped_edges(graphql_schema: Any) -> list[tuple[str, str, Scope]]:
    """Every nested field that leads into another scope than its parent's: (parent type name,
    field name, the scope the field requires). Raises ScopeDeclarationError for a type without a
    scope, an edge into several scopes at once, or a non-null edge (a refusal must leave the rest
    of the response intact)."""
    from graphql import GraphQLInterfaceType, GraphQLNonNull, GraphQLObjectType

    roots = _root_names(graphql_schema)
    edges = []
    for name, parent in graphql_schema.type_map.items():
        if name.startswith("__") or name in roots or not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            continue
        parent_scope = _scope_of_named_type(parent)
        for field_name, field in parent.fields.items():
            child_scope = _field_scope(graphql_schema, field.type)
            if child_scope is None or child_scope == parent_scope:
                continue
            if child_scope is _MIXED or parent_scope is _MIXED:
                raise ScopeDeclarationError(f"{name}.{field_name} leads into several scopes: give it a type of one domain")
            if isinstance(field.type, GraphQLNonNull):
                raise ScopeDeclarationError(
                    f"{name}.{field_name} needs the `{child_scope.value}` scope, so it must be nullable: "
                    "a token without that scope gets null there and the rest of the response"
                )
            edges.append((name, field_name, child_scope))
    return edges


def _guard(resolve: Any, scope: Scope, where: str) -> Any:
    scope_value = scope.value

    def guarded(source: Any, info: Any, **kwargs: Any) -> Any:
        subject = info.context.subject
        if subject is None:
            require(info, None)  # the same authentication error as a root field
        if scope_value not in subject.scopes:
            raise AuthError(f"This access token lacks the '{scope_value}' scope (needed for {where})", "FORBIDDEN")
        return resolve(source, info, **kwargs)

    return guarded


def guard_nested_scopes(schema: Any) -> Any:
    """Enforce the scope of every nested field that crosses into another scope, and say so in its
    description. Called once on the built schema; returns it. Also records `schema.type_scopes`
    (type name -> scope), which `node(id:)` uses."""
    from graphql import default_field_resolver

    graphql_schema = schema._schema
    schema.type_scopes = type_scopes(graphql_schema)
    for type_name, field_name, scope in scoped_edges(graphql_schema):
        field = graphql_schema.type_map[type_name].fields[field_name]
        field.resolve = _guard(field.resolve or default_field_resolver, scope, f"{type_name}.{field_name}")
        note = f"Needs the `{scope.value}` scope (null and a FORBIDDEN error without it)."
        if note not in (field.description or ""):
            field.description = f"{field.description} {note}" if field.description else note
    return schema
