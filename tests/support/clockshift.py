"""Step the wall clock of one process: the LD_PRELOAD shim in clockshift.c, compiled with `cc`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("clockshift.c")


class ShiftedClock:
    """A wall-clock offset for the processes started with ``env``; ``set()`` steps it."""

    def __init__(self, folder: Path) -> None:
        compiler = shutil.which("cc")
        assert compiler is not None, "the clock-step tests need a C compiler (cc)"
        self.library = folder / "clockshift.so"
        subprocess.run(
            [compiler, "-O2", "-shared", "-fPIC", "-Wall", "-Werror", "-o", str(self.library),
             str(SOURCE), "-ldl"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        self.file = folder / "clock-offset"
        self.offset = 0.0
        self.set(0.0)

    @property
    def env(self) -> dict[str, str]:
        return {"LD_PRELOAD": str(self.library), "CLOCKSHIFT_FILE": str(self.file)}

    def set(self, seconds: float) -> None:
        """From now on the wall clock reads ``seconds`` ahead of the real one (behind if < 0)."""
        staged = self.file.with_suffix(".new")
        staged.write_text(f"{seconds:.3f}\n", encoding="ascii")
        os.replace(staged, self.file)  # the shim never reads half a number
        self.offset = seconds

    def step(self, seconds: float) -> None:
        self.set(self.offset + seconds)
