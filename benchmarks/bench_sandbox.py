"""Sandbox benchmark: cold start, config apply latency, throughput through two hops, memory.

Run: python benchmarks/bench_sandbox.py [--seconds 8] [--connections 32]
Every number is printed next to a baseline measured in the same run on the same machine, so the
ratios mean something on a noisy box. Targets (issue #2): cold start <= 8 s, apply p95 <= 50 ms,
total RSS <= 400 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import psutil

from harness.sandbox import Sandbox
from harness.sandbox._envoy import proxy_paths, read_versions, write_json_atomic


async def _hammer(url: str, seconds: float, connections: int) -> tuple[int, int]:
    import aiohttp

    ok = failed = 0
    deadline = time.monotonic() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal ok, failed
        while time.monotonic() < deadline:  # bounded in time
            async with session.get(url) as response:
                await response.read()
                if response.status == 200:
                    ok += 1
                else:
                    failed += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))
    return ok, failed


def throughput(url: str, seconds: float, connections: int) -> tuple[float, int]:
    ok, failed = asyncio.run(_hammer(url, seconds, connections))
    return ok / seconds, failed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def apply_latencies(sandbox: Sandbox, count: int) -> list[float]:
    """Route-only change through the API server and istiod (no push delay): admit, store, watch, translate,
    write, confirm via admin, Reconciled status read back; what `harness sandbox apply` waits for."""
    vs = next(o for o in sandbox.istio.list("VirtualService") if o["metadata"]["name"] == "cart")
    timings = []
    for i in range(count):
        vs["spec"]["http"][0]["timeout"] = f"{3 + i % 2}s"
        vs["metadata"].pop("resourceVersion", None)
        started = time.perf_counter()
        sandbox.istio.apply([vs])
        timings.append(time.perf_counter() - started)
    return timings


def raw_swap_latencies(sandbox: Sandbox, count: int) -> list[float]:
    """Baseline: rename an already-built route file and poll Envoy's admin until it serves it."""
    proxy = sandbox.layout.proxy("frontend-v1")
    path = proxy_paths(sandbox.state_dir, proxy).rds("8080")
    body = json.loads(path.read_text())
    timings = []
    for i in range(count):
        body["version_info"] = f"bench-{i}"
        started = time.perf_counter()
        write_json_atomic(path, body)
        while read_versions(proxy).get("http.outbound_0.0.0.0_8080.rds.8080.version_text") != f"bench-{i}":
            time.sleep(0.001)
        timings.append(time.perf_counter() - started)
    return timings


def total_rss_mb(sandbox: Sandbox) -> tuple[float, dict[str, float]]:
    per = {}
    for record in sandbox.processes():
        per[record.name] = psutil.Process(record.pid).memory_info().rss / 2**20
    return sum(per.values()), per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--applies", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        sandbox = Sandbox.start(state_dir=Path(tmp), scrape_interval_s=1, push_delay_s=0)
        cold_start = time.perf_counter() - started
        with sandbox:
            applies = apply_latencies(sandbox, args.applies)
            swaps = raw_swap_latencies(sandbox, args.applies)
            cart = next(r for r in sandbox.layout.replicas if r.service == "cart")
            direct_rps, _ = throughput(f"http://127.0.0.1:{cart.port}/cart", args.seconds, args.connections)
            mesh_rps, mesh_failed = throughput(f"{sandbox.gateway_url}/cart", args.seconds, args.connections)
            rss, per_process = total_rss_mb(sandbox)
    p50, p95 = percentile(applies, 0.5) * 1000, percentile(applies, 0.95) * 1000
    b50, b95 = percentile(swaps, 0.5) * 1000, percentile(swaps, 0.95) * 1000
    rows = [
        ("cold start to first scrape", f"{cold_start:.2f} s", "target <= 8 s", ""),
        ("config apply p50 / p95", f"{p50:.1f} / {p95:.1f} ms", "target p95 <= 50 ms",
         f"baseline raw rename+confirm {b50:.1f} / {b95:.1f} ms (x{p95 / b95:.1f})"),
        ("gateway -> frontend -> cart", f"{mesh_rps:,.0f} req/s ({mesh_failed} non-200)", "",
         f"baseline one cart replica direct {direct_rps:,.0f} req/s (x{mesh_rps / direct_rps:.2f})"),
        ("sandbox total RSS", f"{rss:.0f} MB", "target <= 400 MB",
         ", ".join(f"{k} {v:.0f}" for k, v in per_process.items())),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, target, baseline in rows:
        print(f"{name:{width}}  {value:28} {target:22} {baseline}")
    print(f"(python {sys.version.split()[0]}, {psutil.cpu_count()} cores, {args.connections} connections, "
          f"{args.seconds:g} s per throughput run)")


if __name__ == "__main__":
    main()
