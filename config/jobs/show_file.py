"""The example job of the inbox-files schedule: prints which file arrived and its first lines."""

import os
import sys
from pathlib import Path

path = Path(sys.argv[1])
print(f"new file {path.name} ({path.stat().st_size} bytes) from {os.environ['TRIGGERD_DATASTORE']}")
with path.open(encoding="utf-8", errors="replace") as handle:
    for number, line in enumerate(handle):
        if number == 5:
            print("...")
            break
        print(f"  {line.rstrip()}")
