"""End to end, B-route(IoT): a gas and a water meter reach the head-end through the
electricity smart meter, their frames carried in ECHONET Lite format-2 frames.

Time is virtual: the runner moves the clock from deadline to deadline once every datagram
sent (the relay's included) has been read and answered, so the outcome does not depend on
the machine's speed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from contextlib import AbstractAsyncContextManager

import pytest

from smartmeter_proto.echonet import frame as el_frame
from smartmeter_proto.iot.backfill import BackfillCollector
from smartmeter_proto.iot.channel import ChannelKeys
from smartmeter_proto.iot.frame import MeterKind, Route
from smartmeter_proto.iot.headend import HeadEnd
from smartmeter_proto.iot.relay import Format2Carrier, IotRelay
from smartmeter_proto.security_state import MemoryStateStore
from smartmeter_proto.sim.clock import VirtualClock
from smartmeter_proto.sim.iotmeter import SimulatedIotMeter
from smartmeter_proto.sim.meter import METER_EOJ, SimulatedMeter, meter_node
from smartmeter_proto.transport.datagram import DatagramEndpoint, DatagramLink, serve_endpoint
from smartmeter_proto.transport.udp import EchonetClient, UDPLink, serve_node
from smartmeter_proto.transport.virtual_time import VirtualTimeRunner

pytestmark = pytest.mark.e2e

SMART_METER, HES, GAS, WATER, HEMS = (f"127.0.0.{n}" for n in (71, 72, 73, 74, 75))
PORT = 3610  # every hop speaks ECHONET Lite: UDP 3610
T0 = 1_777_604_405.0  # 2026-05-01 12:00:05 JST, clear of the smart meter's 30-minute tick
FORMAT_2 = b"\x10\x82"  # EHD1, EHD2 of an arbitrary-message frame (Part II §3.2.1.2)


class RelayCounts:
    """The smart meter as a party of the virtual-time run: format-2 frames it received
    (a tap on its link) and relayed (the relay's counters)."""

    def __init__(self, relay: IotRelay, link: UDPLink) -> None:
        self._relay = relay
        self.received = 0
        link.driver.add_tap(self._tap)

    def _tap(self, data: bytes, _source: object) -> None:
        if data.startswith(FORMAT_2):
            self.received += 1

    @property
    def sent(self) -> int:
        return self._relay.counters["up"] + self._relay.counters["down"]


def keys(meter_id: str, n: int) -> ChannelKeys:
    return ChannelKeys(meter_id, bytes([n]) * 16, bytes([n + 1]) * 16, bytes([n + 2]) * 13)


def test_relay_through_the_smart_meter_with_outage_and_backfill() -> None:
    gas_keys, water_keys = keys("gas-0101", 50), keys("water-0101", 60)

    async def scenario() -> None:
        clock = VirtualClock(T0)
        relay = IotRelay(headend=(HES, PORT))
        smart_meter = meter_node(SimulatedMeter(), now=T0)
        smart_meter.arbitrary_handler = relay
        headend = HeadEnd(
            [gas_keys, water_keys],
            route=Route.B_IOT,
            state_store=MemoryStateStore(),
            collector=BackfillCollector(request_timeout=0.2, max_range=16, retry_limit=10),
        )
        meters = [
            SimulatedIotMeter(
                gas_keys,
                MeterKind.GAS,
                headend=(SMART_METER, PORT),
                start=T0,
                state_store=MemoryStateStore(),
                interval=0.02,
                route=Route.B_IOT,
            ),
            SimulatedIotMeter(
                water_keys,
                MeterKind.WATER,
                headend=(SMART_METER, PORT),
                start=T0,
                state_store=MemoryStateStore(),
                interval=0.02,
                route=Route.B_IOT,
                seed=3,
            ),
        ]
        radio_up = [True]

        def radio(_data: bytes, _dest: Hashable) -> bool:
            return radio_up[0]

        def backfilled() -> bool:
            expected = sum(len(m.produced) for m in meters)
            return headend.collector.fleet_completeness().received == expected

        def serve(
            endpoint: DatagramEndpoint, host: str, *, radio_link: bool = False
        ) -> AbstractAsyncContextManager[DatagramLink]:
            return serve_endpoint(
                Format2Carrier(endpoint),
                (host, PORT),
                clock=clock,
                run_timers=False,
                send_filter=radio if radio_link else None,
            )

        async with (
            serve_node(smart_meter, local=(SMART_METER, PORT), clock=clock) as smart_meter_link,
            serve(headend, HES) as hes_link,
            serve(meters[0], GAS, radio_link=True) as gas_link,
            serve(meters[1], WATER, radio_link=True) as water_link,
        ):
            runner = VirtualTimeRunner(
                clock,
                [hes_link, gas_link, water_link],
                peers=[RelayCounts(relay, smart_meter_link)],
            )
            await runner.run_until(T0 + 0.5)
            radio_up[0] = False  # the IoT meters' radio link to the smart meter drops
            await runner.run_until(T0 + 1.1)
            radio_up[0] = True
            await runner.run_until(T0 + 1.6)
            for meter in meters:
                meter.stop_readings()
            # Regular B-route traffic is unaffected: a HEMS reads the smart meter meanwhile
            # (its timeout only guards against a hang).
            async with EchonetClient.udp(local=(HEMS, PORT), timeout=10.0) as hems:
                power = (await hems.get_values(SMART_METER, METER_EOJ, [0xE7]))[0xE7]
                assert isinstance(power, int)
            await runner.wait_for(backfilled, within=30.0)
            assert gas_link.filtered + water_link.filtered > 0  # the drop lost readings
        for meter in meters:
            assert len(meter.produced) == 80
            assert headend.collector.completeness(meter.keys.meter_id).ratio == 1.0
            assert headend.values(meter.keys.meter_id) == meter.produced
        assert relay.counters["up"] > 0
        assert relay.counters["down"] > 0  # back-fill requests went down through the relay
        assert sum(headend.dropped.values()) == 0

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_relay_refuses_what_is_not_an_iot_frame_and_unknown_meters() -> None:
    relay = IotRelay(headend=(HES, PORT))
    junk = el_frame.ArbitraryFrame(1, b"not cose")
    assert relay(junk, (GAS, PORT), 0.0) == []
    gas = SimulatedIotMeter(
        keys("gas-0102", 70),
        MeterKind.GAS,
        headend=(SMART_METER, PORT),
        start=0.0,
        state_store=MemoryStateStore(),
        interval=1.0,
    )
    gas.handle_timeout(1.0)
    cose_frame = gas.datagrams_to_send()[0][0]
    down = el_frame.ArbitraryFrame(2, cose_frame)
    assert relay(down, (HES, PORT), 0.0) == []  # from the head-end, meter never heard
    assert relay.counters == {"not an IoT frame": 1, "meter not heard yet": 1}
