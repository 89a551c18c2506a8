from __future__ import annotations

import pytest

from tests.localstripe_server import LocalStripe


@pytest.fixture(scope="session")
def localstripe():
    server = LocalStripe().start()
    yield server
    server.stop()
