"""A pipeline command for the tests: appends what it was given to a JSON-lines file.

usage: record.py OUT_FILE SLEEP_SECONDS [ARGS...]
Writes {"phase": "started", ...} first, sleeps, then {"phase": "finished", ...}.
"""

import json
import os
import sys
import time


def note(out: str, phase: str) -> None:
    entry = {
        "phase": phase,
        "time": time.time(),
        "pid": os.getpid(),
        "argv": sys.argv[3:],
        "fire_key": os.environ.get("TRIGGERD_FIRE_KEY"),
        "env": {k: v for k, v in os.environ.items() if k.startswith("TRIGGERD_")},
    }
    with open(out, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


out, sleep = sys.argv[1], float(sys.argv[2])
note(out, "started")
time.sleep(sleep)
note(out, "finished")
print(f"recorded {len(sys.argv) - 3} arguments")
