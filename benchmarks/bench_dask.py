"""Batch push decoding: the plain in-process loop against the Dask job on 1 and 2 workers.

A capture of ~150k ciphered A-route pushes (300 simulated meters, 5- and 30-minute value
pushes, 36 simulated hours, general-glo-ciphering SC 0x30 in the DLMS UDP wrapper) is
generated once with :class:`~smartmeter_proto.sim.ameter.SimulatedAMeter` and cached as four
capture Parquet files (time slices, as four collectors would write them) under the temp
dir. The meters are ticked on a 5-minute grid to keep generation fast: captures catch up
exactly, pushes leave at the next tick (the rows and counters are the same, the send times
are on the grid).

Contenders, on the same rows, alternating round by round (the order rotates each round so
no contender always runs after the same one); the best of the rounds counts, the spread
(slowest / best - 1) and the 1-minute load average at each run are reported beside it:

* ``in-process``: ``decode_group`` over every row in per-meter order, one core, no Dask,
  no I/O (the plain loop the job is held to);
* ``dask-proc-N``: ``decode_captures`` on a LocalCluster of N worker processes with one
  thread each, wall time of the whole job (read, split, decode, write Parquet); cluster
  start and the workers' first import of the package excluded (clusters live across rounds);
* ``pool-N``: the machine's own ceiling for N processes, without Dask: the decode tasks of
  the job (the same buckets, split beforehand) on a ``ProcessPoolExecutor`` of N processes.
  If ``pool-2 / pool-1`` stays far below 2, the cores are not free (other load), and no
  scheduler can make two workers pay.

``--scaling`` adds one round of LocalClusters of 1..4 worker processes (1 thread each)
against one worker process with 1..4 threads (GIL-bound: threads do not scale), and the
task stream of a 1- and a 2-worker job: compute seconds per task kind, transfer seconds,
and the compute inflation (the same work taking longer per task when run two at a time
means the two processes did not get two cores).

Run::

    python benchmarks/bench_dask.py                    # ~1 min to generate once, then ~1 min
    python benchmarks/bench_dask.py --rounds 7 --scaling --json out.json

Needs the ``hes`` extra (dask, distributed, pyarrow). Targets (issue 17): one worker within
0.9x of the in-process loop, two workers >= 1.7x one, on two free cores.
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
from collections.abc import Callable
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
    meter = SimulatedAMeter(
        start=START,
        system_title=title_of(n),
        client_system_title=CLIENT_TITLE,
        ek=k.ek,
        ak=k.ak,
        state=MemoryStateStore(),
        seed=n,
        push_5min=True,
    )
    source = f"10.{n >> 8 & 0xFF}.{n & 0xFF}.1:4059"
    rows: list[tuple[float, str, bytes]] = []
    now, end = START + TICK_OFFSET, START + timedelta(hours=hours)
    while now <= end:
        meter.tick(now)
        for apdu in meter.pushes_to_send():
            rows.append(
                (
                    now.timestamp() + 0.05 + (n % 97) / 1000,
                    source,
                    wrapper.encode(wrapper.WrapperFrame(1, 1, apdu)),
                )
            )
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
        rows = [
            r
            for part in pool.map(meter_rows, [(n, hours) for n in range(meters)], chunksize=4)
            for r in part
        ]
    rows.sort(key=lambda r: r[0])
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    step = -(-len(rows) // FILES)
    for i in range(FILES):
        write_capture(tmp / files[i].name, rows[i * step : (i + 1) * step], row_group_size=10_000)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return files, time.perf_counter() - started


def load_rows(files: list[Path]) -> list[Any]:
    """Every capture row, in per-meter then received order (what decode_group expects)."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    from smartmeter_proto.hes.batch import push_title
    from smartmeter_proto.hes.batch_io import CaptureRow

    rows = [CaptureRow(*r.values()) for f in files for r in pq.read_table(f).to_pylist()]
    rows.sort(key=lambda r: (push_title(r.datagram) or b"", r.received_at))
    return rows


def floor_rate(rows: list[Any], keys: dict[bytes, MeterKeys]) -> float:
    """Datagrams/s of open_push_datagram + InvocationCounters alone (the decrypt floor)."""
    counters = InvocationCounters(16)
    started = time.perf_counter()
    for row in rows:
        open_push_datagram(row.datagram, keys.get, counters)
    return len(rows) / (time.perf_counter() - started)


def in_process(rows: list[Any], keys: dict[bytes, MeterKeys]) -> float:
    from smartmeter_proto.hes.batch import decode_group

    started = time.perf_counter()
    outcome = decode_group(rows, keys)
    elapsed = time.perf_counter() - started
    assert len(outcome.readings) == len(rows), "the bench capture is all genuine readings"
    return elapsed


_POOL_KEYS: dict[bytes, MeterKeys] = {}


def _pool_init(meters: int) -> None:
    _POOL_KEYS.update({title_of(n): keys_of(n) for n in range(meters)})


def _pool_task(args: tuple[Any, str, int]) -> int:
    from smartmeter_proto.hes.batch import decode_partition

    table, out, index = args
    return decode_partition(table, _POOL_KEYS, out, index)["datagrams"]


class Pool:
    """N plain worker processes running the job's decode tasks on pre-split buckets."""

    def __init__(self, workers: int, meters: int, buckets: list[Any], out: Path) -> None:
        from smartmeter_proto.hes.batch_io import clear_outputs

        self.executor = ProcessPoolExecutor(workers, initializer=_pool_init, initargs=(meters,))
        self.buckets = buckets
        self.out = out
        clear_outputs(out)
        list(
            self.executor.map(
                _pool_task, [(b.slice(0, 10), str(out), i) for i, b in enumerate(buckets)]
            )
        )  # warm up

    def run(self) -> float:
        started = time.perf_counter()
        done = sum(
            self.executor.map(
                _pool_task, [(b, str(self.out), i) for i, b in enumerate(self.buckets)]
            )
        )
        elapsed = time.perf_counter() - started
        assert done == sum(b.num_rows for b in self.buckets)
        return elapsed

    def close(self) -> None:
        self.executor.shutdown()


class Cluster:
    """A LocalCluster kept across rounds; ``run`` times one whole decode_captures job."""

    def __init__(
        self,
        workers: int,
        threads: int,
        processes: bool,
        files: list[Path],
        keys: dict[bytes, MeterKeys],
        out: Path,
        partitions: int | None,
    ) -> None:
        distributed: Any = importlib.import_module("distributed")  # partly typed
        self.cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=threads,
            processes=processes,
            dashboard_address=None,
        )
        self.client = distributed.Client(self.cluster)
        self.client.run(importlib.import_module, "smartmeter_proto.hes.batch")  # warm imports
        self.files, self.keys, self.out, self.partitions = files, keys, out, partitions
        self.summary: Any = None

    def run(self) -> float:
        from smartmeter_proto.hes.batch import decode_captures

        self.summary = decode_captures(
            self.files,
            self.keys,
            self.out,
            client=self.client,
            partitions=self.partitions,
            timeout=600,
        )
        assert self.summary.readings == self.summary.datagrams
        return float(self.summary.elapsed_s)

    def task_stream(self) -> dict[str, float]:
        """One job under the task stream: compute s per task kind, transfer s, wall s."""
        distributed: Any = importlib.import_module("distributed")
        with distributed.get_task_stream(client=self.client) as stream:
            wall = self.run()
        out: dict[str, float] = {"wall_s": wall}
        for task in stream.data:
            kind = str(task["key"]).split("-")[0].strip("('\"")
            for part in task["startstops"]:
                name = kind if part["action"] == "compute" else part["action"]
                out[name] = out.get(name, 0.0) + part["stop"] - part["start"]
        return out

    def close(self) -> None:
        self.client.close()
        self.cluster.close()


def measure(
    contenders: dict[str, Callable[[], float]], rounds: int
) -> dict[str, list[tuple[float, float]]]:
    """(seconds, 1-min load average before the run) per contender and round, alternating."""
    names = list(contenders)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            load = os.getloadavg()[0]
            runs[name].append((contenders[name](), load))
        print(f"  round {r + 1}/{rounds} done, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    return runs


def _row(name: str, rows: int, runs: list[tuple[float, float]], base: float) -> str:
    best = min(t for t, _ in runs)
    worst = max(t for t, _ in runs)
    loads = [load for _, load in runs]
    return (
        f"| {name} | {rows / best:,.0f} | {best:.2f} | {worst / best - 1:.0%} | "
        f"{min(loads):.2f}-{max(loads):.2f} | {base / best:.2f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=300)
    parser.add_argument("--hours", type=int, default=36)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="also 1..4 worker processes vs 1..4 threads, and task streams",
    )
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "smartmeter_proto_bench_dask"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="processes generating the capture (first run only)",
    )
    parser.add_argument(
        "--partitions", type=int, default=None, help="decode tasks (default: the job's own choice)"
    )
    parser.add_argument("--json", help="write results to this file")
    args = parser.parse_args()
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        print(f"{exc.name} is not installed: pip install -e '.[hes]'", file=sys.stderr)
        return 2
    import pyarrow as pa

    from smartmeter_proto.hes.batch import split_capture

    files, generated = capture(args.meters, args.hours, args.cache, args.jobs)
    keys = {title_of(n): keys_of(n) for n in range(args.meters)}
    rows = load_rows(files)
    count = len(rows)
    floor = floor_rate(rows, keys)
    buckets_of = {
        n: [
            pa.concat_tables(parts)
            for parts in zip(*(split_capture(str(f), None, 4 * n) for f in files), strict=True)
        ]
        for n in (1, 2)
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        owned: list[Cluster | Pool] = []
        try:
            dask1 = Cluster(1, 1, True, files, keys, root / "d1", args.partitions)
            dask2 = Cluster(2, 1, True, files, keys, root / "d2", args.partitions)
            pool1 = Pool(1, args.meters, buckets_of[1], root / "p1")
            pool2 = Pool(2, args.meters, buckets_of[2], root / "p2")
            owned += [dask1, dask2, pool1, pool2]
            runs = measure(
                {
                    "in-process": lambda: in_process(rows, keys),
                    "dask-proc-1": dask1.run,
                    "dask-proc-2": dask2.run,
                    "pool-1": pool1.run,
                    "pool-2": pool2.run,
                },
                args.rounds,
            )
            streams = (
                {"dask-proc-1": dask1.task_stream(), "dask-proc-2": dask2.task_stream()}
                if args.scaling
                else {}
            )
            for item in owned:
                item.close()
            owned.clear()
            scaling: dict[str, float] = {}
            if args.scaling:
                for workers, threads, processes in (
                    (1, 1, True),
                    (2, 1, True),
                    (3, 1, True),
                    (4, 1, True),
                    (1, 2, False),
                    (1, 4, False),
                ):
                    plural = "es" if workers > 1 else ""
                    name = (
                        f"{workers} process{plural} x 1 thread"
                        if processes
                        else f"1 process x {threads} threads"
                    )
                    cluster = Cluster(
                        workers,
                        threads,
                        processes,
                        files,
                        keys,
                        root / f"s{workers}{threads}",
                        args.partitions,
                    )
                    owned.append(cluster)
                    scaling[name] = min(cluster.run() for _ in range(2))
                    cluster.close()
                    owned.remove(cluster)
        finally:
            for item in owned:
                item.close()
    best = {name: min(t for t, _ in r) for name, r in runs.items()}
    base = best["in-process"]
    print(
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs; {count:,} pushes from {args.meters} meters over "
        f"{args.hours} h in {FILES} files"
        + (f" (generated in {generated:.0f} s)" if generated else " (cached)")
        + f"; {args.rounds} rounds; open_push_datagram floor {floor:,.0f}/s\n"
    )
    print("| contender | datagrams/s (best) | best s | spread | load avg | x in-process |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in runs.items():
        print(_row(name, count, r, base))
    ratios = {
        "dask-1 / in-process": base / best["dask-proc-1"],
        "dask-2 / dask-1": best["dask-proc-1"] / best["dask-proc-2"],
        "pool-2 / pool-1 (the machine's ceiling)": best["pool-1"] / best["pool-2"],
        "pool-1 / in-process": base / best["pool-1"],
    }
    print()
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}")
    for name, stream in streams.items():
        parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(stream.items()))
        print(f"\ntask stream {name} (s): {parts}")
    if scaling:
        print("\n| LocalCluster | best s of 2 | x 1 process |")
        print("|---|---:|---:|")
        one = scaling["1 process x 1 thread"]
        for name, seconds in scaling.items():
            print(f"| {name} | {seconds:.2f} | {one / seconds:.2f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "rows": count,
                    "runs": runs,
                    "ratios": ratios,
                    "streams": streams,
                    "scaling": scaling,
                },
                handle,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
