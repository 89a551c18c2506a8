"""The layers depend one way: `app/` (the domain) never imports the GraphQL layer (`schema/`) nor
the workers (`workers/`), except the two entry points that assemble everything; and inside `app/`
the packages depend one way too: each declares in its `__init__.py` the packages it may import
(`DEPENDS_ON`), and neither the declarations nor the imports make a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from app.config import PROJECT_ROOT

ENTRY_POINTS = {"app/cli.py", "app/server.py"}
UPPER_LAYERS = ("schema", "workers")


def _imported_modules(path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_the_domain_imports_neither_the_graphql_layer_nor_the_workers():
    offenders = []
    for path in sorted((PROJECT_ROOT / "app").rglob("*.py")):
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        if relative in ENTRY_POINTS:
            continue
        for line, module in _imported_modules(path):
            if module.split(".")[0] in UPPER_LAYERS:
                offenders.append(f"{relative}:{line} imports {module}")
    assert not offenders, offenders


def test_the_check_sees_an_offending_import(tmp_path):
    """The check itself can fail: an `app/` module importing `schema` is caught."""
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from schema.kit.errors import BadRequest\n    import workers.settings\n")
    assert [m for _, m in _imported_modules(module)] == ["schema.kit.errors", "workers.settings"]


# -- the packages of app/: one direction, no cycle -------------------------------------------------


def _package_of(root: Path, path: Path) -> str | None:
    """The app package a module belongs to (`app/meters/service.py` -> `meters`, `app/config.py` ->
    `config`); None for `app/__init__.py` and the entry points, which stand above everything."""
    parts = path.relative_to(root).with_suffix("").parts  # ("app", "meters", "service")
    if len(parts) == 2:
        return None if parts[1] == "__init__" or f"app/{parts[1]}.py" in ENTRY_POINTS else parts[1]
    return parts[1]


def _app_imports(root: Path, path: Path) -> list[tuple[int, str]]:
    """(line, app package) for every import of an app package in the module, at the top or in a
    function, absolute or relative (`from app import jobs` names the package `jobs`)."""
    package_parts = list(path.relative_to(root).parent.parts)  # the package the module is in
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [(node.lineno, alias.name.split(".")) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (node.module or "").split(".") if node.module else []
            if node.level:  # relative: from the module's package, `level - 1` packages up
                base = package_parts[: len(package_parts) - node.level + 1] + base
            names = [(node.lineno, base + [alias.name]) for alias in node.names] if base == ["app"] else [(node.lineno, base)]
        else:
            continue
        for line, name in names:
            if len(name) >= 2 and name[0] == "app":
                found.append((line, name[1]))
    return found


BOTTOM = frozenset({"kit", "models", "config"})  # shared pieces, ORM models, settings: they know no domain


def _declared(root: Path) -> dict[str, tuple[str, ...] | None]:
    """Each app package's `DEPENDS_ON` (read from its `__init__.py` without importing it; None
    where it declares none)."""
    declared: dict[str, tuple[str, ...] | None] = {}
    for init in sorted((root / "app").glob("*/__init__.py")):
        package = init.parent.name
        declared[package] = None
        for node in ast.parse(init.read_text(), filename=str(init)).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            if any(isinstance(t, ast.Name) and t.id == "DEPENDS_ON" for t in targets) and node.value is not None:
                declared[package] = tuple(ast.literal_eval(node.value))
    return declared


def _layer_check(root: Path) -> tuple[list[str], list[str], list[str]]:
    """(packages without a declaration, imports against the declarations, cycles between
    packages) of the tree `root/app`."""
    declared = _declared(root)
    undeclared = {package for package, depends in declared.items() if depends is None and package not in BOTTOM}
    graph: dict[str, set[str]] = {
        package: set(depends) for package, depends in declared.items() if depends and package not in BOTTOM
    }
    against = []
    for path in sorted((root / "app").rglob("*.py")):
        package = _package_of(root, path)
        if package is None:
            continue
        for line, imported in _app_imports(root, path):
            if imported == package or not ((root / "app" / imported).exists() or (root / "app" / f"{imported}.py").exists()):
                continue
            if package in BOTTOM:
                allowed = imported in BOTTOM
            else:
                allowed = imported in BOTTOM or imported in (declared.get(package) or ())
            if not allowed:
                graph.setdefault(package, set()).add(imported)
                where = f"{path.relative_to(root).as_posix()}:{line}"
                rule = "the bottom (kit, models, config) knows no domain" if package in BOTTOM else f"not in app/{package}/__init__.py DEPENDS_ON"
                against.append(f"{where}: {package} imports {imported}: {rule}")
    return sorted(undeclared), against, _cycles(graph)


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """Each group of packages that import each other (strongly connected, more than one
    package), with one cycle in it as a closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(set(graph) | {t for targets in graph.values() for t in targets}):
        if node not in index:
            visit(node)
    cycles = []
    for group in groups:  # walk from the first member inside the group until a package repeats
        path, members = [group[0]], set(group)
        while path.count(path[-1]) < 2:
            path.append(min(t for t in graph[path[-1]] if t in members))
        cycles.append(f"{', '.join(group)} (e.g. {' -> '.join(path[path.index(path[-1]):])})")
    return cycles


def test_the_app_packages_depend_one_way_as_each_declares():
    undeclared, against, cycles = _layer_check(PROJECT_ROOT)
    assert not undeclared, f"declare DEPENDS_ON in these packages' __init__.py: {undeclared}"
    assert not cycles, f"import cycles between app packages: {cycles}"
    assert not against, against


def test_the_layer_check_sees_cycles_and_imports_against_the_declarations(tmp_path):
    """The check itself can fail: a cycle hidden in a function, an upward import from the bottom,
    a relative import of an undeclared package, a cycle of declarations and an undeclared package
    are all caught."""
    files = {
        "app/__init__.py": "",
        "app/config.py": "",
        "app/kit/__init__.py": "",
        "app/kit/jobs.py": "def f():\n    from app.customers import service\n",
        "app/customers/__init__.py": "DEPENDS_ON = ('meters',)\n",
        "app/customers/service.py": "from app.meters import service as meters\n",
        "app/meters/__init__.py": "DEPENDS_ON = ()\n",
        "app/meters/service.py": "import app.kit.jobs\n\ndef f():\n    from app.customers import repository\n",
        "app/webhooks/__init__.py": "DEPENDS_ON = ('catalog',)\n",
        "app/webhooks/service.py": "from ..catalog import repository\nfrom app import meters\n",
        "app/catalog/__init__.py": "DEPENDS_ON = ('webhooks',)\n",
        "app/catalog/repository.py": "from app.config import PROJECT_ROOT\n",
        "app/stray/__init__.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    undeclared, against, cycles = _layer_check(tmp_path)
    assert undeclared == ["stray"]
    assert sorted(cycles) == [
        "catalog, webhooks (e.g. catalog -> webhooks -> catalog)",
        "customers, meters (e.g. customers -> meters -> customers)",
    ]
    assert against == [
        "app/kit/jobs.py:2: kit imports customers: the bottom (kit, models, config) knows no domain",
        "app/meters/service.py:4: meters imports customers: not in app/meters/__init__.py DEPENDS_ON",
        "app/webhooks/service.py:2: webhooks imports meters: not in app/webhooks/__init__.py DEPENDS_ON",
    ]


def test_a_new_domains_errors_and_models_are_found_without_a_shared_list():
    """`schema/error_codes.py` imports every `schema/<domain>/errors.py`, and `app.models` every
    model module, by looking: a new domain adds its own files and edits neither."""
    import sys

    import app.models  # noqa: F401
    import schema.error_codes  # noqa: F401

    error_modules = {f"schema.{p.parent.name}.errors" for p in (PROJECT_ROOT / "schema").glob("*/errors.py")}
    model_modules = {f"app.models.{p.stem}" for p in (PROJECT_ROOT / "app" / "models").glob("*.py") if p.stem != "__init__"}
    assert error_modules and model_modules
    assert not (error_modules | model_modules) - set(sys.modules)


def test_node_and_scopes_are_found_per_package():
    """`node(id:)` resolvers and read scopes come from each schema package (`nodes.py`,
    `READ_SCOPE` in `__init__.py`): no shared list to edit. Every package with types has a scope."""
    from schema.kit.nodes import node_resolvers
    from schema.kit.scopes import PACKAGE_SCOPES

    assert {"Customer", "Member", "Organization", "Product", "ProductPrice", "Meter", "WebhookEndpoint", "WebhookEvent"} <= set(node_resolvers())
    with_types = {f"schema.{p.parent.name}" for p in (PROJECT_ROOT / "schema").glob("*/types.py") if p.parent.name != "kit"}
    assert with_types <= set(PACKAGE_SCOPES), with_types - set(PACKAGE_SCOPES)


def test_every_domains_scopes_are_declared_in_its_own_package():
    """Access token scopes are declared by each domain (`app/<domain>/scopes.py`) and found by
    `app.load_scope_declarations()`: a new domain edits no shared list of scopes."""
    import sys

    from app import load_scope_declarations
    from app.auth.scopes import all_scopes

    load_scope_declarations()
    modules = {f"app.{p.parent.name}.scopes" for p in (PROJECT_ROOT / "app").glob("*/scopes.py") if p.parent.name != "auth"}
    assert modules and not modules - set(sys.modules)
    values = [scope.value for scope in all_scopes()]
    assert len(values) == len(set(values)) and {"customers:read", "discounts:write"} <= set(values)
