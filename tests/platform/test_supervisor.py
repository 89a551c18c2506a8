"""`kassa run` keeps its children running: a crashed child is started again, with backoff."""

from __future__ import annotations

import os
import sys
import time

from app.platform import supervisor

# Records each start in a file; the first three starts crash at once, the fourth stays up.
CRASHING_CHILD = """
import pathlib, sys, time
path = pathlib.Path(sys.argv[1])
starts = len(path.read_text()) if path.exists() else 0
path.write_text("x" * (starts + 1))
sys.exit(3) if starts < 3 else time.sleep(60)
"""


def test_a_crashed_child_is_restarted_with_backoff(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(supervisor, "RESTART_FIRST_DELAY", 0.2)
    monkeypatch.setattr(supervisor, "POLL_INTERVAL", 0.02)
    starts = tmp_path / "starts"
    child = supervisor.Child("fake worker", [sys.executable, "-c", CRASHING_CHILD, str(starts)], dict(os.environ))
    began = time.monotonic()

    def fourth_start_is_up() -> bool:
        up = starts.exists() and len(starts.read_text()) == 4 and child.process is not None
        return up or time.monotonic() - began > 12

    child.start()
    try:
        supervisor.watch([child], fourth_start_is_up)
        elapsed = time.monotonic() - began
        assert len(starts.read_text()) == 4
        assert child.process.poll() is None  # the fourth start is running
    finally:
        supervisor._terminate([child])
    assert child.restarts == 3
    log = capsys.readouterr().err
    assert log.count("fake worker exited with code 3") == 3
    assert log.count("fake worker restarted") == 3
    assert elapsed >= 0.2 + 0.4 + 0.8  # the delays doubled
    assert [supervisor.restart_delay(n) for n in (1, 2, 3, 10)] == [0.2, 0.4, 0.8, supervisor.RESTART_MAX_DELAY]
