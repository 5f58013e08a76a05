"""The example job of `make run`: prints its arguments and the TRIGGERD_* variables, exits 0."""

import os
import sys

print("hello.py called with", sys.argv[1:])
print("TRIGGERD_SCHEDULE =", os.environ.get("TRIGGERD_SCHEDULE"))
print("TRIGGERD_FIRE_KEY =", os.environ.get("TRIGGERD_FIRE_KEY"))
sys.exit(0)
