"""Processes for the leftover-process tests: ``orphan.py daemon OUT MODE``, ``orphan.py MODE OUT``.

daemon OUT MODE   stand in for triggerd: start ``orphan.py MODE OUT`` in a session of its own,
                  write its identity as triggerd records it to OUT.identity, wait for it to
                  write OUT, print "ready" and sleep (until the test SIGKILLs it)
sleep OUT         write {"leader": pid}, sleep 30 s
stubborn OUT      the same, ignoring SIGTERM
tree OUT          start a grandchild in the group, write both pids, sleep 30 s
leaderless OUT    start a grandchild in the group, write both pids, exit at once
setsid OUT        start a grandchild that leaves for a session of its own, write both, sleep
unmarked OUT      start a grandchild in the group, without the environment and ignoring
                  SIGTERM, write both, sleep 30 s

The environment (with its TRIGGERD_RUN_MARKER) is inherited all the way down.
"""

import json
import os
import signal
import subprocess
import sys
import time

from triggerd.submitters.processgroup import identify

GRANDCHILD = """import os, signal, sys, time
if sys.argv[1] == "setsid":
    os.setsid()
if sys.argv[1] == "unmarked":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(30)
"""


def write(path: str, value: object) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(value, f)
    os.replace(path + ".tmp", path)


def wait_for(path: str) -> None:
    deadline = time.monotonic() + 10
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)


def daemon(out: str, mode: str) -> None:
    child = subprocess.Popen([sys.executable, __file__, mode, out], start_new_session=True)
    identity = identify(child.pid)
    assert identity is not None
    write(out + ".identity", identity.as_json())
    wait_for(out)
    if mode == "leaderless":
        child.wait()  # reaped: nothing has the leader's pid any more
    print("ready", flush=True)
    time.sleep(60)


def child(mode: str, out: str) -> None:
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pids = {"leader": os.getpid()}
    if mode in ("tree", "leaderless", "setsid", "unmarked"):
        env = {} if mode == "unmarked" else None
        grandchild = subprocess.Popen(
            [sys.executable, "-c", GRANDCHILD, mode], env=env, stdout=subprocess.PIPE
        )
        assert grandchild.stdout is not None
        grandchild.stdout.readline()  # set up (its own session, SIGTERM ignored)
        pids["grandchild"] = grandchild.pid
    write(out, pids)
    if mode != "leaderless":
        time.sleep(30)


if __name__ == "__main__":
    if sys.argv[1] == "daemon":
        daemon(sys.argv[2], sys.argv[3])
    else:
        child(sys.argv[1], sys.argv[2])
