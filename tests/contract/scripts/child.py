"""A program for the command submitter's contract tests: ``child.py MODE [ARGS...]``.

dump ...            write {"argv": [...after MODE], "env": {...}, "cwd": ...} as JSON to $CHILD_OUT
exit N              exit with status N
signal NAME         kill itself with signal NAME
lines               two lines on stdout, two on stderr, then a 10,000-character line on stdout
count N             print lines "line 0" .. "line N-1" on stdout
flood N             write N bytes of lines to stderr, then N to stdout, then both interleaved
tree PIDFILE        start a grandchild that writes its pid to PIDFILE, wait for it, sleep 30 s
stubborn PIDFILE    like tree, but ignore SIGTERM
background PIDFILE  like tree, but exit 0 at once once the grandchild runs
"""

import json
import os
import signal
import subprocess
import sys
import time

GRANDCHILD = (
    "import os, sys, time\n"
    "tmp = sys.argv[1] + '.tmp'\n"
    "with open(tmp, 'w') as f: f.write(str(os.getpid()))\n"
    "os.replace(tmp, sys.argv[1])\n"
    "time.sleep(30)\n"
)


def start_grandchild(pidfile: str) -> None:
    # The grandchild inherits stdout/stderr, as a real background job would.
    subprocess.Popen([sys.executable, "-c", GRANDCHILD, pidfile])
    deadline = time.monotonic() + 10
    while not os.path.exists(pidfile) and time.monotonic() < deadline:
        time.sleep(0.01)
    print("grandchild running", flush=True)


def main() -> None:
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "dump":
        with open(os.environ["CHILD_OUT"], "w") as f:
            json.dump({"argv": args, "env": dict(os.environ), "cwd": os.getcwd()}, f)
    elif mode == "exit":
        sys.exit(int(args[0]))
    elif mode == "signal":
        os.kill(os.getpid(), signal.Signals[args[0]])
        time.sleep(10)
    elif mode == "lines":
        print("out one\nout two", flush=True)
        print("err one\nerr two", file=sys.stderr, flush=True)
        print("x" * 10_000, flush=True)
    elif mode == "count":
        for i in range(int(args[0])):
            print(f"line {i}")
    elif mode == "flood":
        size = int(args[0])
        line = "y" * 99 + "\n"
        sys.stderr.write(line * (size // 100))
        sys.stderr.flush()
        sys.stdout.write(line * (size // 100))
        sys.stdout.flush()
        for _ in range(size // 100):
            sys.stdout.write(line)
            sys.stderr.write(line)
    elif mode in ("tree", "stubborn", "background"):
        if mode == "stubborn":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        start_grandchild(args[0])
        if mode != "background":
            time.sleep(30)
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
