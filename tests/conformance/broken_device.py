"""A simulated smart meter with planted protocol faults, served by a raw UDP responder.

Each fault breaks one rule the conformance runner checks; the tests plant one
at a time and assert that the runner names exactly the check that catches it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, Final, cast

from smartmeter_proto.echonet import frame as _frame
from smartmeter_proto.echonet.events import MULTICAST, Address, Event
from smartmeter_proto.echonet.frame import ESV, Frame, Property
from smartmeter_proto.echonet.node import Node
from smartmeter_proto.errors import DecodeError
from smartmeter_proto.sim.clock import VirtualClock
from smartmeter_proto.sim.meter import SimulatedMeter

#: Planted faults, by name.
MISSING_MANDATORY: Final = "missing_mandatory"  # 0xE0 (mandatory Get) not implemented
REFUSED_IN_GET_MAP: Final = "refused_in_get_map"  # 0x9F lists 0xE3, a Get of it is refused
SILENT_SNA: Final = "silent_sna"  # a Get naming an unknown EPC gets silence, not Get_SNA
WRONG_TID: Final = "wrong_tid"  # answers echo only the low byte of the TID
SETC_ACCEPTS_READ_ONLY: Final = "setc_accepts_read_only"  # SetC of a read-only EPC: Set_Res
SETI_ANSWERED: Final = "seti_answered"  # SetI of a read-only EPC answered with Set_Res
NO_INF: Final = "no_inf"  # no INF when a property of 0x9D changes (0x80)
SLOW: Final = "slow"  # the meter answers late
HANGS_ON_MALFORMED: Final = "hangs_on_malformed"  # goes silent after an undecodable frame
OUT_OF_RANGE: Final = "out_of_range"  # 0xD7 (effective digits, 1..8) answered 12
SETC_REFUSES_SETTABLE: Final = "setc_refuses_settable"  # SetC of 0xE5 (in 0x9E): SetC_SNA
FAULTS: Final = frozenset(
    {
        MISSING_MANDATORY,
        REFUSED_IN_GET_MAP,
        SILENT_SNA,
        WRONG_TID,
        SETC_ACCEPTS_READ_ONLY,
        SETI_ANSWERED,
        NO_INF,
        SLOW,
        HANGS_ON_MALFORMED,
        OUT_OF_RANGE,
        SETC_REFUSES_SETTABLE,
    }
)

_CUMULATIVE_NORMAL: Final = 0xE0
_CUMULATIVE_REVERSE: Final = 0xE3  # optional in the class: only the map check sees it
_OPERATION_STATUS: Final = 0x80
_EFFECTIVE_DIGITS: Final = 0xD7  # APPENDIX 0x0288: 0x01..0x08
_HISTORY_DAY: Final = 0xE5  # settable in the meter (0x9E), not announced (not in 0x9D)
_ANSWER_ESVS: Final = frozenset(
    {ESV.GET_RES, ESV.GET_SNA, ESV.SET_RES, ESV.SETC_SNA, ESV.SETI_SNA, ESV.INF_SNA}
)


class BrokenMeter(SimulatedMeter):
    """The simulated meter, with 0x80 settable (so its INF can be provoked) and object faults."""

    def __init__(self, faults: Iterable[str]) -> None:
        super().__init__(announce_fixed_time=False)
        self.faults = frozenset(faults)

    def _hidden(self, epc: int) -> bool:
        return MISSING_MANDATORY in self.faults and epc == _CUMULATIVE_NORMAL

    def dynamic(self) -> frozenset[int]:
        return frozenset(e for e in super().dynamic() if not self._hidden(e))

    def access(self, epc: int) -> frozenset[str]:
        allowed = super().access(epc)
        if epc == _OPERATION_STATUS:
            return allowed | {"set"}
        return allowed

    def read(self, epc: int, now: float) -> bytes | None:
        if self._hidden(epc):
            return None
        if REFUSED_IN_GET_MAP in self.faults and epc == _CUMULATIVE_REVERSE:
            return None
        if OUT_OF_RANGE in self.faults and epc == _EFFECTIVE_DIGITS:
            return b"\x0c"
        return super().read(epc, now)


class BrokenNode(Node):
    """A node that breaks the frame-level rules named in ``faults``."""

    def __init__(self, faults: Iterable[str]) -> None:
        self.faults = frozenset(faults)
        unknown = self.faults - FAULTS
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}")
        self.meter = BrokenMeter(self.faults)
        super().__init__([self.meter])
        self.hung = False
        #: Every SetC/SetI property to the meter: (ESV, EPC, EDT sent, EDT held before).
        self.writes: list[tuple[ESV, int, bytes, bytes | None]] = []

    def receive_data(self, data: bytes, source: Address, now: float) -> list[Event]:
        if self.hung:
            return []
        try:
            _frame.decode(data, strict=True)
        except DecodeError:
            self.hung = HANGS_ON_MALFORMED in self.faults
        return super().receive_data(data, source, now)

    def receive_frame(self, request: Frame, source: Address, now: float) -> list[Event]:
        targets = self._targets(request.deoj)
        if request.esv in (ESV.SETC, ESV.SETI) and request.deoj == self.meter.eoj:
            for prop in request.properties:
                held = self.meter.read(prop.epc, now)
                self.writes.append((ESV(request.esv), prop.epc, prop.edt, held))
        settable_refused = SETC_REFUSES_SETTABLE in self.faults and request.esv is ESV.SETC
        if settable_refused and any(p.epc == _HISTORY_DAY for p in request.properties):
            echoed = tuple(request.properties)  # SetC_SNA echoes the refused EDT (§4.2.3)
            self._reply(self.meter, request, ESV.SETC_SNA, echoed, source)
            return []
        unknown = any(p.epc not in obj.supported for obj in targets for p in request.properties)
        if SILENT_SNA in self.faults and request.esv is ESV.GET and unknown:
            return []
        accept = {SETC_ACCEPTS_READ_ONLY: ESV.SETC, SETI_ANSWERED: ESV.SETI}
        faulty = any(f in self.faults and request.esv is esv for f, esv in accept.items())
        read_only = any("set" not in self.meter.access(p.epc) for p in request.properties)
        if faulty and read_only and request.deoj.class_id == self.meter.eoj.class_id:
            if request.esv is ESV.SETC:  # accepted and written, though read-only
                for prop in request.properties:
                    self.meter.store(prop.epc, prop.edt)
            accepted = tuple(Property(p.epc) for p in request.properties)
            self._reply(self.meter, request, ESV.SET_RES, accepted, source)
            return []
        return super().receive_frame(request, source, now)

    def _announce(self, obj: Any, epcs: list[int], now: float) -> None:
        if NO_INF not in self.faults:
            super()._announce(obj, epcs, now)

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        out = super().datagrams_to_send()
        if WRONG_TID not in self.faults:
            return out
        mangled = []
        for data, dest in out:
            decoded = _frame.decode(data)
            if isinstance(decoded, Frame) and decoded.esv in _ANSWER_ESVS:
                data = _frame.encode(decoded._replace(tid=decoded.tid & 0x00FF))
            mangled.append((data, dest))
        return mangled


class _Responder(asyncio.DatagramProtocol):
    def __init__(
        self,
        node: Node,
        announce_to: tuple[str, int],
        delay: float,
        slow_class: int | None,
        clock: VirtualClock | None,
    ) -> None:
        self.node = node
        self.clock = clock
        self.slow_class = slow_class
        self.announce_to = announce_to
        self.delay = delay
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def _slow(self, data: bytes) -> bool:
        if self.slow_class is None:
            return True
        decoded = _frame.decode(data)
        return isinstance(decoded, Frame) and decoded.seoj.class_id == self.slow_class

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.node.receive_data(data, (addr[0], addr[1]), time.time())
        task = asyncio.get_running_loop().create_task(self._flush())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _flush(self) -> None:
        out = self.node.datagrams_to_send()
        if self.delay and any(self._slow(data) for data, _ in out):
            if self.clock is not None:
                self.clock.now += self.delay  # late on the runner's virtual clock
            else:
                await asyncio.sleep(self.delay)
        for data, dest in out:
            target = self.announce_to if dest is MULTICAST else dest
            if self.transport is not None and isinstance(target, tuple):
                self.transport.sendto(data, target)


@asynccontextmanager
async def serve_broken(
    node: Node,
    *,
    local: tuple[str, int],
    announce_to: tuple[str, int],
    delay: float = 0.0,
    slow_class: int | None = None,
    clock: VirtualClock | None = None,
) -> AsyncIterator[tuple[str, int]]:
    """Serve ``node`` on UDP at ``local``; answers go to the request's source port.

    Multicast announcements go to ``announce_to`` (no multicast route on
    loopback); with ``delay`` answers leave that many seconds late (only those
    from objects of ``slow_class``, if given); with ``clock`` too, the delay moves that
    virtual clock instead of the wall clock, so the answer is late on it and on time here.
    Yields the bound address.
    """
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Responder(node, announce_to, delay, slow_class, clock), local_addr=local
    )
    try:
        node.start(time.time())
        node.datagrams_to_send()  # the start-up instance list INF is not under test
        sockname = transport.get_extra_info("sockname")
        yield (str(sockname[0]), int(sockname[1]))
    finally:
        for task in list(protocol.tasks):
            task.cancel()
        transport.close()
