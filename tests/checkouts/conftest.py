from __future__ import annotations

from tests.payments.conftest import localstripe  # noqa: F401  (localstripe, started once per run for these tests)
