"""Running Kassa's infrastructure: finding or embedding PostgreSQL and Redis, migrations, `kassa run`."""
