"""The B-route over G3-PLC: a Microchip-USI G3 modem on a serial port, asyncio adapter.

``async with open_g3plc("/dev/ttyACM0", id_p=ID_P, psk=PSK) as meter:`` gives the
same client as :func:`~smartmeter_proto.transport.serial.open_broute` over
Wi-SUN: ``await meter.get_values(meter.address, METER_EOJ, [0xE7])``. The
session logic is :class:`~smartmeter_proto.wisun.broute.BRoute` with
:class:`~smartmeter_proto.plc.broute_g3.G3Driver` (initialise, credentials,
discovery, join by LBP/EAP-PSK in the modem, data); this module only wires
them to the port. A refused PSK raises :class:`AuthError`, a link that never
joins :class:`TransportError`; neither names the credentials.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Final

from ..echonet.session import BROUTE_RESPONSE_WAIT_S
from ..plc.broute_g3 import G3Driver
from ..wisun.broute import BRoute, BRouteEvent
from .serial import BRouteMeter, open_broute
from .virtual_time import VirtualTimers

__all__ = ["G3_BAUDRATE", "G3_MODEL", "open_g3plc"]

#: The serial speed of Microchip's G3 modem applications (230400 8N1 in the Harmony
#: "G3 ADP serialized" examples; set the one your modem uses).
G3_BAUDRATE: Final = 230400
#: The name the B-route machine and events use for this link.
G3_MODEL: Final = "g3-usi"
#: DISCOVERY durations in seconds, tried in turn while no PAN is heard (synthetic choice).
DISCOVERY_SECONDS: Final = (3, 6, 10)


@asynccontextmanager
async def open_g3plc(
    port: str,
    *,
    id_p: bytes,
    psk: bytes,
    baudrate: int = G3_BAUDRATE,
    join_timeout: float = 120.0,
    timeout: float = BROUTE_RESPONSE_WAIT_S,
    retries: int = 2,
    on_event: Callable[[BRouteEvent], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    timers: VirtualTimers | None = None,
) -> AsyncIterator[BRouteMeter]:
    """Join the meter's PLC PAN through the modem at ``port`` and yield a client for it.

    ``id_p`` is the 36-byte ARIB EAP-PSK peer identity and ``psk`` the 16-byte key
    the meter's LBP server knows. ``clock`` and ``timers`` are as for
    :func:`~smartmeter_proto.transport.serial.open_broute`.
    """
    machine = BRoute(
        model=G3_MODEL,
        rbid="",
        password="",
        driver=G3Driver(id_p=id_p, psk=psk),
        scan_durations=DISCOVERY_SECONDS,
        join_timeout=45.0,
    )
    async with open_broute(
        port,
        "",
        "",
        model=G3_MODEL,
        join_timeout=join_timeout,
        timeout=timeout,
        retries=retries,
        on_event=on_event,
        broute=machine,
        baudrate=baudrate,
        clock=clock,
        timers=timers,
    ) as meter:
        yield meter
