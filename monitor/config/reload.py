"""Load a config for a running monitor in a child process, within a time and memory budget.

Why a process: a reload runs while the monitor probes. Parsed on the event loop, a hostile or
just enormous file froze every probe (issue 13: 0 results in 45 s, /healthz silent, 3.3 GB
RSS). The loader is bounded (monitor/config/limits.py), but bounds on a file are not bounds on
time and memory: a `${file:}` on a slow disk, 60,000 checks on a small box. A child process can
be given an address-space limit and killed when it runs late, and whatever it does, the
monitor's own memory and loop are untouched. The parent waits for it asynchronously.

    parent: load_isolated(path, budget)  --spawn-->  python -m monitor.config.reload PATH
            <-- stdout: pickle of ("ok", Config) or ("error", [ConfigProblem, ...]) --

Every way the child can fail (over time: killed; over memory: MemoryError or killed by the
kernel; a crash; output that does not unpickle) becomes a ConfigError located at FILE:1:1, so
the caller's one rule holds: a reload that fails for any reason keeps the running config.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import monitor
from monitor.config import Config, load_config
from monitor.core.errors import ConfigError, ConfigProblem


@dataclass(frozen=True)
class Budget:
    """How long a reload may take and how much memory it may add (the child's address space
    beyond what its imports need)."""

    seconds: float = 60.0
    memory_bytes: int = 2 * 1024 * 1024 * 1024


DEFAULT_BUDGET = Budget()


async def load_isolated(path: str, budget: Budget = DEFAULT_BUDGET) -> Config:
    """The config at `path`, loaded in a child process; ConfigError if it fails for any reason."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.config.reload", "--memory", str(budget.memory_bytes), path,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), budget.seconds)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise _failed(path, f"loading took longer than {budget.seconds:g} s, the reload budget; "
                            "the running config is kept") from None
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0 or not out:
        mib = budget.memory_bytes // (1024 * 1024)
        if b"MemoryError" in err:
            raise _failed(path, f"loading needs more than the reload budget of {mib} MiB of memory")
        if proc.returncode is not None and proc.returncode < 0:
            raise _failed(path, f"the config loader was killed by signal {-proc.returncode} (over the {mib} MiB budget?)")
        last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise _failed(path, f"the config loader failed: {last[0][:300]}")
    try:
        outcome, value = await asyncio.to_thread(pickle.loads, out)
    except Exception as exc:
        raise _failed(path, f"the config loader's answer could not be read ({type(exc).__name__})") from None
    if outcome == "ok" and isinstance(value, Config):
        return value
    if outcome == "error" and isinstance(value, list):
        raise ConfigError(value)
    raise _failed(path, "the config loader gave an answer of the wrong shape")


_ROOT = str(Path(monitor.__file__).resolve().parents[1])


def _failed(path: str, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(path, 1, 1, "", message)])


def _limit_memory(extra: int) -> None:
    """Cap the address space at what the process uses now plus `extra` bytes."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return  # not Linux: the time budget still holds
    limit = used + extra
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _child(argv: list[str]) -> int:
    memory = int(argv[argv.index("--memory") + 1]) if "--memory" in argv else DEFAULT_BUDGET.memory_bytes
    path = argv[-1]
    _limit_memory(memory)
    reserve = bytearray(4 * 1024 * 1024)  # given back on MemoryError, so the answer can be written
    over = [ConfigProblem(path, 1, 1, "", f"loading needs more than the reload budget of {memory // (1024 * 1024)} MiB of memory")]
    answer: tuple[str, Any]
    try:
        config = load_config(path)
        answer = ("ok", config)
    except ConfigError as exc:
        memory_out = any("more memory than there is" in p.message for p in exc.problems)
        answer = ("error", over if memory_out else list(exc.problems))
    except MemoryError:
        answer = ("error", over)
    del reserve
    try:
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        data = pickle.dumps(("error", over))
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1:]))
