"""Outreach simulation: two weeks of paced outreach on a fake clock, every rule checked.

Run from the repository root: `.venv/bin/python benchmarks/outreach_sim.py` (2,000 doctors,
14 days, 4 concurrent gateways); `--doctors 150 --days 3` for a short run. Starts its own
embedded Postgres and Valkey in a temporary directory and the local fake of Evolution
(tests/support/fake_vendors.py) in a thread; the engine is tests/support/simulation.py.
Prints the invariant table, sends per chip per day, deferrals by reason and the runtime,
and writes the same numbers as JSON under benchmarks/results/ (gitignored). Exits 1 when
any invariant is violated. See docs/benchmarks.md ("Outreach simulation").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import uvloop  # noqa: E402

from benchmarks import common  # noqa: E402
from tests.support.simulation import (  # noqa: E402
    CHIPS,
    SETTINGS,
    YOUNG_CHIP,
    Report,
    SimConfig,
    Simulation,
)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def simulate(services: common.Services, cfg: SimConfig, caps: dict[str, int]) -> Report:
    from app.core.config import load_settings
    from app.core.resources import open_resources
    from tests.support.fake_vendors import FakeVendors

    database_url = await services.create_database("outreach_sim")
    with FakeVendors() as fake:
        settings = load_settings(
            ENVIRONMENT="development",
            DATABASE_URL=database_url,
            REDIS_URL=services.redis_url,
            JULIA_DATA_DIR=str(services.base / "data"),
            EVOLUTION_API_URL=fake.url,
            **{**SETTINGS, **caps},
        )
        async with open_resources(settings) as res:
            sim = Simulation(
                res, cfg, provider_sends=lambda: len(fake.evolution.sends), progress=progress
            )
            try:
                return await sim.run()
            finally:
                await sim.close()


def render(report: Report, cfg: SimConfig) -> str:
    t = report.totals
    lines = [
        f"Outreach simulation: {t['doctors']} doctors, {cfg.days} days from "
        f"{cfg.start:%a %d/%m/%Y %H:%M} (São Paulo), {len(CHIPS)} chips "
        f"({YOUNG_CHIP} warming up), {cfg.workers} gateways, every job delivered twice, "
        f"seed {cfg.seed}",
        "",
        report.table(),
        "",
    ]
    if t["all_reached"]:
        lines.append(
            f"every eligible doctor ({t['eligible']}) reached by "
            f"{t['all_reached_on']:%a %d/%m %H:%M}, day {t['all_reached_day']}"
        )
    else:
        lines.append(f"reached {t['reached']} of {t['eligible']} eligible doctors")
    lines += [
        f"sends {t['sends']}, deliveries {t['deliveries']} ({t['concurrent_duplicates']} jobs "
        f"delivered back to back, the rest redelivered later in the tick), ticks {t['ticks']}",
        f"replies {t['replies']}, opt-outs {t['opt_outs']} (queued job: {t['opt_outs_queued']}, "
        f"deferred message: {t['opt_outs_waiting']})",
        f"simulated until {t['simulated_until']:%a %d/%m %H:%M}, runtime {t['runtime_s']} s",
        "",
        "sends per chip per day (cap)",
        "day         " + "".join(f"{c:>14}" for c in CHIPS),
    ]
    for day, counts in report.sends_per_chip_day.items():
        caps = report.caps_per_chip_day[day]
        cells = "".join(f"{f'{counts[c]} ({caps[c]})':>14}" for c in CHIPS)
        lines.append(f"{day:%a %d/%m}   {cells}")
    lines += ["", "deferrals by reason (each gateway decision, outbound_sends.reason)"]
    for reason, n in report.deferrals.most_common():
        lines.append(f"  {reason:<22} {n}")
    lines += ["", "ledger at the end (status / reason)"]
    for (status, reason), n in sorted(report.final_ledger.items()):
        lines.append(f"  {status:<10} {reason or '-':<22} {n}")
    lines += ["", "events"]
    lines += [f"  {at:%a %d/%m %H:%M}  {what}" for at, what in report.events]
    if not report.ok:
        lines += ["", "VIOLATIONS", report.violations_text()]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--doctors", type=int, default=2000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--workers", type=int, default=4, help="concurrent gateways")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--extra-days",
        type=int,
        default=21,
        help="past --days, keep going (at most this long) until every eligible doctor is reached",
    )
    parser.add_argument("--max-per-hour", type=int, default=SETTINGS["MAX_MSGS_POR_HORA"])
    parser.add_argument("--max-per-day", type=int, default=SETTINGS["MAX_MSGS_POR_DIA"])
    args = parser.parse_args()
    caps = {"MAX_MSGS_POR_HORA": args.max_per_hour, "MAX_MSGS_POR_DIA": args.max_per_day}
    cfg = SimConfig(
        doctors=args.doctors,
        days=args.days,
        workers=args.workers,
        seed=args.seed,
        extra_days=args.extra_days,
    )
    common.quiet_logs()
    data = common.begin(args=vars(args))
    started = time.perf_counter()
    with common.Services() as services:
        # uvloop, as uvicorn uses in production: the same code, less event-loop overhead.
        report = uvloop.run(simulate(services, cfg, caps))
    print(render(report, cfg))
    print(f"\ntotal wall time (services included): {time.perf_counter() - started:.1f} s")
    data.update(
        settings=caps,
        invariants=[
            {
                "name": i.name,
                "checked": i.checked,
                "violations": i.violations,
                "examples": i.examples,
            }
            for i in report.invariants
        ],
        sends_per_chip_day={d.isoformat(): v for d, v in report.sends_per_chip_day.items()},
        caps_per_chip_day={d.isoformat(): v for d, v in report.caps_per_chip_day.items()},
        deferrals=dict(report.deferrals),
        ledger={f"{status}/{reason}": n for (status, reason), n in report.final_ledger.items()},
        events=[(at.isoformat(), what) for at, what in report.events],
        totals={k: _plain(v) for k, v in report.totals.items()},
    )
    out = common.finish("outreach-sim", data)
    print(f"results: {out.relative_to(ROOT)}", file=sys.stderr)
    return 0 if report.ok else 1


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


if __name__ == "__main__":
    sys.exit(main())
