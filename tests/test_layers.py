"""The layers depend one way: `app/` (the domain) never imports the GraphQL layer (`schema/`) nor
the workers (`workers/`), except the two entry points that assemble everything."""

from __future__ import annotations

import ast

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
