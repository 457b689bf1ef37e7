"""IoT route over UDP (A-route(IoT)): any sans-IO endpoint on an asyncio-dgram socket.

An endpoint has ``receive_datagram(data, source, now)``,
``datagrams_to_send() -> [(bytes, (host, port))]``, ``next_deadline()`` and
``handle_timeout(now)`` — the head-end (:class:`~smartmeter_proto.iot.headend.HeadEnd`)
and the simulated meters (:class:`~smartmeter_proto.sim.iotmeter.SimulatedIotMeter`)
both are. The adapter only moves bytes and fires timers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager, suppress
from typing import Any, Final, Protocol

import asyncio_dgram
from asyncio_dgram.aio import DatagramServer, TransportClosed

from ..errors import TransportError

__all__ = ["DatagramEndpoint", "UDPEndpointLink", "serve_endpoint"]

log = logging.getLogger(__name__)
_MIN_TIMER_S: Final = 0.001


class DatagramEndpoint(Protocol):
    def receive_datagram(self, data: bytes, source: Hashable, now: float) -> Any: ...

    def datagrams_to_send(self) -> list[tuple[bytes, Hashable]]: ...

    def next_deadline(self) -> float | None: ...

    def handle_timeout(self, now: float) -> Any: ...


class UDPEndpointLink:
    """Runs one endpoint on one UDP socket; ``send_filter`` may drop outgoing datagrams."""

    def __init__(
        self,
        endpoint: DatagramEndpoint,
        stream: DatagramServer,
        *,
        clock: Callable[[], float],
        send_filter: Callable[[bytes, Hashable], bool] | None = None,
        time_scale: float = 1.0,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.endpoint = endpoint
        self._stream = stream
        self._clock = clock
        self._scale = time_scale
        self._filter = send_filter
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.filtered = 0

    @property
    def address(self) -> tuple[str, int]:
        name: Any = self._stream.sockname
        return (str(name[0]), int(name[1]))

    async def run(self) -> None:
        self._arm()
        while True:
            try:
                data, source = await self._stream.recv()
            except TransportClosed:
                return
            except OSError as exc:
                log.debug("socket error: %s", exc)
                continue
            peer: Any = source
            self.endpoint.receive_datagram(data, (str(peer[0]), int(peer[1])), self._clock())
            await self._flush()

    async def _flush(self) -> None:
        for data, dest in self.endpoint.datagrams_to_send():
            if self._filter is not None and not self._filter(data, dest):
                self.filtered += 1
                continue
            if not isinstance(dest, tuple):
                raise TransportError(f"not a UDP address: {dest!r}")
            try:
                await self._stream.send(data, (str(dest[0]), int(dest[1])))
                self.sent += 1
            except OSError as exc:
                log.debug("send to %s failed: %s", dest, exc)
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        deadline = self.endpoint.next_deadline()
        self._timer = None
        if deadline is not None:
            delay = max(_MIN_TIMER_S, (deadline - self._clock()) / self._scale)
            self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def kick(self) -> None:
        """Send what the endpoint queued outside a receive or a timer (a caller's request)."""
        task = asyncio.get_running_loop().create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _fire(self) -> None:
        self._timer = None
        self.endpoint.handle_timeout(self._clock())
        task = asyncio.get_running_loop().create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._tasks):
            task.cancel()


@asynccontextmanager
async def serve_endpoint(
    endpoint: DatagramEndpoint,
    local: tuple[str, int],
    *,
    clock: Callable[[], float] = time.time,
    send_filter: Callable[[bytes, Hashable], bool] | None = None,
    time_scale: float = 1.0,
) -> AsyncIterator[UDPEndpointLink]:
    """Bind ``local`` and run ``endpoint`` on it until the block exits.

    ``clock`` is the endpoint's time; with ``time_scale`` > 1 it runs that much faster
    than the wall clock (timers are armed for the scaled delay).
    """
    try:
        stream = await asyncio_dgram.bind(local)
    except OSError as exc:
        raise TransportError(f"cannot bind {local}: {exc}") from exc
    if not isinstance(stream, DatagramServer):
        stream.close()
        raise TransportError("expected an unconnected UDP socket")
    link = UDPEndpointLink(
        endpoint, stream, clock=clock, send_filter=send_filter, time_scale=time_scale
    )
    reader = asyncio.get_running_loop().create_task(link.run())
    try:
        yield link
    finally:
        link.stop()
        reader.cancel()
        with suppress(asyncio.CancelledError, TransportClosed):
            await reader
        stream.close()
