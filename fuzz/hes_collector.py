"""Fuzz the head-end collector: ``hes.collector.Collector.receive_datagram`` never raises.

Two provisioned meters (fixed simulation keys); each has a back-fill session open and
waiting for its AARE, so datagrams from a meter's address reach the association client
while ciphered pushes reach the push path. The input is a sequence of datagrams, each
``[source u8][length u8][bytes]`` (source even: meter 0, odd: meter 1, >= 0x80: a stranger);
a final partial record is fed as it is. After every datagram, the collector's
counts must add up: every datagram is a push, a drop, or went to a session.

Run ``python fuzz/hes_collector.py`` (atheris) or ``--fallback``.
"""

from __future__ import annotations

import sys

from _harness import Target, main

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
TITLES = (bytes.fromhex("4D4D4D0000BC614E"), bytes.fromhex("4D4D4D0000BC614F"))
HES_TITLE = b"HES\x00\x00\x00\x00\x01"
T0 = 1_777_561_200.0  # 2026-05-01 00:00 JST


def _records(data: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    at = 0
    while at < len(data):
        source = data[at]
        length = data[at + 1] if at + 1 < len(data) else 0
        out.append((source, data[at + 2 : at + 2 + length]))
        at += 2 + length
    return out


def build() -> Target:
    from smartmeter_proto.hes.collector import Collector, MeterInfo
    from smartmeter_proto.hes.push import MeterKeys
    from smartmeter_proto.hes.storage import MEMORY, Store

    def call(data: bytes) -> object:
        infos = [MeterInfo(t, MeterKeys(EK, AK), ("meter", i)) for i, t in enumerate(TITLES)]
        collector = Collector(infos, Store(MEMORY), system_title=HES_TITLE, start=T0)
        collector.confirm_all(T0 + 3600, T0 + 3600)
        collector.datagrams_to_send()
        for source, datagram in _records(data):
            who: object = ("stranger", 0) if source >= 0x80 else ("meter", source & 1)
            collector.receive_datagram(datagram, who, T0 + 3600)
            collector.datagrams_to_send()
        collector.handle_timeout(T0 + 7200)
        collector.finish()
        stats = collector.stats
        if stats.pushes + sum(stats.dropped.values()) > stats.datagrams:
            raise AssertionError("more outcomes than datagrams")
        return stats

    return Target("hes_collector", call, (), "bytes")


def seeds() -> dict[str, bytes]:
    """Genuine pushes of a simulated meter under the fixed keys, wrapped, as records."""
    from datetime import UTC, datetime, timedelta

    from smartmeter_proto.aroute import wrapper
    from smartmeter_proto.security_state import MemoryStateStore
    from smartmeter_proto.sim.ameter import SimulatedAMeter

    start = datetime.fromtimestamp(T0, UTC)
    meter = SimulatedAMeter(
        start=start,
        system_title=TITLES[0],
        client_system_title=HES_TITLE,
        ek=EK,
        ak=AK,
        state=MemoryStateStore(),
        push_5min=True,
    )
    meter.tick(start + timedelta(minutes=50))
    meter.outage(start + timedelta(minutes=51))
    meter.restore(start + timedelta(minutes=55))
    pushes = [wrapper.encode(wrapper.WrapperFrame(1, 1, p)) for p in meter.pushes_to_send()]
    out = {f"push-{i}": bytes([0, len(p)]) + p for i, p in enumerate(pushes) if len(p) < 256}
    out["pushes-all"] = b"".join(out.values())
    out["push-replayed"] = out["push-0"] * 2
    first = out["push-0"]
    out["push-from-stranger"] = bytes([0x80]) + first[1:]
    out["aare-shaped"] = bytes([0, 12]) + wrapper.encode(wrapper.WrapperFrame(1, 16, b"a\x02\x80"))
    out["edge-empty"] = b""
    out["edge-partial"] = b"\x00\x20\x00\x01"
    return out


if __name__ == "__main__":
    sys.exit(main("hes_collector"))
