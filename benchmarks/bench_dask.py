"""Batch push decoding: one core without Dask against the Dask job on 1 and 2 workers.

A capture of ~150k ciphered A-route pushes (300 simulated meters, 5- and 30-minute value
pushes, 36 simulated hours, general-glo-ciphering SC 0x30 in the DLMS UDP wrapper) is
generated once with :class:`~smartmeter_proto.sim.ameter.SimulatedAMeter` and cached as four
capture Parquet files (time slices, as four collectors would write them) under the temp
dir. The meters are ticked on a 5-minute grid to keep generation fast: captures catch up
exactly, pushes leave at the next tick (the rows and counters are the same, the send times
are on the grid).

Measured side by side, on the same rows:

* in process, one core, no Dask: ``open_push_datagram`` with ``InvocationCounters`` over
  every row in per-meter order (the decrypt + decode floor), and the job's own per-group
  function ``decode_group`` (adds classification and output rows);
* ``decode_captures`` on a LocalCluster of 1 and of 2 worker processes (1 thread each),
  wall time of the whole job (read, shuffle, decode, write Parquet); cluster start and the
  workers' first import of the package excluded.

Run::

    python benchmarks/bench_dask.py                    # ~1 min to generate once, then ~30 s
    python benchmarks/bench_dask.py --meters 100 --hours 24 --json out.json

Needs the ``hes`` extra (dask[dataframe], distributed, pyarrow). No targets: the 2-vs-1
ratio is bounded by the cores the machine has (the scheduler and this process share them).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from smartmeter_proto.aroute import wrapper
from smartmeter_proto.aroute.security import InvocationCounters
from smartmeter_proto.hes.push import MeterKeys, open_push_datagram
from smartmeter_proto.sim.load_curve import JST

START = datetime(2026, 6, 1, 0, 0, tzinfo=JST)
CLIENT_TITLE = bytes.fromhex("4855534D00000001")  # bench fixture
TICK = timedelta(minutes=5)
TICK_OFFSET = timedelta(seconds=150)  # after every 5-minute push of the period has fallen due
FILES = 4
CACHE_VERSION = 1


def title_of(n: int) -> bytes:
    return bytes.fromhex("4D4D4D02") + n.to_bytes(4, "big")


def keys_of(n: int) -> MeterKeys:
    """Deterministic per-meter bench keys (not secrets)."""
    seed = n.to_bytes(4, "big")
    return MeterKeys(seed * 4, bytes(b ^ 0x5A for b in seed * 4))


def meter_rows(args: tuple[int, int]) -> list[tuple[float, str, bytes]]:
    """Every push of meter ``n`` over ``hours``, as capture rows."""
    from smartmeter_proto.security_state import MemoryStateStore
    from smartmeter_proto.sim.ameter import SimulatedAMeter

    n, hours = args
    k = keys_of(n)
    meter = SimulatedAMeter(start=START, system_title=title_of(n), client_system_title=CLIENT_TITLE,
                            ek=k.ek, ak=k.ak, state=MemoryStateStore(), seed=n, push_5min=True)
    source = f"10.{n >> 8 & 0xFF}.{n & 0xFF}.1:4059"
    rows: list[tuple[float, str, bytes]] = []
    now, end = START + TICK_OFFSET, START + timedelta(hours=hours)
    while now <= end:
        meter.tick(now)
        for apdu in meter.pushes_to_send():
            rows.append((now.timestamp() + 0.05 + (n % 97) / 1000, source,
                         wrapper.encode(wrapper.WrapperFrame(1, 1, apdu))))
        now += TICK
    return rows


def capture(meters: int, hours: int, cache: Path, jobs: int) -> tuple[list[Path], float]:
    """The cached capture files (generated on the first run) and the generation seconds."""
    from smartmeter_proto.hes.batch_io import write_capture

    folder = cache / f"capture-v{CACHE_VERSION}-{meters}m-{hours}h"
    files = [folder / f"collector-{i}.parquet" for i in range(FILES)]
    if all(f.exists() for f in files):
        return files, 0.0
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        rows = [r for part in pool.map(meter_rows, [(n, hours) for n in range(meters)],
                                       chunksize=4) for r in part]
    rows.sort(key=lambda r: r[0])
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    step = -(-len(rows) // FILES)
    for i in range(FILES):
        write_capture(tmp / files[i].name, rows[i * step:(i + 1) * step], row_group_size=10_000)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return files, time.perf_counter() - started


def in_process(files: list[Path], keys: dict[bytes, MeterKeys]) -> dict[str, float]:
    """Single-core rates (datagrams/s) of the decode floor and of decode_group."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    from smartmeter_proto.hes.batch import decode_group, push_title
    from smartmeter_proto.hes.batch_io import CaptureRow

    rows = [CaptureRow(*r.values()) for f in files for r in pq.read_table(f).to_pylist()]
    rows.sort(key=lambda r: (push_title(r.datagram) or b"", r.received_at))
    counters = InvocationCounters(16)
    started = time.perf_counter()
    for row in rows:
        open_push_datagram(row.datagram, keys.get, counters)
    floor = time.perf_counter() - started
    started = time.perf_counter()
    outcome = decode_group(rows, keys)
    group = time.perf_counter() - started
    assert len(outcome.readings) == len(rows), "the bench capture is all genuine readings"
    return {"rows": len(rows), "open_push_datagram": len(rows) / floor,
            "decode_group": len(rows) / group}


def on_dask(files: list[Path], keys: dict[bytes, MeterKeys], workers: int, out: Path,
            partitions: int | None) -> tuple[float, Any]:
    from smartmeter_proto.hes.batch import decode_captures

    distributed: Any = importlib.import_module("distributed")  # partly typed

    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.run(importlib.import_module, "smartmeter_proto.hes.batch")  # warm the imports
        summary = decode_captures(files, keys, out, client=client, partitions=partitions,
                                  timeout=600)
    return summary.datagrams_per_s, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=300)
    parser.add_argument("--hours", type=int, default=36)
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "smartmeter_proto_bench_dask")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="processes generating the capture (first run only)")
    parser.add_argument("--partitions", type=int, default=None,
                        help="shuffle partitions (default: the job's own choice)")
    parser.add_argument("--json", help="write results to this file")
    args = parser.parse_args()
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        print(f"{exc.name} is not installed: pip install -e '.[hes]'", file=sys.stderr)
        return 2
    files, generated = capture(args.meters, args.hours, args.cache, args.jobs)
    keys = {title_of(n): keys_of(n) for n in range(args.meters)}
    single = in_process(files, keys)
    rates: dict[str, float] = {}
    summaries: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            name = f"Dask job, {workers} worker{'s' if workers > 1 else ''} (1 thread each)"
            rates[name], summaries[name] = on_dask(files, keys, workers,
                                                   Path(tmp) / f"out{workers}", args.partitions)
    one, two = rates.values()
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs; {int(single['rows']):,} pushes from {args.meters} meters "
          f"over {args.hours} h in {FILES} files"
          + (f" (generated in {generated:.0f} s)" if generated else " (cached)") + "\n")
    print("| run | datagrams/s | x one core decode_group |")
    print("|---|---:|---:|")
    base = single["decode_group"]
    table = {"one core, open_push_datagram + InvocationCounters (no Dask)":
             single["open_push_datagram"],
             "one core, decode_group (no Dask)": base, **rates}
    for name, rate in table.items():
        print(f"| {name} | {rate:,.0f} | {rate / base:.2f} |")
    for name, summary in summaries.items():
        print(f"\n{name}: {summary.partitions} partitions, {summary.elapsed_s:.2f} s, "
              f"{summary.readings:,} readings, {summary.rejected} rejected")
    print(f"\n2 workers / 1 worker: {two / one:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"datagrams_per_s": table, "ratio_2_vs_1": two / one,
                       "rows": single["rows"]}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
