"""The bounds a config file is read within, so no file can stall or exhaust the monitor.

A config is data an admin wrote, but it is also input a reload reads into a running monitor:
a 1 KB "billion laughs" (anchors of anchors) once grew to 4 GB, `${file:/dev/zero}` to 24 GB.
Each bound below, when crossed, is one located problem (`FILE:LINE:COL: key.path: ...`) and
the read stops there. The defaults leave room for 60,000 checks (about 15 MB of YAML).

| limit                  | default | what it bounds                                              |
| ---------------------- | ------- | ----------------------------------------------------------- |
| file_bytes             | 32 MiB  | the config file itself (read at most this many bytes + 1)   |
| depth                  | 64      | mappings and lists nested in one another                    |
| nodes                  | 5 M     | values built, aliases counted at their full size            |
| alias_nodes            | 100 k   | values aliases (`*name`, `<<: *name`) may add for free ...  |
| alias_ratio            | 10      | ... plus this many per value written in the file so far     |
| secret_file_bytes      | 64 KiB  | one `${file:PATH}` (read at most this many bytes + 1)       |
| expanded_bytes         | 4 MiB   | all text `${...}` references add, together                  |
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    file_bytes: int = 32 * 1024 * 1024
    depth: int = 64
    nodes: int = 5_000_000
    alias_nodes: int = 100_000
    alias_ratio: int = 10
    secret_file_bytes: int = 64 * 1024
    expanded_bytes: int = 4 * 1024 * 1024


DEFAULT_LIMITS = Limits()


def size(n: int) -> str:
    """Bytes in the words the limits table uses: 64 KiB, 32 MiB."""
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"
