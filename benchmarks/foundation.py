"""Foundation benchmark: cold start and memory of the three run modes, health latency.

Run from the repository root: `make bench` (or `.venv/bin/python benchmarks/foundation.py`).
Starts its own embedded Postgres and Valkey in a temporary directory, runs the real
`scripts/entrypoint.sh` for each RUN_MODE, prints a plain-text report and writes the same
numbers as JSON under benchmarks/results/ (gitignored). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402

from benchmarks.common import Services, begin, finish, ms, percentile, timings  # noqa: E402
from tests.support.processes import Proc, free_port  # noqa: E402

ENTRYPOINT = str(ROOT / "scripts" / "entrypoint.sh")
MODES = {"api": "API started", "worker": "Worker started", "scheduler": "Scheduler started"}
# What each mode imports before it does anything else: the import-only share of cold start.
IMPORTS = {
    "python": "pass",
    "api": "import uvicorn.main, app.main",
    "worker": "import app.workers.fila_worker",
    "scheduler": "import app.workers.scheduler",
}
START_TIMEOUT = 60.0
SETTLE_SECONDS = 2.0
BLOCK = 100


def wait_http_ok(url: str, timeout: float) -> None:
    """Poll `url` until it answers 200 (bounded by `timeout`)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if client.get(url).status_code == 200:
                    return
            time.sleep(0.005)
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s")


def migrate(services: Services) -> None:
    """`python -m app migrate`, as the entrypoint's operators run it."""
    subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        env=services.env(),
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )


def start_mode(services: Services, mode: str) -> tuple[Proc, float, int]:
    """Spawn the entrypoint for `mode`; return it once ready, with its start time and port."""
    port = free_port()
    env = services.env(RUN_MODE=mode, PORT=str(port))
    started = time.perf_counter()
    proc = Proc([ENTRYPOINT], env)
    try:
        proc.wait_for(MODES[mode], timeout=START_TIMEOUT)
        if mode == "api":
            wait_http_ok(f"http://127.0.0.1:{port}/health", timeout=START_TIMEOUT)
        elapsed = time.perf_counter() - started
    except BaseException:
        proc.kill()
        raise
    return proc, elapsed, port


def bench_cold_start(services: Services, runs: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for mode in MODES:
        starts: list[float] = []
        rss: list[float] = []
        stops: list[float] = []
        for _ in range(runs):
            proc, elapsed, _port = start_mode(services, mode)
            try:
                starts.append(elapsed)
                time.sleep(SETTLE_SECONDS)
                # entrypoint.sh execs, so the spawned pid is the Python process itself.
                rss.append(psutil.Process(proc.popen.pid).memory_info().rss / 2**20)
            finally:
                t0 = time.perf_counter()
                proc.stop()
                stops.append(time.perf_counter() - t0)
        results[mode] = {
            "runs": runs,
            **timings("cold_start", starts),
            "rss_mib": [round(r, 1) for r in rss],
            "rss_mib_median": round(statistics.median(rss), 1),
            "stop_ms_median": ms(statistics.median(stops)),
        }
    return results


def bench_imports(services: Services, runs: int) -> dict[str, Any]:
    """Wall time of a bare interpreter and of each mode's imports (no I/O)."""
    results: dict[str, Any] = {}
    for name, code in IMPORTS.items():
        times: list[float] = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", code],
                env=services.env(),
                cwd=ROOT,
                check=True,
                capture_output=True,
                timeout=60,
            )
            times.append(time.perf_counter() - t0)
        results[name] = {"ms": [ms(t) for t in times], "ms_median": ms(statistics.median(times))}
    return results


def bench_http(services: Services, requests: int, warmup: int) -> dict[str, Any]:
    paths = ["/health", "/health/deep"]
    proc, _elapsed, port = start_mode(services, "api")
    latencies: dict[str, list[float]] = {p: [] for p in paths}
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10.0) as client:
            for _ in range(warmup):
                for path in paths:
                    client.get(path).raise_for_status()
            # Alternate blocks of BLOCK requests so drift and noise hit both endpoints alike.
            blocks = math.ceil(requests / BLOCK)
            for _ in range(blocks):
                for path in paths:
                    count = min(BLOCK, requests - len(latencies[path]))
                    for _ in range(count):
                        t0 = time.perf_counter()
                        response = client.get(path)
                        latencies[path].append(time.perf_counter() - t0)
                        if response.status_code != 200:
                            raise RuntimeError(f"{path} answered {response.status_code}")
    finally:
        proc.stop()
    results: dict[str, Any] = {"requests": requests, "warmup": warmup, "block": BLOCK}
    for path, values in latencies.items():
        results[path] = {
            "p50_ms": ms(percentile(values, 50)),
            "p90_ms": ms(percentile(values, 90)),
            "p99_ms": ms(percentile(values, 99)),
            "rps": round(len(values) / sum(values), 1),
        }
    results["deep_over_health_p50"] = round(
        percentile(latencies["/health/deep"], 50) / percentile(latencies["/health"], 50), 2
    )
    return results


def report(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        "Julia foundation benchmark",
        f"machine: {m['cpu_count']} CPUs, Python {m['python']}, {m['platform']}",
        f"commit:  {m['git_sha']}   at {data['timestamp']}   total {data['total_s']} s",
        "",
        f"Cold start (spawn -> ready), {data['runs']} runs per mode; RSS {SETTLE_SECONDS:g} s "
        "after ready",
        f"{'mode':<10} {'median ms':>10} {'min ms':>9} {'max ms':>9} {'RSS MiB':>8} {'stop ms':>8}",
    ]
    for mode, r in data["cold_start"].items():
        lines.append(
            f"{mode:<10} {r['cold_start_ms_median']:>10.0f} {r['cold_start_ms_min']:>9.0f} "
            f"{r['cold_start_ms_max']:>9.0f} {r['rss_mib_median']:>8.1f} "
            f"{r['stop_ms_median']:>8.0f}"
        )
    lines += ["", "Imports only (python -c '<imports>'), median of runs"]
    for name, r in data["imports"].items():
        lines.append(f"{name:<10} {r['ms_median']:>10.0f} ms   ({IMPORTS[name]})")
    h = data["http"]
    lines += [
        "",
        f"HTTP latency, one keep-alive client, {h['requests']} sequential requests per path "
        f"(interleaved blocks of {h['block']}, {h['warmup']} warm-up each)",
        f"{'path':<14} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'req/s':>8}",
    ]
    for path in ("/health", "/health/deep"):
        r = h[path]
        lines.append(
            f"{path:<14} {r['p50_ms']:>8.2f} {r['p90_ms']:>8.2f} {r['p99_ms']:>8.2f} "
            f"{r['rps']:>8.0f}"
        )
    lines.append(f"deep / health (p50): {h['deep_over_health_p50']:.2f}x")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold starts per mode")
    parser.add_argument("--requests", type=int, default=1000, help="requests per path")
    parser.add_argument("--warmup", type=int, default=50, help="warm-up requests per path")
    args = parser.parse_args()

    data = begin(runs=args.runs)
    with Services() as services:
        print("migrating ...", file=sys.stderr)
        migrate(services)
        print("cold starts ...", file=sys.stderr)
        data["cold_start"] = bench_cold_start(services, args.runs)
        print("imports ...", file=sys.stderr)
        data["imports"] = bench_imports(services, args.runs)
        print("HTTP latency ...", file=sys.stderr)
        data["http"] = bench_http(services, args.requests, args.warmup)
    out = finish("foundation", data)
    print(report(data))
    print(f"\nresults: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
