"""End to end: simulated gas and water meters push protected readings over UDP; an outage,
then back-fill to 100% with the values the meters produced.

Time is virtual: the runner moves the clock from deadline to deadline once every datagram
sent has been read and answered, so the outcome does not depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from contextlib import AbstractAsyncContextManager

import pytest

from smartmeter_proto.iot.backfill import BackfillCollector
from smartmeter_proto.iot.channel import ChannelKeys
from smartmeter_proto.iot.frame import MeterKind
from smartmeter_proto.iot.headend import HeadEnd
from smartmeter_proto.security_state import MemoryStateStore
from smartmeter_proto.sim.clock import VirtualClock
from smartmeter_proto.sim.iotmeter import SimulatedIotMeter
from smartmeter_proto.transport.datagram import DatagramEndpoint, DatagramLink, serve_endpoint
from smartmeter_proto.transport.virtual_time import VirtualTimeRunner

pytestmark = pytest.mark.e2e

HES = ("127.0.0.41", 47000)
INTERVAL = 0.02  # a reading every 20 ms (virtual): 100 readings in the 2 s the meters run
T0 = 1_777_604_400.0  # 2026-05-01 12:00 JST


def keys(meter_id: str, n: int) -> ChannelKeys:
    return ChannelKeys(meter_id, bytes([n]) * 16, bytes([n + 1]) * 16, bytes([n + 2]) * 13)


def test_outage_then_backfill_reaches_100_percent_with_identical_values() -> None:
    gas_keys, water_keys = keys("gas-0001", 10), keys("water-0001", 20)

    async def scenario() -> None:
        clock = VirtualClock(T0)
        headend = HeadEnd(
            [gas_keys, water_keys],
            state_store=MemoryStateStore(),
            collector=BackfillCollector(request_timeout=0.2, max_range=16, retry_limit=10),
        )
        meters = [
            SimulatedIotMeter(
                gas_keys,
                MeterKind.GAS,
                headend=HES,
                start=T0,
                state_store=MemoryStateStore(),
                interval=INTERVAL,
            ),
            SimulatedIotMeter(
                water_keys,
                MeterKind.WATER,
                headend=HES,
                start=T0,
                state_store=MemoryStateStore(),
                interval=INTERVAL,
                seed=2,
            ),
        ]
        link_up = [True]

        def radio(_data: bytes, _dest: Hashable) -> bool:
            return link_up[0]

        def backfilled() -> bool:
            expected = sum(len(m.produced) for m in meters)
            return headend.collector.fleet_completeness().received == expected

        def serve(
            endpoint: DatagramEndpoint, local: tuple[str, int], *, radio_link: bool = False
        ) -> AbstractAsyncContextManager[DatagramLink]:
            return serve_endpoint(
                endpoint,
                local,
                clock=clock,
                run_timers=False,
                send_filter=radio if radio_link else None,
            )

        async with serve(headend, HES) as hes_link:
            async with (
                serve(meters[0], ("127.0.0.42", 0), radio_link=True) as gas,
                serve(meters[1], ("127.0.0.43", 0), radio_link=True) as water,
            ):
                runner = VirtualTimeRunner(clock, [hes_link, gas, water])
                await runner.run_until(T0 + 0.6)
                link_up[0] = False  # the area loses its link: readings go nowhere
                await runner.run_until(T0 + 1.4)
                link_up[0] = True
                await runner.run_until(T0 + 2.0)
                for meter in meters:  # stop producing, let back-fill finish
                    meter.stop_readings()
                await runner.wait_for(backfilled, within=30.0)
            assert hes_link.sent > 0  # back-fill requests went out
            assert gas.filtered + water.filtered > 0  # the outage lost readings
        for meter in meters:
            produced = meter.produced
            assert len(produced) == 100
            completeness = headend.collector.completeness(meter.keys.meter_id)
            assert completeness.received == len(produced)
            assert completeness.ratio == 1.0
            # The values stored at the head-end are the packs the meter produced.
            assert headend.values(meter.keys.meter_id) == produced
        assert sum(headend.dropped.values()) == 0

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_forged_replayed_and_garbage_datagrams_are_dropped_and_counted() -> None:
    gas = keys("gas-0002", 30)
    headend = HeadEnd([gas], state_store=MemoryStateStore())
    meter = SimulatedIotMeter(
        gas, MeterKind.GAS, headend=HES, start=0.0, state_store=MemoryStateStore(), interval=1.0
    )
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
    stranger = SimulatedIotMeter(
        keys("gas-0002", 40), MeterKind.GAS, headend=HES, start=0.0, state_store=MemoryStateStore()
    )
    stranger.handle_timeout(1800.0)
    headend.receive_datagram(stranger.datagrams_to_send()[0][0], source, 3.4)  # wrong key
    assert headend.collector.completeness("gas-0002").received == 3
    assert headend.dropped["replay"] == 1
    assert headend.dropped["authentication"] == 2
    assert headend.dropped["malformed"] == 1
