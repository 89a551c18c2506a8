"""Dataloaders grow by domain: the shared pieces name no domain, and each request builds its own
loaders lazily, one per factory."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import pkgutil
import uuid

import schema
from schema.kit.loaders import LoaderFactory, Loaders, by_id, by_parent

SHARED = ("schema.kit.loaders", "schema.context")
ALLOWED_PREFIXES = ("app.kit", "app.auth", "app.config", "schema.kit", "strawberry", "sqlalchemy", "typing", "dataclasses", "uuid", "__future__")


def _runtime_imports(module_name: str) -> set[str]:
    tree = ast.parse(inspect.getsource(importlib.import_module(module_name)))
    imported: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.If) and getattr(statement.test, "id", None) == "TYPE_CHECKING":
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
    return imported


def test_the_shared_loader_modules_name_no_domain():
    for module_name in SHARED:
        foreign = {name for name in _runtime_imports(module_name) if not name.startswith(ALLOWED_PREFIXES)}
        assert not foreign, f"{module_name} imports {sorted(foreign)}: a domain's loaders belong in schema/<domain>/loaders.py"


def test_every_loader_is_declared_beside_its_domain_types():
    declared = {
        id(value)
        for module in pkgutil.iter_modules(schema.__path__)
        if module.ispkg and importlib.util.find_spec(f"schema.{module.name}.loaders") is not None
        for value in vars(importlib.import_module(f"schema.{module.name}.loaders")).values()
        if isinstance(value, LoaderFactory)
    }
    assert declared
    for module in pkgutil.walk_packages(schema.__path__, "schema."):
        for name, value in vars(importlib.import_module(module.name)).items():
            if isinstance(value, LoaderFactory):
                assert id(value) in declared, f"{module.name}.{name}: declare loaders in schema/<domain>/loaders.py"


class _Context:
    subject = None
    db = None


async def _rows(session, organization_id, ids):  # never called: building a loader runs no batch
    raise AssertionError("no batch expected")


async def test_loaders_are_built_on_first_use_once_per_request():
    one, many = by_id(_rows), by_parent(_rows)
    first, second = Loaders(_Context()), Loaders(_Context())
    assert first._built == {}  # nothing is built before a resolver asks
    assert first.get(one) is first.get(one)
    assert first.get(one) is not first.get(many)
    assert first.get(one) is not second.get(one)  # each request has its own cache
    row = type("Row", (), {"id": uuid.uuid4()})()
    context = _Context()
    context.loaders = Loaders(context)
    one.prime(context, [row])
    assert context.loaders.get(one).cache_map.get(row.id).result() is row
