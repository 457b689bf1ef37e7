"""Memory of the HEMS recorder over 7 simulated days: it must stay flat.

The recorder records the simulated meter over real UDP on loopback in virtual meter time
(a :class:`VirtualClock` moved by this script, no sleeps). After each simulated day it
prints the Python heap traced by :mod:`tracemalloc` (current, after a collection; also
without what the meter emulator in this process allocates) and the process RSS
(``VmRSS`` of /proc/self/status). The store is on disk, so its rows do not count;
what must not grow is the planner's and the recorder's state.

    .venv/bin/python benchmarks/bench_recorder_memory.py [--days 7] [--poll 60]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
import tracemalloc
from pathlib import Path

from smartmeter_proto.hems import Recorder, RecordStore, SmartMeter, build_report
from smartmeter_proto.sim.clock import VirtualClock
from smartmeter_proto.sim.meter import SimulatedMeter, meter_node
from smartmeter_proto.transport.udp import EchonetClient, serve_node

T0 = 1_777_604_400.0  # 2026-05-01 12:00:00 JST
DAY_S = 86400
HOST = "127.0.0.1"


def _rss_kib() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def _without_emulator() -> int:
    """Traced bytes not allocated by the simulated meter (its load curve caches every
    half-hour of the simulated days, which a real meter does not cost the recorder)."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, "*/smartmeter_proto/sim/*")]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


async def _run(days: int, poll: float, folder: Path) -> list[tuple[int, int, int, float]]:
    clock = VirtualClock(T0)
    meter = SimulatedMeter()
    store = RecordStore(folder / "hems.sqlite")
    rows: list[tuple[int, int, int, float]] = []
    node = meter_node(meter, now=clock())
    async with (
        serve_node(node, local=(HOST, 0), reply_port=None, join_group=False, clock=clock) as link,
        EchonetClient.udp(local=(HOST, 0), timeout=2.0, retries=1, join_group=False) as client,
    ):
        recorder = Recorder(
            SmartMeter(client, link.address, clock=clock), store, poll_interval=poll
        )
        recorder.start_listening()  # as run() does: the meter's INF every 30 minutes
        started = time.perf_counter()
        for day in range(1, days + 1):
            end = T0 + day * DAY_S
            while clock.now < end:
                await recorder.step()
                clock.now += poll
            gc.collect()
            current, _peak = tracemalloc.get_traced_memory()
            recorder_side = _without_emulator()
            rows.append((day, recorder_side, _rss_kib(), time.perf_counter() - started))
            print(
                f"day {day}: traced heap {current / 1024:8.1f} KiB, without the emulator "
                f"{recorder_side / 1024:8.1f} KiB  RSS {_rss_kib():7d} KiB  "
                f"wall {time.perf_counter() - started:6.1f} s",
                flush=True,
            )
        await recorder.stop()
    report = build_report(store)
    print(
        f"1-minute values {report.minutes_collected}/{report.minutes_expected}, "
        f"30-minute {report.half_hours_collected}/{report.half_hours_expected}, "
        f"disagreements {report.disagreements}"
    )
    store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--poll", type=float, default=60.0, help="poll interval, meter seconds")
    args = parser.parse_args()
    tracemalloc.start()
    with tempfile.TemporaryDirectory() as folder:
        rows = asyncio.run(_run(args.days, args.poll, Path(folder)))
    first, last = rows[0], rows[-1]
    growth = (last[1] - first[1]) / 1024
    print(
        f"traced heap without the emulator, day 1 -> day {last[0]}: {growth:+.1f} KiB; "
        f"RSS {first[2]} -> {last[2]} KiB"
    )


if __name__ == "__main__":
    main()
