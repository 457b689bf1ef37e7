"""B-route over a Wi-SUN dongle on a serial port (pyserial + asyncio).

:class:`SerialLink` feeds serial bytes and time into the sans-IO
:class:`~smartmeter_proto.wisun.broute.BRoute` state machine, writes what it
hands back and fires its timers. :func:`open_broute` joins the meter and gives
the same :class:`~smartmeter_proto.transport.udp.EchonetClient` as the UDP
transport, so ``await meter.get(...)`` reads the meter either way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Final

import serial

from ..echonet.events import MULTICAST, Address
from ..echonet.session import BROUTE_RESPONSE_WAIT_S, Session
from ..errors import AuthError, SessionError, TransportError
from ..wisun.broute import (
    AuthFailed,
    BRoute,
    BRouteEvent,
    BRouteState,
    EchonetReceived,
    Joined,
    LinkError,
)
from .driver import SessionDriver
from .udp import ECHONET_PORT, EchonetClient
from .virtual_time import VirtualTimers

__all__ = ["BRouteClient", "BRouteMeter", "SerialLink", "open_broute"]

log = logging.getLogger(__name__)

#: ROHM and Tessera dongles run 115200 baud, 8N1, no flow control.
DEFAULT_BAUDRATE: Final = 115200
_READ_CHUNK: Final = 4096
_REOPEN_DELAY_S: Final = 2.0
_MIN_TIMER_S: Final = 0.001


class SerialLink:
    """A serial port driving one :class:`BRoute`; ``on_event`` sees every B-route event."""

    def __init__(
        self,
        port: str,
        broute: BRoute,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        on_event: Callable[[BRouteEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        reopen_delay: float = _REOPEN_DELAY_S,
        run_timers: bool = True,
        on_port_open: Callable[[SerialLink], None] | None = None,
    ) -> None:
        if reopen_delay <= 0:
            raise ValueError("reopen_delay must be positive")
        self.port = port
        self.reopen_delay = reopen_delay
        self.broute = broute
        self.baudrate = baudrate
        self.clock = clock
        self._on_event = on_event
        self._serial: serial.Serial | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Callable[[BRouteEvent], None]] = []
        self._reopen: asyncio.Task[None] | None = None
        self._closed = False
        #: Times the serial port was lost and opened again.
        self.reopened = 0
        #: False: no loop timer is armed; a virtual-time runner calls :meth:`handle_timeout`.
        self.run_timers = run_timers
        self._on_port_open = on_port_open
        #: Bytes read from and written to the port opened last (a runner in virtual time
        #: compares them with the other end's to know that nothing is in flight).
        self.bytes_in = 0
        self.bytes_out = 0

    def subscribe(self, listener: Callable[[BRouteEvent], None]) -> None:
        self._listeners.append(listener)

    # ------------------------------------------------------------- lifecycle
    def _open_port(self) -> None:
        try:
            port = serial.Serial(self.port, self.baudrate, timeout=0, write_timeout=5)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"cannot open {self.port}: {exc}") from None
        if self._on_port_open is not None:
            self._on_port_open(self)
        self._serial = port
        self.bytes_in = self.bytes_out = 0
        assert self._loop is not None
        self._loop.add_reader(port.fileno(), self._readable)

    async def open(self) -> None:
        """Open the port and start the join (reset, credentials, scan, PANA)."""
        self._loop = asyncio.get_running_loop()
        self._open_port()
        self.broute.start(self.clock())
        self._pump([])

    async def close(self) -> None:
        """End the PANA session (SKTERM / terminate) if possible, then close the port."""
        if self._closed:
            return
        if self._serial is not None and self.broute.state is BRouteState.READY:
            self.broute.close(self.clock())
            self._write()
            await asyncio.sleep(0.05)
        self._closed = True
        if self._reopen is not None:
            self._reopen.cancel()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._drop_port()

    def _drop_port(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            if self._loop is not None:
                with suppress(ValueError, OSError):
                    self._loop.remove_reader(port.fileno())
            with suppress(serial.SerialException, OSError):
                port.close()

    # --------------------------------------------------------------- data flow
    def _readable(self) -> None:
        port = self._serial
        if port is None:
            return
        try:
            data = port.read(_READ_CHUNK)
        except (serial.SerialException, OSError) as exc:
            self._lost(f"read failed: {exc}")
            return
        if not data:
            # A readable descriptor with no data: the other end hung up.
            self._lost("serial port closed by the other end")
            return
        # Byte counts only: a SKSTACK dongle echoes SKSETPWD/SKSETRBID with the secrets.
        log.debug("rx %d bytes", len(data))
        self.bytes_in += len(data)
        self._pump(self.broute.receive_data(data, self.clock()))

    def send_echonet(self, payload: bytes, dest: str | None = None) -> None:
        """Queue an ECHONET Lite datagram for the meter (UDP 3610)."""
        self.broute.send_echonet(payload, self.clock(), dest=dest)
        self._pump([])

    def _write(self) -> None:
        data = self.broute.data_to_send()
        if not data or self._serial is None:
            return
        try:
            self._serial.write(data)
        except (serial.SerialException, OSError) as exc:
            self._lost(f"write failed: {exc}")
            return
        self.bytes_out += len(data)

    def _pump(self, events: list[BRouteEvent]) -> None:
        self._write()
        for event in events:
            if self._on_event is not None:
                self._on_event(event)
            for listener in self._listeners:
                listener(event)
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.broute.next_deadline()
        if deadline is None or self._closed or self._loop is None or not self.run_timers:
            return
        self._timer = self._loop.call_later(max(_MIN_TIMER_S, deadline - self.clock()), self._fire)

    def next_deadline(self) -> float | None:
        """The B-route machine's next deadline (what a virtual-time runner moves to)."""
        return None if self._closed else self.broute.next_deadline()

    def handle_timeout(self) -> None:
        """Fire the B-route machine's timers due at ``clock()``."""
        if not self._closed:
            self._fire()

    def _fire(self) -> None:
        self._timer = None
        self._pump(self.broute.handle_timeout(self.clock()))

    def _lost(self, reason: str) -> None:
        """The port went away (dongle unplugged): tell the machine, reopen, join again.

        :meth:`BRoute.port_lost` moves the machine back to IDLE from any state (its
        sends end in ``SendConfirmed(False)``; the ECHONET Lite session above resends or
        fails its requests by its own timeout and retry rules), so the
        :meth:`BRoute.start` after the reopen is legal whatever state the loss caught.
        """
        log.warning("serial link %s lost: %s", self.port, reason)
        self._drop_port()
        if self._closed:
            return
        self._pump(self.broute.port_lost(self.clock()))
        if self._reopen is None and self._loop is not None:
            self._reopen = self._loop.create_task(self._reopen_later())

    async def _reopen_later(self) -> None:
        try:
            while not self._closed:
                await asyncio.sleep(self.reopen_delay)
                if not os.path.exists(self.port):
                    continue
                try:
                    self._open_port()
                except TransportError as exc:
                    log.debug("reopen failed: %s", exc)
                    continue
                self.reopened += 1
                self.broute.start(self.clock())
                self._pump([])
                return
        finally:
            self._reopen = None


class BRouteMeter(EchonetClient):
    """An :class:`EchonetClient` over the B-route; ``address`` is the meter's link-local IPv6."""

    def __init__(self, driver: SessionDriver, link: SerialLink, address: str) -> None:
        super().__init__(driver, default_port=ECHONET_PORT)
        self.serial_link = link
        self.address = address

    @property
    def state(self) -> BRouteState:
        return self.serial_link.broute.state


@asynccontextmanager
async def open_broute(
    port: str,
    rbid: str,
    password: str,
    *,
    model: str = "bp35c2",
    join_timeout: float = 120.0,
    timeout: float = BROUTE_RESPONSE_WAIT_S,
    retries: int = 2,
    on_event: Callable[[BRouteEvent], None] | None = None,
    broute: BRoute | None = None,
    baudrate: int = DEFAULT_BAUDRATE,
    reopen_delay: float = _REOPEN_DELAY_S,
    clock: Callable[[], float] = time.monotonic,
    timers: VirtualTimers | None = None,
) -> AsyncIterator[BRouteMeter]:
    """Join the meter through the dongle at ``port`` and yield a client for it.

    ``async with open_broute("/dev/ttyUSB0", rbid, password) as meter:
    await meter.get_values(meter.address, METER_EOJ, [0xE7])``. A refused
    password raises :class:`AuthError` (its text never holds the credentials);
    a link that cannot join raises :class:`TransportError`. A port that goes away
    (dongle unplugged) is looked for again every ``reopen_delay`` seconds and the
    link joins again on it; the client stays usable, reads fail meanwhile.
    """
    machine = broute or BRoute(model=model, rbid=rbid, password=password)
    link = SerialLink(
        port,
        machine,
        on_event=on_event,
        baudrate=baudrate,
        reopen_delay=reopen_delay,
        clock=clock,
        run_timers=timers is None,
        on_port_open=None if timers is None else timers.port_opened,
    )
    joined: asyncio.Future[Joined] = asyncio.get_running_loop().create_future()
    driver: SessionDriver | None = None

    def watch(event: BRouteEvent) -> None:
        if isinstance(event, Joined) and not joined.done():
            joined.set_result(event)
        elif isinstance(event, AuthFailed) and not joined.done():
            joined.set_exception(AuthError(f"B-route authentication failed: {event.reason}"))
        elif isinstance(event, LinkError) and not joined.done():
            joined.set_exception(TransportError(f"B-route link failed: {event.reason}"))
        elif isinstance(event, EchonetReceived) and driver is not None:
            task = asyncio.get_running_loop().create_task(
                driver.feed(event.payload, (event.source, ECHONET_PORT))
            )
            pending.add(task)
            task.add_done_callback(pending.discard)

    pending: set[asyncio.Task[None]] = set()
    link.subscribe(watch)

    async def send(data: bytes, dest: Address) -> None:
        target = None if dest is MULTICAST else _ipv6_of(dest)
        try:
            link.send_echonet(data, target)
        except SessionError as exc:
            log.debug("send dropped: %s", exc)

    await link.open()
    leave: list[Callable[[], None]] = [] if timers is None else [timers.add(link)]
    try:
        try:
            found = await asyncio.wait_for(joined, join_timeout)
        except TimeoutError:
            raise TransportError(
                f"no B-route join within {join_timeout:.0f} s (state {machine.state.name})"
            ) from None
        session = Session(timeout=timeout, retries=retries)
        driver = SessionDriver(session, send, clock=clock, run_timers=timers is None)
        if timers is not None:
            leave.append(timers.add(driver))
        driver.start()
        try:
            yield BRouteMeter(driver, link, found.meter_ipv6)
        finally:
            await driver.stop()
            for task in list(pending):
                task.cancel()
    finally:
        await link.close()
        for remove in leave:
            remove()


def _ipv6_of(dest: Address) -> str:
    if isinstance(dest, tuple) and dest:
        return str(dest[0])
    return str(dest)


#: ``async with BRouteClient(port, rbid, password) as meter:`` reads like the UDP client.
BRouteClient = open_broute
