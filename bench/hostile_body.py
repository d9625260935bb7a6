"""How long a compression bomb holds the event loop, and how much it inflates (issue 13).

    python bench/hostile_body.py [--runs 5]

A local aiohttp server (a subprocess) serves 256 MiB of zeros gzip-compressed (~250 KB on the
wire). Each run reads it once the way the http kind does (`checks.client.read_capped` under
the 1 MiB cap, and under the 64 MiB maximum `max_body`), and once the way httpx reads by
itself (default AsyncClient, `aiter_bytes`, stopping at 1 MiB): the peer, in the same run.
A ticker task on the same loop records the longest gap between its 1 ms ticks (the stall
every other probe would see) and tracemalloc the peak of memory allocated while reading.
Prints medians over the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from checks.client import HttpClientFactory, read_capped

MIB = 1024 * 1024


def serve() -> None:
    """Subprocess mode: serve the bomb on a free port; print the port; run until stdin closes."""
    from aiohttp import web

    zeros = b"\0" * MIB
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    bomb = b"".join([*(c.compress(zeros) for _ in range(256)), c.flush()])

    async def handler(_r: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/bomb", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await runner.cleanup()

    asyncio.run(main())


async def measured(read: Callable[[], Awaitable[int]]) -> tuple[float, float, int]:
    """(longest loop stall ms, peak MiB allocated while reading, bytes kept)."""
    stall = 0.0
    stop = False

    async def ticker() -> None:
        nonlocal stall
        last = time.perf_counter()
        while not stop:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            stall = max(stall, now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    kept = await read()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    stop = True
    await tick
    return stall * 1000, peak / MIB, kept


async def bench(port: int, runs: int) -> dict[str, list[tuple[float, float, int]]]:
    url = f"http://127.0.0.1:{port}/bomb"
    http = HttpClientFactory()
    ours = http.client()
    peer = httpx.AsyncClient()  # httpx as it comes: its transport, its decoders

    async def read_ours(cap: int) -> int:
        response = await ours.send(ours.build_request("GET", url), stream=True)
        body, _ = await read_capped(response, cap)
        return len(body)

    async def read_httpx() -> int:
        kept = 0
        async with peer.stream("GET", url) as response:
            async for chunk in response.aiter_bytes():
                kept += len(chunk)
                if kept >= MIB:
                    break
        return kept

    out: dict[str, list[tuple[float, float, int]]] = {"ours 1 MiB": [], "ours 64 MiB": [], "httpx": []}
    try:
        for _ in range(runs):
            out["ours 1 MiB"].append(await measured(lambda: read_ours(MIB)))
            out["ours 64 MiB"].append(await measured(lambda: read_ours(64 * MIB)))
            out["httpx"].append(await measured(read_httpx))
    finally:
        await http.aclose()
        await peer.aclose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--table", help="append the summary rows (JSON lines) to this file")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        figures = asyncio.run(bench(port, args.runs))
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=10)
    med = {k: (statistics.median(s for s, _, _ in v), statistics.median(m for _, m, _ in v), v[0][2]) for k, v in figures.items()}
    print(f"256 MiB gzip bomb, median of {args.runs} runs: longest loop stall, peak memory while reading, bytes kept")
    for k, (stall, peak, kept) in med.items():
        print(f"  {k:<12} {stall:7.1f} ms  {peak:7.1f} MiB  {kept:>10,} B")
    if args.table:
        ours, peer = med["ours 1 MiB"], med["httpx"]
        rows = [
            {"target": "gzip bomb: loop stall a few ms at most (1 MiB cap)", "measured": f"{ours[0]:.1f} ms",
             "peer": f"httpx decoder {peer[0]:.1f} ms", "ratio": f"{ours[0] / peer[0]:.2f}"},
            {"target": "gzip bomb: inflated <= cap + a step", "measured": f"{ours[1]:.1f} MiB peak",
             "peer": f"httpx decoder {peer[1]:.1f} MiB", "ratio": f"{ours[1] / peer[1]:.2f}"},
        ]
        with open(args.table, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
