"""``smartmeter-proto fleet``: simulate an A-route fleet, collect it, print the service levels."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, Literal

from ..hes.collector import CollectorConfig
from ..hes.report import ServiceReport, service_report
from ..hes.storage import Store
from ..sim.fleet import FleetPlan
from ..sim.fleet_run import (
    HEADEND_TITLE,
    METER_STATE_SUFFIX,
    FleetRun,
    meter_state_beside,
    run_files,
    run_fleet,
    stored_plan,
)
from ..sim.fleet_workers import WorkerRun, run_fleet_workers
from ..sim.load_curve import JST
from .arguments import int_at_least, output_path, positive_float
from .failure import fail, require_extra

__all__ = ["StoreLocation", "register", "store_location"]

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86_400}
#: The store when neither --db nor --store names one.
_DEFAULT_DB: Final = "fleet.sqlite"
#: The SQLite file of a Parquet store, inside its folder (hes.parquet_store.STATE_FILE,
#: repeated so that checking the arguments needs no pyarrow).
_PARQUET_STATE: Final = "state.sqlite"


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Where ``fleet`` keeps the run: an embedded SQLite file, or a Parquet store folder."""

    kind: Literal["sqlite", "parquet"]
    path: Path

    @property
    def state(self) -> Path:
        """The SQLite file holding the collector's state (the whole store for sqlite)."""
        return self.path / _PARQUET_STATE if self.kind == "parquet" else self.path

    def __str__(self) -> str:
        return f"parquet:{self.path}" if self.kind == "parquet" else str(self.path)


def _store_folder(text: str) -> Path:
    """A folder the command will write into (created later): checked before any work."""
    if not text:
        raise argparse.ArgumentTypeError("parquet: needs a folder (e.g. parquet:fleet-store)")
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text[:80]!r} is a file, not a folder")
    parent = path.parent if str(path.parent) else Path(".")
    if not path.exists() and not parent.is_dir():
        raise argparse.ArgumentTypeError(
            f"cannot create {text[:80]!r}: no folder {str(parent)[:80]!r}"
        )
    target = path if path.exists() else parent
    if not os.access(target, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text[:80]!r}: permission denied")
    return path


def store_location(text: str) -> StoreLocation:
    """``sqlite:PATH`` or ``parquet:DIR`` (see ``fleet --help``)."""
    scheme, colon, rest = text.partition(":")
    if colon and scheme == "sqlite":
        return StoreLocation("sqlite", output_path(rest))
    if colon and scheme == "parquet":
        return StoreLocation("parquet", _store_folder(rest))
    raise argparse.ArgumentTypeError(
        f"unknown store {text[:60]!r}: expected sqlite:PATH or parquet:DIR"
    )


def duration(text: str) -> float:
    """'2h', '90m', '45min', '3600s', '1.5h' or plain seconds."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(s|m|min|h|d)?\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 2h, 90m, 3600s)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def share(text: str) -> float:
    """'0.5%' or a fraction '0.005'."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a share: {text!r} (e.g. 0.5% or 0.005)") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"share out of 0..100%: {text!r}")
    return value


def _optional_output(text: str) -> Path | None:
    """An output file, checked before the run; '' means none."""
    return output_path(text) if text else None


def _start(text: str) -> datetime:
    """ISO date and time, JST unless it names its own offset."""
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO date and time: {text[:40]!r} (e.g. 2026-05-01T00:00)"
        ) from None
    return start.replace(tzinfo=JST) if start.tzinfo is None else start


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "fleet", help="simulate N A-route meters against a head end; print the service levels"
    )
    parser.add_argument(
        "--meters", type=int_at_least(1), default=1000, help="fleet size (default 1000)"
    )
    parser.add_argument("--hours", type=positive_float, default=24.0, help="simulated hours (24)")
    parser.add_argument("--loss", type=share, default=0.0, help="datagram loss, e.g. 0.5%%")
    parser.add_argument(
        "--outage", type=duration, default=0.0, help="area outage length, e.g. 2h (0: none)"
    )
    parser.add_argument(
        "--outage-at",
        type=duration,
        default=None,
        help="outage start after the run start (default: a third of the run)",
    )
    parser.add_argument(
        "--areas",
        type=int_at_least(1),
        default=10,
        help="areas; the outage hits one of them (default 10)",
    )
    parser.add_argument(
        "--five-min-share",
        type=share,
        default=0.10,
        help="meters whose 5-minute values are collected (10%%)",
    )
    parser.add_argument(
        "--realtime-share",
        type=share,
        default=0.03,
        help="meters pushing real-time 5-minute values (3%%)",
    )
    parser.add_argument(
        "--drifting", type=int_at_least(0), default=0, help="meters with a fast clock (0)"
    )
    parser.add_argument(
        "--reboots", type=int_at_least(0), default=0, help="meters that restart once (0)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulation (1)")
    parser.add_argument(
        "--start",
        type=_start,
        default="2026-05-01T00:00",
        help="simulated start, JST (default 2026-05-01T00:00)",
    )
    parser.add_argument(
        "--db",
        type=output_path,
        default=None,
        help="SQLite store (replaced if it exists; default fleet.sqlite)",
    )
    parser.add_argument(
        "--store",
        type=store_location,
        default=None,
        help="where the run is kept: sqlite:PATH (the default, as --db) or "
        "parquet:DIR (readings as hive-partitioned Parquet in DIR/readings, "
        "the collector's state in DIR/state.sqlite; needs the 'hes' extra); "
        "a store there is replaced",
    )
    parser.add_argument(
        "--chart",
        type=_optional_output,
        default="fleet.png",
        help="PNG chart path ('' for none; needs the 'hes' extra)",
    )
    parser.add_argument(
        "--capture",
        type=_optional_output,
        default="",
        help="also write every received datagram to this Parquet file (needs the 'hes' extra)",
    )
    parser.add_argument(
        "--speed",
        type=positive_float,
        default=None,
        help="at most this many simulated seconds per wall second (default: as fast as possible)",
    )
    parser.add_argument(
        "--workers",
        type=int_at_least(0),
        default=os.cpu_count() or 1,
        help="worker processes running the meters (default: one per core; "
        "0: the meters run in the collector's process)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a service level misses its target"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run kept in --db (killed or stopped) from its last "
        "commit; its plan comes from the store, the plan options are not used",
    )
    parser.set_defaults(handler=_fleet)


def _plan(args: argparse.Namespace) -> FleetPlan:
    return FleetPlan(
        meters=args.meters,
        start=args.start,
        hours=args.hours,
        loss=args.loss,
        outage_s=args.outage,
        outage_at_s=args.outage_at,
        areas=args.areas,
        five_min_share=args.five_min_share,
        realtime_share=args.realtime_share,
        drifting=args.drifting,
        reboots=args.reboots,
        seed=args.seed,
    )


def _progress(now: float, run: FleetRun | WorkerRun) -> None:
    hours = (now - run.plan.t0) / 3600
    print(
        f"\r  simulated {hours:6.2f} h of {run.plan.hours:g} h, "
        f"{run.collector.stats.pushes} pushes, {run.collector.stats.reads} reads",
        end="",
        file=sys.stderr,
        flush=True,
    )


def _json(report: ServiceReport, run: FleetRun | WorkerRun) -> dict[str, object]:
    return {
        "meters": report.meters,
        "levels": [
            {
                "name": lv.name,
                "met": lv.met,
                "expected": lv.expected,
                "rate": lv.rate,
                "target": lv.target,
                "ok": lv.ok,
            }
            for lv in report.levels
        ],
        "lost_30min": report.lost_30min,
        "lost_5min": report.lost_5min,
        "last_gasps": report.last_gasps,
        "outages_injected": report.outages_injected,
        "restorations": report.restorations,
        "drops": report.drops,
        "wall_seconds": round(run.wall_seconds, 2),
        "datagrams": run.collector.stats.datagrams,
    }


def _open_store(location: StoreLocation, *, fresh: bool) -> Store:
    """The store at ``location``; ``fresh``: the run kept there before is removed first."""
    if fresh:
        for path in run_files(location.state):
            path.unlink(missing_ok=True)
    if location.kind == "sqlite":
        return Store(location.path)
    from ..hes.parquet_store import ParquetStore, clear_parquet_store

    if fresh:
        clear_parquet_store(location.path)
    return ParquetStore(location.path)


def _fleet(args: argparse.Namespace) -> int:
    # Everything the run will need, checked before it starts: the arguments (bad input,
    # exit 2) first, then the optional modules that write the chart and the capture.
    try:
        plan = _plan(args)
    except ValueError as exc:
        fail(str(exc))
    if args.db is not None and args.store is not None:
        fail("give --db or --store, not both")
    location: StoreLocation = args.store or StoreLocation("sqlite", Path(args.db or _DEFAULT_DB))
    db = location.state
    if args.resume and not db.is_file():
        fail(f"nothing to resume: no store {str(location)[:80]!r}")
    if location.kind == "parquet":
        require_extra("hes", "pyarrow")  # a missing extra is exit 1, as everywhere
    if args.chart:
        require_extra("hes", "matplotlib")
    if args.capture:
        require_extra("hes", "pyarrow")
    store = _open_store(location, fresh=not args.resume)
    if args.resume:
        try:
            plan = stored_plan(store)
        except ValueError as exc:
            fail(str(exc))
    config = CollectorConfig(capture=bool(args.capture))
    progress = None if args.json else _progress
    run: FleetRun | WorkerRun
    if args.workers:
        run = asyncio.run(
            run_fleet_workers(
                plan,
                store,
                workers=args.workers,
                headend_title=HEADEND_TITLE,
                config=config,
                max_speed=args.speed,
                progress=progress,
                resume=args.resume,
                meter_state_path=f"{db}{METER_STATE_SUFFIX}",
            )
        )
    else:
        run = asyncio.run(
            run_fleet(
                plan,
                store,
                config=config,
                max_speed=args.speed,
                progress=progress,
                meter_state=meter_state_beside(store),
                resume=args.resume,
            )
        )
    if not args.json:
        print(file=sys.stderr)
    stats = run.stats
    report = service_report(
        store, t0=plan.t0, end=plan.end, outages_injected=stats.outages_injected
    )
    if args.capture:
        from ..hes.batch_io import write_capture

        write_capture(args.capture, run.collector.captured)
    chart = ""
    if args.chart:
        from ..hes.chart import write_chart

        chart = str(write_chart(report, args.chart, outages=stats.outage_windows))
    if args.json:
        print(json.dumps(_json(report, run), indent=2))
    else:
        simulated = plan.hours * 3600
        workers = f" on {args.workers} worker processes" if args.workers else ""
        print(
            f"{plan.meters} meters{workers}, {plan.hours:g} h simulated "
            f"(+{run.settle_s / 3600:g} h settling) in {run.wall_seconds:.1f} s "
            f"wall ({simulated / max(run.wall_seconds, 1e-9):,.0f}x); loss {plan.loss:.2%}, "
            f"outage {plan.outage_s / 3600:g} h on 1 of {plan.areas} areas"
        )
        print(
            f"collector: {run.collector.stats.datagrams} datagrams, "
            f"{run.collector.stats.readings_pushed} values pushed, "
            f"{run.collector.stats.readings_backfilled} back-filled in "
            f"{run.collector.stats.reads} range reads; store {location}"
        )
        for line in report.table():
            print(line)
        drift = run.collector.clock_drift()
        late = [d for d in drift.values() if abs(d) > 60]
        if late:
            print(f"meters with a clock off by more than 60 s: {len(late)}")
        if chart:
            print(f"chart: {chart}")
        if args.capture:
            print(f"capture: {args.capture} ({len(run.collector.captured)} datagrams)")
    store.close()
    return 1 if args.check and not report.ok else 0
