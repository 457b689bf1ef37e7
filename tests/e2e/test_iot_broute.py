"""End to end, B-route(IoT): a gas and a water meter reach the head-end through the
electricity smart meter, their frames carried in ECHONET Lite format-2 frames."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable

import pytest

from smartmeter_proto.echonet import frame as el_frame
from smartmeter_proto.iot.backfill import Collector
from smartmeter_proto.iot.channel import MeterKeys
from smartmeter_proto.iot.frame import MeterKind, Route
from smartmeter_proto.iot.headend import HeadEnd
from smartmeter_proto.iot.relay import Format2Carrier, IotRelay
from smartmeter_proto.sim.iotmeter import SimulatedIotMeter
from smartmeter_proto.sim.meter import METER_EOJ, SimulatedMeter, meter_node
from smartmeter_proto.transport.iot_udp import serve_endpoint
from smartmeter_proto.transport.udp import EchonetClient, serve_node

pytestmark = pytest.mark.e2e

SMART_METER, HES, GAS, WATER, HEMS = (f"127.0.0.{n}" for n in (71, 72, 73, 74, 75))
PORT = 3610  # every hop speaks ECHONET Lite: UDP 3610


def keys(meter_id: str, n: int) -> MeterKeys:
    return MeterKeys(meter_id, bytes([n]) * 16, bytes([n + 1]) * 16, bytes([n + 2]) * 13)


def test_relay_through_the_smart_meter_with_outage_and_backfill() -> None:
    gas_keys, water_keys = keys("gas-0101", 50), keys("water-0101", 60)

    async def scenario() -> None:
        now = time.time()
        relay = IotRelay(headend=(HES, PORT))
        smart_meter = meter_node(SimulatedMeter(), now=now)
        smart_meter.arbitrary_handler = relay
        headend = HeadEnd(
            [gas_keys, water_keys],
            route=Route.B_IOT,
            collector=Collector(request_timeout=0.2, max_range=16, retry_limit=10),
        )
        meters = [
            SimulatedIotMeter(
                gas_keys,
                MeterKind.GAS,
                headend=(SMART_METER, PORT),
                start=now,
                interval=0.02,
                route=Route.B_IOT,
            ),
            SimulatedIotMeter(
                water_keys,
                MeterKind.WATER,
                headend=(SMART_METER, PORT),
                start=now,
                interval=0.02,
                route=Route.B_IOT,
                seed=3,
            ),
        ]
        radio_up = [True]

        def radio(_data: bytes, _dest: Hashable) -> bool:
            return radio_up[0]

        async with (
            serve_node(smart_meter, local=(SMART_METER, PORT)),
            serve_endpoint(Format2Carrier(headend), (HES, PORT)),
            serve_endpoint(Format2Carrier(meters[0]), (GAS, PORT), send_filter=radio),
            serve_endpoint(Format2Carrier(meters[1]), (WATER, PORT), send_filter=radio),
        ):
            await asyncio.sleep(0.5)
            radio_up[0] = False  # the IoT meters' radio link to the smart meter drops
            await asyncio.sleep(0.6)
            radio_up[0] = True
            await asyncio.sleep(0.5)
            for meter in meters:
                meter.stop_readings()
            # Regular B-route traffic is unaffected: a HEMS reads the smart meter meanwhile.
            async with EchonetClient.udp(local=(HEMS, PORT), timeout=1.0) as hems:
                power = (await hems.get_values(SMART_METER, METER_EOJ, [0xE7]))[0xE7]
                assert isinstance(power, int)
            for _ in range(100):
                expected = sum(len(m.produced) for m in meters)
                if headend.collector.fleet_completeness().received == expected:
                    break
                await asyncio.sleep(0.1)
        for meter in meters:
            assert len(meter.produced) > 40
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
        keys("gas-0102", 70), MeterKind.GAS, headend=(SMART_METER, PORT), start=0.0, interval=1.0
    )
    gas.handle_timeout(1.0)
    cose_frame = gas.datagrams_to_send()[0][0]
    down = el_frame.ArbitraryFrame(2, cose_frame)
    assert relay(down, (HES, PORT), 0.0) == []  # from the head-end, meter never heard
    assert relay.counters == {"not an IoT frame": 1, "meter not heard yet": 1}
