"""Head-end collector capacity: pushes per second per core beside the AES-GCM floor.

Pushes are made once by simulated A-route meters (ciphered general-glo-ciphering
DataNotifications in UDP wrapper datagrams, as on the wire), then fed in one process
without the simulator, one core, the contenders taking turns round by round (or every
``--chunk`` pushes within a round), so load on a shared machine falls on all of them alike:

* AESGCM floor: one call of a prebuilt ``cryptography`` ``AESGCM.decrypt`` per push, of a
  payload of the same size under the same key with a 16-byte tag (suite 0's 12-byte tag
  takes two such calls, see ``aroute.security``);
* decrypt+decode: ``hes.push.open_push_datagram`` (wrapper, security suite 0 with replay
  check, A-XDR, classification, result objects): the public one-push API;
* collector + SQLite: ``Collector.receive_datagram`` over the same datagrams into a fresh
  collector and store each round (built outside the timed region), the final commit
  (``Collector.finish``) timed with them;
* collector over UDP (``--udp``): the same datagrams sent to the collector's socket on
  loopback and drained by its :class:`~smartmeter_proto.transport.datagram.DatagramSocket`;
  the time is the CPU time spent in the collector's receive callbacks (recvfrom included).

Times are CPU time of the process (``time.process_time``), so the time the scheduler gives
other processes of a shared machine is not counted. Each table gives the best round, the
spread (worst / best - 1) and the ratio to the floor (best over best, and the range of the
per-round ratios). Pushes per second are 1 / best cost. Meters per core: a meter sends
one 30-minute push per 1 800 s, spread by the meters over the first 1 200 s after the
period end; a real-time meter one 5-minute push per 300 s, spread over 120 s: the mean
rate (period / cost) and the burst rate the spread implies (spread / cost).

Targets: 30-minute pushes >= 100 000 per second and <= 22x the floor; 5-minute pushes
>= 70 000 per second.

Run::

    python benchmarks/bench_fleet.py [--meters 600] [--hours 6] [--rounds 7] [--udp]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import socket
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from smartmeter_proto.aroute import wrapper
from smartmeter_proto.aroute.security import InvocationCounters, split_ciphered, unprotect
from smartmeter_proto.hes.collector import Collector, MeterInfo
from smartmeter_proto.hes.push import PERIOD_5MIN, MeterKeys, open_push_datagram
from smartmeter_proto.hes.storage import MEMORY, Store
from smartmeter_proto.sim.fleet import Fleet, FleetPlan
from smartmeter_proto.sim.load_curve import JST
from smartmeter_proto.transport.datagram import DatagramSocket

START = datetime(2026, 5, 1, 0, 0, tzinfo=JST)
HES = ("127.0.0.1", 9)
HES_TITLE = b"HES\x00\x00\x00\x00\x01"
FLOOR = "AESGCM floor (one decrypt call)"
COLLECTOR = "collector + SQLite"
_TAG_16 = 16


class Workload:
    """The pushes of one kind, made once, and what every contender needs of them."""

    def __init__(self, meters: int, hours: float, realtime: bool) -> None:
        share = 1.0 if realtime else 0.0
        plan = FleetPlan(
            meters=meters,
            start=START,
            hours=hours,
            five_min_share=share,
            realtime_share=share,
            seed=7,
        )
        self.fleet = Fleet(plan, client_system_title=HES_TITLE, headend=HES)
        self.keys = {m.system_title: m.keys for m in self.fleet.members}
        pushes: list[bytes] = []
        while (due := self.fleet.next_deadline()) is not None and due <= plan.end:
            self.fleet.handle_timeout(due)
            pushes += [data for _, data, _ in self.fleet.datagrams_to_send()]
        if realtime:  # keep the 5-minute pushes only
            pushes = [
                d
                for d in pushes
                if getattr(open_push_datagram(d, self.keys.get, None).record, "period", 0)
                == PERIOD_5MIN
            ]
        self.pushes = pushes
        self.floor_jobs = self._floor_jobs()

    def _floor_jobs(
        self,
    ) -> list[tuple[Callable[[bytes, bytes, bytes], bytes], bytes, bytes, bytes]]:
        """(decrypt, IV, ciphertext with a 16-byte tag, AAD) per push, same sizes and keys."""
        aeads = {title: AESGCM(k.ek) for title, k in self.keys.items()}
        jobs: list[tuple[Callable[[bytes, bytes, bytes], bytes], bytes, bytes, bytes]] = []
        for data in self.pushes:
            apdu = wrapper.decode(data).apdu
            fields = split_ciphered(apdu)
            assert fields.system_title is not None
            keys = self.keys[fields.system_title]
            plain = unprotect(apdu, ek=keys.ek, ak=keys.ak).apdu
            iv = fields.system_title + fields.invocation_counter.to_bytes(4, "big")
            aad = bytes((fields.security_control,)) + keys.ak
            aead = aeads[fields.system_title]
            sealed = aead.encrypt(iv, plain, aad)
            assert len(sealed) == len(fields.payload) - 12 + _TAG_16
            jobs.append((aead.decrypt, iv, sealed, aad))
        return jobs

    def collector(self) -> Collector:
        infos = [
            MeterInfo(m.system_title, m.keys, ("meter", m.index), m.five_min, m.realtime)
            for m in self.fleet.members
        ]
        return Collector(infos, Store(MEMORY), system_title=HES_TITLE, start=self.fleet.plan.t0)


# Time is the CPU time of this process: what the scheduler gives other processes of a
# shared machine is not counted (cache and frequency effects of their load still are).
_cpu = time.process_time


# A contender is started untimed for a round; then its step runs over each chunk of the
# pushes (indices into them), the contenders taking turns chunk by chunk; its finish ends
# the round. Steps and finish are timed.
Step = Callable[[range], None]
Round = tuple[Step, Callable[[], None]]


def aesgcm_floor(work: Workload) -> Round:
    jobs = work.floor_jobs

    def step(chunk: range) -> None:
        for i in chunk:
            decrypt, iv, sealed, aad = jobs[i]
            decrypt(iv, sealed, aad)

    return step, lambda: None


def decode_path(work: Workload) -> Round:
    keys: Callable[[bytes], MeterKeys | None] = work.keys.get
    counters = InvocationCounters(window=64)
    pushes = work.pushes

    def step(chunk: range) -> None:
        for i in chunk:
            open_push_datagram(pushes[i], keys, counters)

    return step, lambda: None


def collector_path(work: Workload) -> Round:
    collector = work.collector()
    receive = collector.receive_datagram
    now = work.fleet.plan.end
    pushes = work.pushes

    def step(chunk: range) -> None:
        for i in chunk:
            receive(pushes[i], HES, now)

    def finish() -> None:
        collector.finish()
        assert collector.stats.pushes == len(pushes), collector.stats

    return step, finish


async def _over_udp(work: Workload) -> float:
    collector = work.collector()
    spent = 0.0
    now = work.fleet.plan.end

    def receive(data: bytes, source: tuple[str, int]) -> None:
        nonlocal spent
        t = time.process_time()
        collector.receive_datagram(data, source, now)
        spent += time.process_time() - t

    headend = DatagramSocket.open(("127.0.0.1", 0), receive, receive_buffer=4 << 20)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pushes = work.pushes
    try:
        for k in range(0, len(pushes), 64):
            for data in pushes[k : k + 64]:
                sender.sendto(data, headend.address)
            while headend.received < k + len(pushes[k : k + 64]):
                await asyncio.sleep(0)
        t = time.process_time()
        collector.finish()
        spent += time.process_time() - t
    finally:
        sender.close()
        headend.close()
    assert collector.stats.pushes == len(pushes)
    return spent / len(pushes)


def over_udp(work: Workload) -> float:
    return asyncio.run(_over_udp(work))


def measure(
    work: Workload,
    contenders: dict[str, Callable[[Workload], Round]],
    rounds: int,
    chunk: int,
    whole: dict[str, Callable[[Workload], float]],
) -> dict[str, list[float]]:
    """Seconds per push of each contender in each round: the contenders take turns chunk
    by chunk (``whole`` ones run after them, a round at once)."""
    out: dict[str, list[float]] = {name: [] for name in [*contenders, *whole]}
    size = len(work.pushes)
    chunk = chunk or size
    chunks = [range(k, min(k + chunk, size)) for k in range(0, size, chunk)]
    for _ in range(rounds):
        started = {name: start(work) for name, start in contenders.items()}
        spent = dict.fromkeys(contenders, 0.0)
        for part in chunks:
            for name, (step, _) in started.items():
                t = _cpu()
                step(part)
                spent[name] += _cpu() - t
        for name, (_, finish) in started.items():
            t = _cpu()
            finish()
            spent[name] += _cpu() - t
        for name, seconds in spent.items():
            out[name].append(seconds / size)
        for name, run in whole.items():
            out[name].append(run(work))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--meters", type=int, default=600)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--chunk",
        type=int,
        default=0,
        help="pushes per turn of a contender within a round (0: the whole "
        "round in one turn; smaller turns share load spikes more evenly "
        "but leave each contender's caches colder)",
    )
    parser.add_argument("--udp", action="store_true", help="also the collector over UDP")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    contenders: dict[str, Callable[[Workload], Round]] = {
        FLOOR: aesgcm_floor,
        "decrypt+decode": decode_path,
        COLLECTOR: collector_path,
    }
    whole: dict[str, Callable[[Workload], float]] = {}
    if args.udp:
        whole["collector over UDP"] = over_udp
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "rounds": args.rounds,
    }
    turns = f"every {args.chunk} pushes" if args.chunk else "round by round"
    print(
        f"Python {results['python']} on {results['machine']}; one core; {args.rounds} "
        f"rounds, contenders alternating {turns} (best of rounds; "
        f"spread = worst / best - 1)\n"
    )
    print(
        "| pushes | path | µs per push (best) | spread | x floor (best; rounds) "
        "| pushes/s | meters/core (mean) | meters/core (burst) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    targets = {"30-minute": (100_000, 22.0), "5-minute real-time": (70_000, None)}
    verdicts: list[str] = []
    for label, realtime, period, spread in (
        ("30-minute", False, 1800, 1200),
        ("5-minute real-time", True, 300, 120),
    ):
        work = Workload(args.meters, args.hours, realtime)
        rows = measure(work, contenders, args.rounds, args.chunk, whole)
        floor = min(rows[FLOOR])
        entry: dict[str, Any] = {}
        for name, times in rows.items():
            cost = min(times)
            per_round = [t / f for t, f in zip(times, rows[FLOOR], strict=True)]
            print(
                f"| {label} ({len(work.pushes)}) | {name} | {cost * 1e6:.2f} | "
                f"{max(times) / cost - 1:.0%} | {cost / floor:.1f} "
                f"({min(per_round):.1f}-{max(per_round):.1f}) | {1 / cost:,.0f} | "
                f"{period / cost:,.0f} | {spread / cost:,.0f} |"
            )
            entry[name] = {
                "us_per_push_rounds": [t * 1e6 for t in times],
                "us_per_push": cost * 1e6,
                "pushes_per_s": 1 / cost,
                "x_floor": cost / floor,
                "meters_per_core_mean": period / cost,
                "meters_per_core_burst": spread / cost,
            }
        results[label] = entry
        rate, ratio = targets[label]
        collector = min(rows[COLLECTOR])
        verdict = f"{label}: collector {1 / collector:,.0f} pushes/s (target >= {rate:,})" + (
            f", {collector / floor:.1f}x the floor (target <= {ratio:g})"
            if ratio is not None
            else f", {collector / floor:.1f}x the floor"
        )
        verdicts.append(verdict)
    print()
    for verdict in verdicts:
        print(f"* {verdict}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
