"""Open a :class:`~smartmeter_proto.hems.meter.SmartMeter` over the transport named.

``async with open_smart_meter(device="/dev/ttyUSB0", rbid=..., password=...) as meter:``
(Wi-SUN dongle, :mod:`.serial`), ``open_smart_meter(lan="fe80::1%eth0")`` (ECHONET Lite
over UDP, IPv4 or IPv6, :mod:`.udp`) or ``open_smart_meter(g3="/dev/ttyACM0", id_p=...,
psk=...)`` (G3-PLC modem, :mod:`.g3plc`). The meter wraps the open link; the link is
closed when the block ends. ``functools.partial(open_smart_meter, ...)`` is the connect
factory the :class:`~smartmeter_proto.hems.recorder.Recorder` calls again to reopen a lost link.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Final

from ..hems.meter import SmartMeter
from ..wisun.broute import BRouteEvent
from .g3plc import open_g3plc
from .serial import open_broute
from .udp import ANY_IPV4, ANY_IPV6, ECHONET_PORT, EchonetClient
from .virtual_time import VirtualTimers

__all__ = ["TRANSPORTS", "open_smart_meter"]

#: The transports :func:`open_smart_meter` knows, by the keyword that picks them.
TRANSPORTS: Final = ("device", "lan", "g3")


@asynccontextmanager
async def open_smart_meter(
    *,
    device: str | None = None,
    rbid: str = "",
    password: str = "",
    model: str = "bp35c2",
    lan: str | None = None,
    port: int = ECHONET_PORT,
    local: tuple[str, int] | None = None,
    g3: str | None = None,
    id_p: bytes = b"",
    psk: bytes = b"",
    timeout: float = 10.0,
    retries: int = 2,
    join_timeout: float = 120.0,
    on_event: Callable[[BRouteEvent], None] | None = None,
    clock: Callable[[], float] = time.time,
    link_clock: Callable[[], float] = time.monotonic,
    timers: VirtualTimers | None = None,
) -> AsyncIterator[SmartMeter]:
    """Open exactly one of ``device`` (Wi-SUN), ``lan`` (UDP host) or ``g3`` (PLC).

    ``clock`` is the meter's POSIX time (the recorder's planner runs on it);
    ``link_clock`` is what a serial link's timeouts are measured on, and ``timers``
    hands them to a virtual-time runner (see
    :func:`~smartmeter_proto.transport.serial.open_broute`).
    """
    if sum(x is not None for x in (device, lan, g3)) != 1:
        raise ValueError("give exactly one of device=, lan= or g3=")
    if lan is not None:
        host = lan.strip("[]")
        where = local or ((ANY_IPV6 if ":" in host else ANY_IPV4), ECHONET_PORT)
        async with EchonetClient.udp(
            local=where, timeout=timeout, retries=retries, join_group=False
        ) as client:
            yield SmartMeter(client, (host, port), clock=clock)
    elif g3 is not None:
        async with open_g3plc(
            g3,
            id_p=id_p,
            psk=psk,
            timeout=timeout,
            retries=retries,
            join_timeout=join_timeout,
            on_event=on_event,
            clock=link_clock,
            timers=timers,
        ) as plc:
            yield SmartMeter(plc, plc.address, clock=clock)
    else:
        assert device is not None
        async with open_broute(
            device,
            rbid,
            password,
            model=model,
            timeout=timeout,
            retries=retries,
            join_timeout=join_timeout,
            on_event=on_event,
            clock=link_clock,
            timers=timers,
        ) as radio:
            yield SmartMeter(radio, radio.address, clock=clock)
