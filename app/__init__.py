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
