"""A real small disk for the full-disk trials: a tmpfs of a few MiB mounted for one test.

`fill()` writes a filler file until the kernel says ENOSPC (every later write anywhere on the
disk fails the way a full production disk does, SQLite's included: SQLITE_FULL); `free()`
deletes it. Mounting needs root (CAP_SYS_ADMIN): CI runs as root; elsewhere the tests skip
locally and fail on CI (tests/conftest.py `require`).

Why tmpfs and not `PRAGMA max_page_count`: the pragma makes SQLite alone refuse to grow,
while the monitor's other files on that disk (the WAL, the direct-delivery journal, the
status page) would still have room; a full filesystem refuses them all, which is the case
the monitor has to survive.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

CHUNK = 64 * 1024


class SmallDisk:
    def __init__(self, path: Path, size_mb: int) -> None:
        self.path = path
        self.size_mb = size_mb
        self.filler = path / "filler"
        self.mounted = False

    def mount(self) -> bool:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            return False
        self.path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0755", "tmpfs", str(self.path)],
            capture_output=True, timeout=30, check=False,
        )
        self.mounted = done.returncode == 0
        return self.mounted

    def fill(self) -> int:
        """Take every free byte; returns how many were written."""
        written = 0
        chunk = b"\xff" * CHUNK
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (CHUNK, 4096, 512, 1):
                while True:
                    try:
                        n = os.write(fd, chunk[:size])
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
                    written += n
        finally:
            os.close(fd)
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=30, check=False)
            self.mounted = False
