"""The layers depend one way: `app/` (the domain) never imports the GraphQL layer (`schema/`) nor
the workers (`workers/`), except the two entry points that assemble everything; and inside `app/`
the packages depend one way too, in the order `app.LAYERS` declares, without a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from app import LAYERS
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


def _layer_check(root: Path, layers: tuple[tuple[str, ...], ...]) -> tuple[list[str], list[str], list[str]]:
    """(undeclared packages, imports against the order, cycles between packages) of the tree `root/app`."""
    rank = {package: index for index, layer in enumerate(reversed(layers)) for package in layer}  # bottom = 0
    bottom = set(layers[-1])
    graph: dict[str, set[str]] = {}  # package -> the packages it imports
    against, undeclared = [], set()
    for path in sorted((root / "app").rglob("*.py")):
        package = _package_of(root, path)
        if package is None:
            continue
        if package not in rank:
            undeclared.add(package)
            continue
        for line, imported in _app_imports(root, path):
            if imported not in rank:
                if (root / "app" / imported).exists():
                    undeclared.add(imported)
                continue
            if imported == package or (package in bottom and imported in bottom):
                continue
            graph.setdefault(package, set()).add(imported)
            if rank[imported] >= rank[package]:
                where = f"{path.relative_to(root).as_posix()}:{line}"
                against.append(f"{where}: {package} imports {imported}, which is not below it in app.LAYERS")
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


def test_the_app_packages_depend_one_way_in_the_declared_order():
    undeclared, against, cycles = _layer_check(PROJECT_ROOT, LAYERS)
    assert not undeclared, f"put these app packages into app.LAYERS: {undeclared}"
    assert not cycles, f"import cycles between app packages: {cycles}"
    assert not against, against


def test_the_layer_check_sees_cycles_and_imports_against_the_order(tmp_path):
    """The check itself can fail: a cycle hidden in a function, an upward import from the bottom,
    a relative import beside its own layer and an undeclared package are all caught."""
    files = {
        "app/__init__.py": "",
        "app/config.py": "",
        "app/kit/__init__.py": "",
        "app/kit/jobs.py": "def f():\n    from app.customers import service\n",
        "app/customers/__init__.py": "",
        "app/customers/service.py": "from app.meters import service as meters\n",
        "app/meters/__init__.py": "",
        "app/meters/service.py": "import app.kit.jobs\n\ndef f():\n    from app.customers import repository\n",
        "app/webhooks/__init__.py": "",
        "app/webhooks/service.py": "from ..catalog import repository\nfrom app import meters\n",
        "app/catalog/__init__.py": "",
        "app/catalog/repository.py": "from app.config import PROJECT_ROOT\n",
        "app/stray/__init__.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    layers = (("customers",), ("meters",), ("webhooks", "catalog"), ("kit", "models", "config"))
    undeclared, against, cycles = _layer_check(tmp_path, layers)
    assert undeclared == ["stray"]
    assert cycles == ["customers, kit, meters (e.g. customers -> meters -> customers)"]
    assert against == [
        "app/kit/jobs.py:2: kit imports customers, which is not below it in app.LAYERS",
        "app/meters/service.py:4: meters imports customers, which is not below it in app.LAYERS",
        "app/webhooks/service.py:1: webhooks imports catalog, which is not below it in app.LAYERS",
        "app/webhooks/service.py:2: webhooks imports meters, which is not below it in app.LAYERS",
    ]
