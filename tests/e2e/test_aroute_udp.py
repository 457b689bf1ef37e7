"""End to end over the A-route: a simulated meter and a head-end on real UDP sockets (loopback).

The meter speaks the DLMS/COSEM UDP wrapper; the head-end associates in a ciphered
context, reads a register, receives the 30-minute push, sees the Last Gasp of an
outage and the restoration push, back-fills the 30-minute profile by range, and
sets a limiter reservation (refused unciphered, accepted ciphered). Time is virtual:
the runner moves the clock from deadline to deadline once every datagram sent has been
read and answered, so simulated hours pass in a moment and the outcome does not depend
on the machine's speed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

import pytest

from smartmeter_proto.aroute.apdu import SelectiveAccess
from smartmeter_proto.aroute.association import (
    Associated,
    AssociationClient,
    AssociationServer,
    ClientEvent,
    ExceptionReceived,
    GetResult,
    Pushed,
    SetResult,
)
from smartmeter_proto.aroute.axdr import CosemDateTime, Data, DataType
from smartmeter_proto.aroute.cosem import (
    CaptureObject,
    ClassId,
    DataAccessResult,
    RangeDescriptor,
    datetime_data,
    datetime_from_data,
)
from smartmeter_proto.aroute.profile import load_catalogue
from smartmeter_proto.aroute.udp_endpoints import HeadEndEndpoint, MeterEndpoint
from smartmeter_proto.security_state import MemoryStateStore, SendCounter
from smartmeter_proto.sim.ameter import SimulatedAMeter
from smartmeter_proto.sim.clock import VirtualClock
from smartmeter_proto.sim.load_curve import JST
from smartmeter_proto.transport.datagram import DatagramEndpoint, DatagramLink, serve_endpoint
from smartmeter_proto.transport.virtual_time import VirtualTimeRunner

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
METER_TITLE = bytes.fromhex("4D4D4D0000BC614E")

pytestmark = pytest.mark.e2e

CLIENT_TITLE = bytes.fromhex("4855534D00000001")
CAT = load_catalogue()
PROFILE_30 = CAT.by_name("load_profile_30min").obis
CLOCK_TIME = CaptureObject(ClassId.CLOCK, CAT.by_name("clock").obis, 2)


def serve(
    endpoint: DatagramEndpoint, local: tuple[str, int], clock: VirtualClock
) -> AbstractAsyncContextManager[DatagramLink]:
    """``endpoint`` on a real socket, its timers left to the virtual-time runner."""
    return serve_endpoint(endpoint, local, clock=clock, run_timers=False)


class Events:
    def __init__(self, endpoint: HeadEndEndpoint, runner: VirtualTimeRunner) -> None:
        self.endpoint = endpoint
        self.runner = runner
        self.seen: list[ClientEvent] = []

    async def wait(self, match: Callable[[ClientEvent], bool], within: float = 3600.0) -> Any:
        """The first event ``match`` accepts, firing the endpoints' deadlines until it comes
        (``within`` simulated seconds at most)."""
        found: list[ClientEvent] = []

        def arrived() -> bool:
            self.seen += self.endpoint.events()
            found.extend(e for e in self.seen if match(e))
            return bool(found)

        try:
            await self.runner.wait_for(arrived, within=within)
        except TimeoutError as exc:
            raise AssertionError(f"no matching event: {exc}; saw {self.seen}") from None
        self.seen.remove(found[0])
        return found[0]


def event_code(push: Pushed) -> int | None:
    fields = push.body.value
    if isinstance(fields, tuple) and len(fields) == 3 and fields[2].type == DataType.UNSIGNED:
        value = fields[2].value
        return value if isinstance(value, int) else None
    return None


async def _session() -> None:
    start = datetime(2026, 5, 1, 11, 59, tzinfo=JST)
    clock = VirtualClock(start.timestamp())
    meter = SimulatedAMeter(
        start=start,
        system_title=METER_TITLE,
        client_system_title=CLIENT_TITLE,
        ek=EK,
        ak=AK,
        state=MemoryStateStore(),
    )
    server = AssociationServer(
        meter.objects, system_title=METER_TITLE, ek=EK, ak=AK, counter=meter.send_counter
    )
    client = AssociationClient(
        system_title=CLIENT_TITLE,
        ek=EK,
        ak=AK,
        server_system_title=METER_TITLE,
        counter=SendCounter(MemoryStateStore(), "hes"),
    )
    meter_side = MeterEndpoint(meter, server, headend=("127.0.0.1", 9))
    async with serve(meter_side, ("127.0.0.91", 0), clock) as meter_link:
        hes = HeadEndEndpoint(client, meter=meter_link.address)
        async with serve(hes, ("127.0.0.92", 0), clock) as link:
            meter_side.headend = link.address
            runner = VirtualTimeRunner(clock, [meter_link, link])
            events = Events(hes, runner)
            client.associate(clock())
            link.kick()
            await events.wait(lambda e: isinstance(e, Associated))

            register = CAT.by_name("active_energy_import").obis
            client.get(register, ClassId.REGISTER, 2, now=clock())
            link.kick()
            reading = await events.wait(lambda e: isinstance(e, GetResult))
            assert isinstance(reading.result, Data)
            assert isinstance(reading.result.value, int)

            # The 12:00 value is pushed within 20 simulated minutes.
            pushed = await events.wait(lambda e: isinstance(e, Pushed) and event_code(e) is None)
            assert pushed.system_title == METER_TITLE

            # Power fails: the Last Gasp arrives at once; then power returns.
            failed_at = clock()
            meter_side.outage(failed_at)
            meter_link.kick()
            gasp = await events.wait(lambda e: isinstance(e, Pushed) and event_code(e) == 1)
            assert gasp.invocation_counter > pushed.invocation_counter
            await runner.run_until(clock() + 5400)  # 90 minutes without power
            meter_side.restore(clock())
            meter_link.kick()
            await events.wait(lambda e: isinstance(e, Pushed) and event_code(e) == 2)
            await runner.run_until(clock() + 3600)  # an hour of capture after the restoration

            # The meter restarted without associations: the old one is refused, a new one
            # (the client's invocation counter carried on) is accepted.
            client.get(CAT.by_name("clock").obis, ClassId.CLOCK, 2, now=clock())
            link.kick()
            await events.wait(lambda e: isinstance(e, ExceptionReceived))
            client = AssociationClient(
                system_title=CLIENT_TITLE,
                ek=EK,
                ak=AK,
                server_system_title=METER_TITLE,
                counter=client.counter,
            )
            hes.client = client
            client.associate(clock())
            link.kick()
            await events.wait(lambda e: isinstance(e, Associated))

            # Back-fill by range: exactly what the meter captured, the outage left empty.
            now = datetime.fromtimestamp(clock(), JST)
            access = RangeDescriptor(
                CLOCK_TIME,
                datetime_data(CosemDateTime.from_datetime(start)),
                datetime_data(CosemDateTime.from_datetime(now)),
            ).to_data()
            client.get(
                PROFILE_30,
                ClassId.PROFILE_GENERIC,
                2,
                access=SelectiveAccess(RangeDescriptor.SELECTOR, access),
                now=clock(),
            )
            link.kick()
            rows = await events.wait(lambda e: isinstance(e, GetResult))
            assert isinstance(rows.result, Data)
            times = [datetime_from_data(row.value[0]).to_datetime() for row in rows.result.value]
            assert times == [r[0] for r in _buffer_times(meter)]
            assert times[0] == datetime(2026, 5, 1, 12, 0, tzinfo=JST)
            outage_from = datetime.fromtimestamp(failed_at, JST)
            assert not [t for t in times if outage_from < t < outage_from + timedelta(hours=1)]

            # A limiter reservation: refused in clear, accepted ciphered and fresh.
            target = CAT.by_name("limiter_reservation").obis
            value = _reservation(40, now + timedelta(minutes=5))
            client.set(target, ClassId.DATA, 2, value, ciphered=False, now=clock())
            link.kick()
            refused = await events.wait(lambda e: isinstance(e, SetResult))
            assert refused.result == DataAccessResult.READ_WRITE_DENIED
            client.set(target, ClassId.DATA, 2, value, now=clock())
            link.kick()
            accepted = await events.wait(lambda e: isinstance(e, SetResult))
            assert accepted.result == DataAccessResult.SUCCESS
            assert client.stats.auth_failed == 0


def _buffer_times(meter: SimulatedAMeter) -> list[tuple[datetime]]:
    profile = meter.profiles[PROFILE_30]
    return [(datetime_from_data(row[0]).to_datetime(),) for row in profile.buffer]


def _reservation(limit: int, activation: datetime) -> Data:
    from smartmeter_proto.aroute.profile import ReservationState

    return Data(
        DataType.STRUCTURE,
        (
            Data(DataType.ENUM, int(ReservationState.PENDING)),
            Data(DataType.LONG_UNSIGNED, limit),
            datetime_data(CosemDateTime.from_datetime(activation)),
            Data(DataType.NULL, None),
            Data(DataType.BOOLEAN, False),
        ),
    )


def test_aroute_session_over_udp() -> None:
    asyncio.run(asyncio.wait_for(_session(), 60))


async def _over_ipv6() -> None:
    start = datetime(2026, 5, 1, 11, 0, tzinfo=JST)
    clock = VirtualClock(start.timestamp())
    meter = SimulatedAMeter(
        start=start,
        system_title=METER_TITLE,
        client_system_title=CLIENT_TITLE,
        ek=EK,
        ak=AK,
        state=MemoryStateStore(),
    )
    server = AssociationServer(
        meter.objects, system_title=METER_TITLE, ek=EK, ak=AK, counter=meter.send_counter
    )
    client = AssociationClient(
        system_title=CLIENT_TITLE,
        ek=EK,
        ak=AK,
        server_system_title=METER_TITLE,
        counter=SendCounter(MemoryStateStore(), "hes"),
    )
    meter_side = MeterEndpoint(meter, server, headend=("::1", 9))
    async with serve(meter_side, ("::1", 0), clock) as m_link:
        hes = HeadEndEndpoint(client, meter=m_link.address)
        async with serve(hes, ("::1", 0), clock) as link:
            meter_side.headend = link.address
            events = Events(hes, VirtualTimeRunner(clock, [m_link, link]))
            client.associate(clock())
            link.kick()
            await events.wait(lambda e: isinstance(e, Associated))
            client.get(CAT.by_name("clock").obis, ClassId.CLOCK, 2, now=clock())
            link.kick()
            got = await events.wait(lambda e: isinstance(e, GetResult))
            assert isinstance(got.result, Data)


def test_the_wrapper_runs_over_ipv6_too() -> None:
    """The wrapper profile over IPv6, as PLC and multi-hop networks carry it (loopback ::1)."""
    asyncio.run(asyncio.wait_for(_over_ipv6(), 30))
