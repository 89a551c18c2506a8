"""Every response carries a request id; every unexpected error is logged with it and answered in
Kassa's shape, never as a bare framework 500 that leaves no trace."""

from __future__ import annotations

import logging

from tests.meters.helpers import ingest_rest


class Boom(RuntimeError):
    pass


def _explode(*_args, **_kwargs):
    raise Boom("simulated bug")


def _logged(caplog, request_id: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "kassa.errors" and request_id in r.getMessage() and r.exc_info]


async def test_every_response_has_a_request_id(api, org):
    first = await api.post("{ organization { id } }", token=org.token)
    second = await api.post("{ organization { id } }", token=org.token)
    assert first.headers["x-request-id"] and second.headers["x-request-id"]
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    mine = await api.post("{ organization { id } }", token=org.token, headers={"X-Request-Id": "merchant-req:42"})
    assert mine.headers["x-request-id"] == "merchant-req:42"
    forged = await api.post("{ organization { id } }", token=org.token, headers={"X-Request-Id": "bad id\twith spaces"})
    assert forged.headers["x-request-id"] != "bad id\twith spaces"
    health = await api.client.get("/health")
    assert health.headers["x-request-id"]


async def test_unexpected_rest_error_is_logged_with_the_id_it_answers(api, org, monkeypatch, caplog):
    import app.rest.events

    monkeypatch.setattr(app.rest.events.service, "ingest", _explode)
    caplog.set_level(logging.ERROR, logger="kassa.errors")
    response = await ingest_rest(api, org.token, [{"name": "x", "external_customer_id": "c"}])
    assert response.status_code == 500
    body = response.json()
    request_id = response.headers["x-request-id"]
    assert body["error"] == "INTERNAL_SERVER_ERROR"
    assert body["request_id"] == request_id
    assert request_id in body["detail"]
    records = _logged(caplog, request_id)
    assert records, [r.getMessage() for r in caplog.records]
    assert "Boom" in records[0].getMessage()


async def test_unexpected_graphql_error_is_logged_with_the_id_it_answers(api, org, monkeypatch, caplog):
    import app.organizations.service

    monkeypatch.setattr(app.organizations.service, "get_current", _explode)
    caplog.set_level(logging.ERROR, logger="kassa.errors")
    response = await api.post("{ organization { id name } }", token=org.token)
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert "simulated bug" not in error["message"]  # masked outside debug
    records = _logged(caplog, request_id)
    assert records, [r.getMessage() for r in caplog.records]
