"""Fallback load generator (no ``wrk``): closed loop, N connections, POST bodies in turn; one JSON line.

python scripts/benchkit/loadgen.py --url URL --seconds S --connections N --bodies FILE --key KEY
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import aiohttp


def _pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def run(url: str, seconds: float, connections: int, bodies: list[str], key: str) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    counts = {"non_2xx": 0, "errors": 0}
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = loop.time()
        deadline = start + seconds

        async def one(k: int) -> None:
            i = k
            while loop.time() < deadline:
                t0 = time.perf_counter()
                try:
                    async with session.post(url, data=bodies[i % len(bodies)].encode(), headers=headers) as r:
                        await r.read()
                        if not 200 <= r.status < 400:
                            counts["non_2xx"] += 1
                except (aiohttp.ClientError, TimeoutError):
                    counts["errors"] += 1
                    continue
                finally:
                    i += connections
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(one(k) for k in range(connections)))
        elapsed = loop.time() - start
    latencies.sort()
    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "errors_connect": 0,
        "errors_read": counts["errors"],
        "errors_write": 0,
        "errors_timeout": 0,
        "non_2xx": counts["non_2xx"],
        "p50_us": _pct(latencies, 0.50) * 1e6,
        "p99_us": _pct(latencies, 0.99) * 1e6,
        "max_us": (latencies[-1] if latencies else 0.0) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--bodies", type=Path, required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    bodies = json.loads(args.bodies.read_text(encoding="utf-8"))
    result = asyncio.run(run(args.url, args.seconds, args.connections, bodies, args.key))
    print("BENCHJSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
