"""Kassa: the domain (models, repositories, services, auth, configuration, CLI).

The packages of `app/` depend one way, from the top of `LAYERS` to the bottom: a module may
import its own package and the packages of the layers below its own, never one beside or above
(tests/test_layers.py checks every import, top-level or inside a function). The bottom layer
(`kit`, `models`, `config`) knows no domain. A reaction in a lower domain to a change in a higher
one is an explicit call from the higher one (customers tell meters that an external id appeared
or changed) or a job; never an import back up. `app/cli.py` and `app/server.py` assemble
everything and stand above all of it; `schema/` and `workers/` stand above `app/`.
"""

LAYERS: tuple[tuple[str, ...], ...] = (
    ("rest", "platform"),  # HTTP endpoints outside GraphQL; finding and running PostgreSQL and Redis
    ("events",),  # ingestion, credits and resets: names customers, members and meters
    ("customers",),  # customers and their team; tells meters when an external id appears or changes
    ("meters",),  # definitions, counting events into customer meters, billing status and quota
    ("members",),  # a customer's members and their roles (locks the customer's row itself)
    ("webhooks", "catalog"),  # endpoints, the outbox and payloads; products and prices
    ("organizations",),
    ("auth",),
    ("kit", "models", "config"),  # the bottom: shared pieces, ORM models, settings
)
