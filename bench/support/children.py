"""How the benchmarks start `invoicewatch` as a child process: as an installed one runs.

An installed invoicewatch keeps compiled bytecode; PYTHONDONTWRITEBYTECODE (set on some dev
machines) would make every measured start compile the project's sources again (~0.2 s), a
cost no user pays. `installed_env` drops it and sends the bytecode to a folder of the bench's
own (PYTHONPYCACHEPREFIX), so nothing is written into the trees being measured; the first,
unmeasured run of a command fills it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def installed_env(pycache: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default os.environ) with bytecode kept under `pycache`."""
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env
