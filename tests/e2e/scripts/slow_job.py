"""A pipeline command for the crash tests: records its life in a JSON-lines file.

usage: slow_job.py OUT_FILE FIRST_SLEEP LATER_SLEEP
Appends {"phase": "started", "time", "pid", "pgid", "attempt"}, sleeps FIRST_SLEEP seconds on
attempt 1 and LATER_SLEEP on later attempts, then appends {"phase": "finished", ...}. On
SIGTERM it appends {"phase": "terminated", ...} and exits with 143.
"""

import json
import os
import signal
import sys
import time


def note(phase: str) -> None:
    entry = {
        "phase": phase,
        "time": time.time(),
        "pid": os.getpid(),
        "pgid": os.getpgrp(),
        "attempt": os.environ.get("TRIGGERD_ATTEMPT"),
    }
    with open(sys.argv[1], "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


def terminated(_signum: int, _frame: object) -> None:
    note("terminated")
    os._exit(143)


signal.signal(signal.SIGTERM, terminated)
note("started")
first = os.environ.get("TRIGGERD_ATTEMPT") == "1"
time.sleep(float(sys.argv[2] if first else sys.argv[3]))
note("finished")
