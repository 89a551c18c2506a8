"""Access token scopes. Every query and mutation names the one it needs.

Each domain declares its own scopes, in its own package (`app/<domain>/scopes.py`:
`READ = declare("things:read", "Read things.")`); this module holds only the registry. The
entry points (`app/cli.py`, `app/server.py`, the workers) load every declaration at start
(`app.load_scope_declarations()`), so tokens are issued and checked against all of them.
"""

from __future__ import annotations


class Scope(str):
    """A scope name such as "customers:read", with what it allows."""

    description: str

    def __new__(cls, value: str, description: str) -> "Scope":
        scope = super().__new__(cls, value)
        scope.description = description
        return scope

    @property
    def value(self) -> str:
        return str.__str__(self)


_DECLARED: dict[str, Scope] = {}


def declare(value: str, description: str) -> Scope:
    """Declare a scope once (a second declaration of the same name must say the same)."""
    existing = _DECLARED.get(value)
    if existing is not None:
        if existing.description != description:
            raise ValueError(f"scope {value!r} is declared twice, differently")
        return existing
    scope = _DECLARED[value] = Scope(value, description)
    return scope


def all_scopes() -> list[Scope]:
    """Every declared scope, in declaration order. Empty only if nothing loaded the declarations:
    an error, not an empty answer (a token would silently get no scope)."""
    if not _DECLARED:
        raise RuntimeError("No scope is declared: call app.load_scope_declarations() at start")
    return list(_DECLARED.values())


# Not declared (no access token can hold it): the one scope of a checkout's client secret, for
# the customer's browser driving that checkout (app/auth/service.py).
CHECKOUT_CLIENT = Scope("checkouts:client", "Read and drive one checkout, with its client secret (the customer's browser).")
