"""Head-end collector capacity: meters per core at the 30- and 5-minute push rates.

Pushes are made once by simulated A-route meters (ciphered general-glo-ciphering
DataNotifications in UDP wrapper datagrams, as on the wire), then measured side by side
in one run on this machine, one core:

* bare AES-GCM: the one-shot decrypt+verify of the same ciphertexts (the floor);
* decrypt+decode: ``hes.push.open_push_datagram`` (wrapper, security suite 0 with replay
  check, A-XDR, classification): the per-push cost of the decoding path;
* collector: ``Collector.receive_datagram`` over the same datagrams, SQLite store included
  (flushed in the timed region);
* collector over UDP: the same datagrams sent to the collector's socket on loopback and
  drained by its :class:`~smartmeter_proto.transport.udp_socket.DatagramSocket`; the time
  is the CPU time spent in the collector's receive callbacks (recvfrom included).

Meters per core: a meter sends one 30-minute push per 1 800 s, spread by the meters over
the first 1 200 s after the period end; a real-time meter one 5-minute push per 300 s,
spread over 120 s. The figures give the mean rate (period / cost) and the burst rate the
spread implies (spread / cost): the collector keeps up with that many meters on one core.

Run::

    python benchmarks/bench_fleet.py [--meters 600] [--hours 6] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import socket
import statistics
import sys
import time
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from smartmeter_proto.aroute import wrapper
from smartmeter_proto.aroute.security import InvocationCounters, decode_ciphered
from smartmeter_proto.hes.collector import Collector, MeterInfo
from smartmeter_proto.hes.push import MeterKeys, open_push_datagram
from smartmeter_proto.hes.storage import Store
from smartmeter_proto.sim.fleet import Fleet, FleetPlan
from smartmeter_proto.sim.load_curve import JST
from smartmeter_proto.transport.udp_socket import DatagramSocket

START = datetime(2026, 5, 1, 0, 0, tzinfo=JST)
HES = ("127.0.0.1", 9)


def make_pushes(meters: int, hours: float, realtime: bool) -> tuple[Fleet, list[bytes]]:
    """Every push datagram of a fleet run (all meters real-time when ``realtime``)."""
    share = 1.0 if realtime else 0.0
    plan = FleetPlan(meters=meters, start=START, hours=hours, five_min_share=share,
                     realtime_share=share, seed=7)
    fleet = Fleet(plan, client_system_title=b"HES\x00\x00\x00\x00\x01", headend=HES)
    out: list[bytes] = []
    while (due := fleet.next_deadline()) is not None and due <= plan.end:
        fleet.handle_timeout(due)
        out += [data for _, data, _ in fleet.datagrams_to_send()]
    if realtime:  # keep the 5-minute pushes only
        out = [d for d in out if open_push_datagram(d, _keys(fleet).get, None).record.period
               == 300]  # type: ignore[union-attr]
    return fleet, out


def _keys(fleet: Fleet) -> dict[bytes, MeterKeys]:
    return {m.system_title: m.keys for m in fleet.members}


def bare_gcm(fleet: Fleet, pushes: list[bytes]) -> float:
    keys = _keys(fleet)
    jobs = []
    for data in pushes:
        header = decode_ciphered(wrapper.decode(data).apdu)
        assert header.system_title is not None
        k = keys[header.system_title]
        iv = header.system_title + header.invocation_counter.to_bytes(4, "big")
        aad = bytes([header.security_control.to_byte()]) + k.ak
        jobs.append((k.ek, iv, aad, header.payload[:-12], header.payload[-12:]))
    t = time.perf_counter()
    for ek, iv, aad, body, tag in jobs:
        d = Cipher(algorithms.AES(ek), modes.GCM(iv, tag, min_tag_length=12)).decryptor()
        d.authenticate_additional_data(aad)
        d.update(body)
        d.finalize()
    return (time.perf_counter() - t) / len(jobs)


def decode_path(fleet: Fleet, pushes: list[bytes]) -> float:
    keys = _keys(fleet).get
    counters = InvocationCounters(window=64)
    t = time.perf_counter()
    for data in pushes:
        open_push_datagram(data, keys, counters)
    return (time.perf_counter() - t) / len(pushes)


def _collector(fleet: Fleet) -> Collector:
    infos = [MeterInfo(m.system_title, m.keys, ("meter", m.index), m.five_min, m.realtime)
             for m in fleet.members]
    return Collector(infos, Store(":memory:"), system_title=b"HES\x00\x00\x00\x00\x01",
                     start=fleet.plan.t0)


def collector_path(fleet: Fleet, pushes: list[bytes]) -> float:
    collector = _collector(fleet)
    now = fleet.plan.end
    t = time.perf_counter()
    for data in pushes:
        collector.receive_datagram(data, HES, now)
    collector.finish()
    elapsed = time.perf_counter() - t
    assert collector.stats.pushes == len(pushes), collector.stats
    return elapsed / len(pushes)


async def _over_udp(fleet: Fleet, pushes: list[bytes]) -> float:
    collector = _collector(fleet)
    spent = 0.0

    def receive(data: bytes, source: tuple[str, int]) -> None:
        nonlocal spent
        t = time.process_time()
        collector.receive_datagram(data, source, fleet.plan.end)
        spent += time.process_time() - t

    headend = DatagramSocket.open(("127.0.0.1", 0), receive, receive_buffer=4 << 20)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for k in range(0, len(pushes), 64):
            for data in pushes[k:k + 64]:
                sender.sendto(data, headend.address)
            while headend.received < k + len(pushes[k:k + 64]):
                await asyncio.sleep(0)
        t = time.process_time()
        collector.finish()
        spent += time.process_time() - t
    finally:
        sender.close()
        headend.close()
    assert collector.stats.pushes == len(pushes)
    return spent / len(pushes)


def over_udp(fleet: Fleet, pushes: list[bytes]) -> float:
    return asyncio.run(_over_udp(fleet, pushes))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=600)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    results: dict[str, Any] = {"python": platform.python_version(),
                               "machine": platform.machine()}
    print(f"Python {results['python']} on {results['machine']}; one core\n")
    print("| pushes | path | µs per push | x bare GCM | meters/core (mean) "
          "| meters/core (burst) |")
    print("|---|---|---:|---:|---:|---:|")
    for label, realtime, period, spread in (("30-minute", False, 1800, 1200),
                                            ("5-minute real-time", True, 300, 120)):
        fleet, pushes = make_pushes(args.meters, args.hours, realtime)
        row: dict[str, float] = {}
        for name, fn in (("bare AES-GCM", bare_gcm), ("decrypt+decode", decode_path),
                         ("collector + SQLite", collector_path),
                         ("collector over UDP", over_udp)):
            row[name] = statistics.median(fn(fleet, pushes) for _ in range(args.repeat))
        floor = row["bare AES-GCM"]
        for name, cost in row.items():
            mean = period / cost
            burst = spread / cost
            print(f"| {label} ({len(pushes)}) | {name} | {cost * 1e6:.1f} | "
                  f"{cost / floor:.2f} | {mean:,.0f} | {burst:,.0f} |")
        results[label] = {name: {"us_per_push": cost * 1e6,
                                 "meters_per_core_mean": period / cost,
                                 "meters_per_core_burst": spread / cost}
                          for name, cost in row.items()}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
