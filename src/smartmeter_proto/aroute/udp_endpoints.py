"""A-route datagram endpoints (sans-IO): a meter and a head-end speaking the UDP wrapper.

Each datagram carries one wrapper PDU (IEC 62056-47 / Green Book "wrapper",
port 4059): version, source and destination wPort, length, APDU. The meter
endpoint feeds requests to its :class:`AssociationServer`, answers the sender
and sends the meter's pushes to the head-end; the head-end endpoint carries
an :class:`AssociationClient`'s APDUs to one meter and its answers back. Both
satisfy :class:`~smartmeter_proto.transport.datagram.DatagramEndpoint`, so
:func:`~smartmeter_proto.transport.datagram.serve_endpoint` runs them on real
sockets. Time is epoch seconds on the wire side, aware UTC datetimes for the
meter. Bad datagrams are dropped and counted.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Final, Protocol

from ..errors import DecodeError
from . import wrapper
from .association import AssociationClient, AssociationServer, ClientEvent

__all__ = ["DLMS_UDP_PORT", "HeadEndEndpoint", "MeterEndpoint", "MeterModel"]

#: IANA "dlms/cosem" port, used by the UDP wrapper profile.
DLMS_UDP_PORT: Final = 4059
#: wPorts: the meter's management logical device, the head-end's management client.
_SERVER_WPORT: Final = wrapper.MANAGEMENT_LOGICAL_DEVICE
_CLIENT_WPORT: Final = int(wrapper.WPort.CLIENT_MANAGEMENT_PROCESS)


def _at(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


class MeterModel(Protocol):
    """What :class:`MeterEndpoint` needs of a meter (e.g. ``sim.ameter.SimulatedAMeter``):
    a clock-driven model whose pushes go through the attached association server."""

    @property
    def powered(self) -> bool: ...

    live_registers: bool

    def refresh_registers(self) -> None: ...

    def attach(self, server: AssociationServer) -> None: ...

    def tick(self, now: datetime) -> object: ...

    def outage(self, now: datetime) -> None: ...

    def restore(self, now: datetime) -> object: ...

    def reboot(self, now: datetime) -> None: ...

    def pushes_to_send(self) -> list[bytes]: ...

    def next_deadline(self) -> datetime | None: ...


class MeterEndpoint:
    """A simulated A-route meter on UDP: association server plus pushes to ``headend``."""

    def __init__(self, meter: MeterModel, server: AssociationServer, *, headend: Hashable) -> None:
        self.meter = meter
        self.server = server
        self.headend = headend
        self._out: list[tuple[bytes, Hashable]] = []
        self.dropped = 0
        meter.attach(server)  # one invocation counter for answers and pushes

    def receive_datagram(self, data: bytes, source: Hashable, now: float) -> None:
        try:
            frame = wrapper.decode(data)
        except DecodeError:
            self.dropped += 1
            return
        if not self.meter.powered:
            return  # a meter without power hears nothing
        if not self.meter.live_registers:
            self.meter.refresh_registers()
        self.server.receive(frame.apdu, _at(now))
        for apdu in self.server.apdus_to_send():
            self._out.append((self._wrap(apdu, frame.source_wport), source))

    def outage(self, now: float) -> None:
        """Power fails: the Last Gasp goes out, nothing else until :meth:`restore`."""
        self.meter.outage(_at(now))

    def restore(self, now: float) -> None:
        """Power returns: the meter starts again without any association (associations live
        in RAM; the invocation counters are reopened from their store) and sends its
        restoration push."""
        self.server = self.server.restarted()
        self.meter.attach(self.server)
        self.meter.restore(_at(now))

    def reboot(self, now: float) -> None:
        """The meter restarts: its association is gone (a new server, same keys), while the
        invocation counters live on in their store so no GCM IV is ever reused."""
        self.meter.reboot(_at(now))
        self.server = self.server.restarted()
        self.meter.attach(self.server)

    def datagrams_to_send(self) -> list[tuple[bytes, Hashable]]:
        for push in self.meter.pushes_to_send():
            self._out.append((self._wrap(push, _CLIENT_WPORT), self.headend))
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> float | None:
        due = self.meter.next_deadline()
        return None if due is None else due.timestamp()

    def handle_timeout(self, now: float) -> None:
        self.meter.tick(_at(now))

    @staticmethod
    def _wrap(apdu: bytes, client_wport: int) -> bytes:
        return wrapper.encode(wrapper.WrapperFrame(_SERVER_WPORT, client_wport, apdu))


class HeadEndEndpoint:
    """One head-end association with the meter at ``meter``; pushes arrive as events."""

    def __init__(self, client: AssociationClient, *, meter: Hashable) -> None:
        self.client = client
        self.meter = meter
        self.dropped = 0
        self._events: list[ClientEvent] = []

    def receive_datagram(self, data: bytes, source: Hashable, now: float) -> None:
        try:
            frame = wrapper.decode(data)
        except DecodeError:
            self.dropped += 1
            return
        self.client.receive(frame.apdu, now)
        self._events += self.client.events()

    def events(self) -> list[ClientEvent]:
        self._events += self.client.events()
        out, self._events = self._events, []
        return out

    def datagrams_to_send(self) -> list[tuple[bytes, Hashable]]:
        return [
            (wrapper.encode(wrapper.WrapperFrame(_CLIENT_WPORT, _SERVER_WPORT, apdu)), self.meter)
            for apdu in self.client.apdus_to_send()
        ]

    def next_deadline(self) -> float | None:
        return self.client.next_deadline()

    def handle_timeout(self, now: float) -> None:
        self.client.handle_timeout(now)
