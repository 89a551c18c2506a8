"""Kassa: the domain (models, repositories, services, auth, configuration, CLI).

The packages of `app/` depend one way. Each declares, in its `__init__.py`, the app packages it
may import (`DEPENDS_ON`); `kit`, `models` and `config` are the bottom, which every package may
import and which knows no domain. tests/test_layers.py checks every import, top-level or inside a
function, against the declarations, and that neither makes a cycle. A reaction in a lower domain
to a change in a higher one is an explicit call from the higher one (customers tell meters that
an external id appeared or changed) or a job; never an import back up. `app/cli.py` and
`app/server.py` assemble everything and stand above all of it; `schema/` and `workers/` stand
above `app/`.
"""


def load_scope_declarations() -> None:
    """Import every package's `scopes.py` (`app/<domain>/scopes.py`), which declares its access
    token scopes in app/auth/scopes.py's registry. The entry points call it at start (the CLI,
    the API, the workers): a new domain's scopes are found without an edit elsewhere."""
    import importlib
    import importlib.util
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        if module.ispkg and importlib.util.find_spec(f"{__name__}.{module.name}.scopes") is not None:
            importlib.import_module(f"{__name__}.{module.name}.scopes")
