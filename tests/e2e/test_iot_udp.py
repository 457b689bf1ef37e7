"""End to end: simulated gas and water meters push protected readings over UDP; an outage,
then back-fill to 100% with the values the meters produced."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable

import pytest

from smartmeter_proto.iot.backfill import Collector
from smartmeter_proto.iot.channel import MeterKeys
from smartmeter_proto.iot.frame import MeterKind
from smartmeter_proto.iot.headend import HeadEnd
from smartmeter_proto.sim.iotmeter import SimulatedIotMeter
from smartmeter_proto.transport.iot_udp import serve_endpoint

pytestmark = pytest.mark.e2e

HES = ("127.0.0.41", 47000)
INTERVAL = 0.02  # a reading every 20 ms: time compression for the test


def keys(meter_id: str, n: int) -> MeterKeys:
    return MeterKeys(meter_id, bytes([n]) * 16, bytes([n + 1]) * 16, bytes([n + 2]) * 13)


def test_outage_then_backfill_reaches_100_percent_with_identical_values() -> None:
    gas_keys, water_keys = keys("gas-0001", 10), keys("water-0001", 20)

    async def scenario() -> None:
        now = time.time()
        headend = HeadEnd(
            [gas_keys, water_keys],
            collector=Collector(request_timeout=0.2, max_range=16, retry_limit=10),
        )
        meters = [
            SimulatedIotMeter(gas_keys, MeterKind.GAS, headend=HES, start=now, interval=INTERVAL),
            SimulatedIotMeter(
                water_keys, MeterKind.WATER, headend=HES, start=now, interval=INTERVAL, seed=2
            ),
        ]
        link_up = [True]

        def radio(_data: bytes, _dest: Hashable) -> bool:
            return link_up[0]

        async with serve_endpoint(headend, HES) as hes_link:
            async with (
                serve_endpoint(meters[0], ("127.0.0.42", 0), send_filter=radio),
                serve_endpoint(meters[1], ("127.0.0.43", 0), send_filter=radio),
            ):
                await asyncio.sleep(0.6)
                link_up[0] = False  # the area loses its link: readings go nowhere
                await asyncio.sleep(0.8)
                link_up[0] = True
                await asyncio.sleep(0.6)
                for meter in meters:  # stop producing, let back-fill finish
                    meter.stop_readings()
                for _ in range(100):
                    report = headend.collector.fleet_completeness()
                    expected = sum(len(m.produced) for m in meters)
                    if report.received == expected:
                        break
                    await asyncio.sleep(0.1)
            assert hes_link.sent > 0  # back-fill requests went out
        for meter in meters:
            produced = meter.produced
            assert len(produced) > 60
            completeness = headend.collector.completeness(meter.keys.meter_id)
            assert completeness.received == len(produced)
            assert completeness.ratio == 1.0
            # The values stored at the head-end are the packs the meter produced.
            assert headend.values(meter.keys.meter_id) == produced
        assert sum(headend.dropped.values()) == 0

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_forged_replayed_and_garbage_datagrams_are_dropped_and_counted() -> None:
    gas = keys("gas-0002", 30)
    headend = HeadEnd([gas])
    meter = SimulatedIotMeter(gas, MeterKind.GAS, headend=HES, start=0.0, interval=1.0)
    meter.handle_timeout(3.0)
    frames = [data for data, _ in meter.datagrams_to_send()]
    source = ("127.0.0.44", 5000)
    for data in frames:
        headend.receive_datagram(data, source, 3.0)
    headend.receive_datagram(frames[0], source, 3.1)  # a replay
    tampered = bytearray(frames[1])
    tampered[-1] ^= 0x01
    headend.receive_datagram(bytes(tampered), source, 3.2)
    headend.receive_datagram(b"\x00garbage", source, 3.3)
    stranger = SimulatedIotMeter(keys("gas-0002", 40), MeterKind.GAS, headend=HES, start=0.0)
    stranger.handle_timeout(1800.0)
    headend.receive_datagram(stranger.datagrams_to_send()[0][0], source, 3.4)  # wrong key
    assert headend.collector.completeness("gas-0002").received == 3
    assert headend.dropped["replay"] == 1
    assert headend.dropped["authentication"] == 2
    assert headend.dropped["malformed"] == 1
