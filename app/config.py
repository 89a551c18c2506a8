"""Configuration, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _schedule(name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    value = os.environ.get(name)
    if not value:
        return default
    return tuple(float(part) for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Every setting Kassa reads; docs/operations.md (Configuration) lists them with their defaults."""

    database_url: str | None = None
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    debug: bool = False
    environment: str = "production"
    data_dir: Path = field(default_factory=lambda: PROJECT_ROOT / ".data")
    local_postgres: str = "127.0.0.1:5432"
    local_redis: str = "127.0.0.1:6379"
    local_database_name: str = "kassa"
    # `kassa run` on a database without organizations creates this one ("" : none) and prints its token
    first_organization_name: str = "My organization"
    db_pool_size: int = 10
    # Stripe: the secret key, a Stripe-compatible server in Stripe's place (localstripe), and the
    # signing secret of the webhook endpoint Stripe calls.
    stripe_secret_key: str | None = None
    stripe_api_base: str | None = None
    stripe_webhook_secret: str | None = None
    # The role the API and workers act as: it cannot bypass row-level security (`kassa migrate`
    # creates it and lets the DATABASE_URL user switch to it).
    database_app_role: str = "kassa_app"
    graphql_max_depth: int = 10
    graphql_max_tokens: int = 2000
    graphql_max_aliases: int = 30
    page_size_max: int = 100
    graphql_max_cost: int = 20_000
    graphql_assumed_list_size: int = 10
    graphql_max_response_bytes: int = 10_000_000
    request_timeout_seconds: float = 30.0
    rate_limit_per_second: float = 200.0
    rate_limit_burst: int = 400
    org_max_concurrent_requests: int = 16
    org_concurrency_wait_seconds: float = 2.0
    # Above the largest valid ingest batch (1,000 events with full metadata: about 28 MB).
    request_max_body_size: int = 32 * 1024 * 1024
    expose_sql_count: bool = False
    gc_gen0_threshold: int = 50_000
    webhook_timeout_seconds: float = 10.0
    webhook_retry_schedule: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    webhook_failure_threshold: int = 5
    worker_max_tries: int = 5
    worker_retry_base_seconds: float = 1.0
    worker_heartbeat_seconds: float = 5.0
    outbox_relay_after_seconds: float = 2.0
    health_worker_stale_seconds: float = 30.0
    health_max_lag_seconds: float = 300.0
    # Idempotency keys (app/kit/idempotency.py): how long one is kept, how long a request waits
    # for another one holding the same key before it answers IDEMPOTENCY_KEY_IN_USE.
    idempotency_key_ttl_hours: float = 24.0
    idempotency_key_wait_seconds: float = 5.0

    @property
    def is_development(self) -> bool:
        """Development deployments may send webhooks over http and to local addresses."""
        return self.environment == "development"

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            redis_url=os.environ.get("REDIS_URL") or None,
            host=os.environ.get("KASSA_HOST", "127.0.0.1"),
            port=_int("KASSA_PORT", 8000),
            debug=_bool("KASSA_DEBUG"),
            environment=os.environ.get("KASSA_ENV", "production"),
            data_dir=Path(os.environ.get("KASSA_DATA_DIR") or PROJECT_ROOT / ".data"),
            local_postgres=os.environ.get("KASSA_LOCAL_POSTGRES", "127.0.0.1:5432"),
            local_redis=os.environ.get("KASSA_LOCAL_REDIS", "127.0.0.1:6379"),
            local_database_name=os.environ.get("KASSA_LOCAL_DATABASE", "kassa"),
            database_app_role=os.environ.get("KASSA_DATABASE_APP_ROLE") or "kassa_app",
            stripe_secret_key=os.environ.get("STRIPE_SECRET_KEY") or None,
            stripe_api_base=os.environ.get("STRIPE_API_BASE") or None,
            stripe_webhook_secret=os.environ.get("STRIPE_WEBHOOK_SECRET") or None,
            first_organization_name=os.environ.get("KASSA_FIRST_ORGANIZATION", "My organization").strip(),
            db_pool_size=_int("KASSA_DB_POOL_SIZE", 10),
            graphql_max_depth=_int("KASSA_GRAPHQL_MAX_DEPTH", 10),
            graphql_max_tokens=_int("KASSA_GRAPHQL_MAX_TOKENS", 2000),
            graphql_max_aliases=_int("KASSA_GRAPHQL_MAX_ALIASES", 30),
            page_size_max=_int("KASSA_PAGE_SIZE_MAX", 100),
            graphql_max_cost=_int("KASSA_GRAPHQL_MAX_COST", 20_000),
            graphql_assumed_list_size=_int("KASSA_GRAPHQL_ASSUMED_LIST_SIZE", 10),
            graphql_max_response_bytes=_int("KASSA_GRAPHQL_MAX_RESPONSE_BYTES", 10_000_000),
            request_timeout_seconds=_float("KASSA_REQUEST_TIMEOUT_SECONDS", 30.0),
            rate_limit_per_second=_float("KASSA_RATE_LIMIT_PER_SECOND", 200.0),
            rate_limit_burst=_int("KASSA_RATE_LIMIT_BURST", 400),
            org_max_concurrent_requests=_int("KASSA_ORG_MAX_CONCURRENT_REQUESTS", 16),
            org_concurrency_wait_seconds=_float("KASSA_ORG_CONCURRENCY_WAIT_SECONDS", 2.0),
            request_max_body_size=_int("KASSA_REQUEST_MAX_BODY_SIZE", 32 * 1024 * 1024),
            expose_sql_count=_bool("KASSA_EXPOSE_SQL_COUNT"),
            gc_gen0_threshold=_int("KASSA_GC_GEN0_THRESHOLD", 50_000),
            webhook_timeout_seconds=float(os.environ.get("KASSA_WEBHOOK_TIMEOUT") or 10.0),
            webhook_retry_schedule=_schedule("KASSA_WEBHOOK_RETRY_SCHEDULE", (5, 300, 1800, 7200, 18000, 36000, 36000)),
            webhook_failure_threshold=_int("KASSA_WEBHOOK_FAILURE_THRESHOLD", 5),
            worker_max_tries=_int("KASSA_WORKER_MAX_TRIES", 5),
            worker_retry_base_seconds=float(os.environ.get("KASSA_WORKER_RETRY_BASE") or 1.0),
            worker_heartbeat_seconds=float(os.environ.get("KASSA_WORKER_HEARTBEAT") or 5.0),
            outbox_relay_after_seconds=float(os.environ.get("KASSA_OUTBOX_RELAY_AFTER") or 2.0),
            health_worker_stale_seconds=float(os.environ.get("KASSA_HEALTH_WORKER_STALE") or 30.0),
            health_max_lag_seconds=float(os.environ.get("KASSA_HEALTH_MAX_LAG") or 300.0),
            idempotency_key_ttl_hours=_float("KASSA_IDEMPOTENCY_KEY_TTL_HOURS", 24.0),
            idempotency_key_wait_seconds=_float("KASSA_IDEMPOTENCY_KEY_WAIT_SECONDS", 5.0),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
