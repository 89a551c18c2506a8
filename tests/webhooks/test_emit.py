"""The outbox write (app/webhooks/service.py `emit_many`, which `emit` is one event of): many
events in one statement, sequenced in the order given, each delivered to the endpoints that
subscribe to its type, and one delivery job per endpoint."""

from __future__ import annotations

from sqlalchemy import text

from app.kit.db import statement_counter
from app.models.webhook import WebhookEventType
from app.webhooks import service as webhooks
from app.webhooks.service import DELIVER_JOB, EndpointDraft, create_endpoint
from tests.conftest import tenant_factory
from tests.orders.factories import merchant


async def test_a_batch_of_events_is_written_in_one_statement_in_the_order_given(session_factory, org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        customers, _ = await create_endpoint(session, subject, EndpointDraft(url="https://hooks.example.com/c", event_types=["customer.created"]), development=True)
        orders, _ = await create_endpoint(session, subject, EndpointDraft(url="https://hooks.example.com/o", event_types=["order.created", "customer.created"]), development=True)
        types = [WebhookEventType.customer_created if n % 3 else WebhookEventType.order_created for n in range(300)]
        counter = [0]
        token = statement_counter.set(counter)
        try:
            ids = await webhooks.emit_many(session, subject.scope, [(type, {"n": n}) for n, type in enumerate(types)])
        finally:
            statement_counter.reset(token)
        assert counter[0] == 1
        rows = (await session.execute(text("SELECT id, sequence, type, payload FROM webhook_events ORDER BY sequence"))).all()
        assert [row.id for row in rows] == ids
        assert [row.payload["data"]["n"] for row in rows] == list(range(300))
        assert [row.type for row in rows] == [t.value for t in types]
        deliveries = (await session.execute(text("SELECT endpoint_id, count(*) FROM webhook_deliveries GROUP BY endpoint_id"))).all()
        assert dict(deliveries) == {customers.id: types.count(WebhookEventType.customer_created), orders.id: 300}
        pending = session.sync_session.info["kassa_jobs_pending"]
        assert sorted(r.args[1] for r in pending if r.name == DELIVER_JOB) == sorted([str(customers.id), str(orders.id)])
        assert await webhooks.emit_many(session, subject.scope, []) == []
        await session.rollback()
