"""The benches' own plumbing that a user of them relies on (bench/common.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import sys, time
from pathlib import Path
from bench.common import end_on_sigterm
end_on_sigterm()
try:
    print("ready", flush=True)
    time.sleep(30)
finally:
    Path(sys.argv[1]).write_text("cleaned up", encoding="utf-8")
"""


def test_sigterm_ends_a_bench_through_its_cleanups(tmp_path: Path) -> None:
    # `timeout` stops a bench with SIGTERM; its finally blocks stop Azurite, PostgreSQL and
    # daemons, so they must run (Python's default for SIGTERM skips them).
    marker = tmp_path / "marker"
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(marker)], cwd=REPO, stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
            child.send_signal(signal.SIGTERM)
            assert child.wait(timeout=10) == 128 + signal.SIGTERM
        finally:
            child.kill()
    assert marker.read_text(encoding="utf-8") == "cleaned up"
