"""A UDP socket on the running event loop's selector that drains its queue per wake-up.

asyncio's datagram transport reads one datagram per loop iteration and socket; a head end
receiving pushes from thousands of meters wants every queued datagram read at once. This
adapter registers a non-blocking socket with ``loop.add_reader`` and hands each datagram
(up to ``batch`` per wake-up, for fairness) to a callback. It moves bytes only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Final

from ..errors import TransportError

__all__ = ["DatagramSocket"]

log = logging.getLogger(__name__)
_MAX_DATAGRAM: Final = 65_535
_DEFAULT_BATCH: Final = 256

Receiver = Callable[[bytes, tuple[str, int]], None]


class DatagramSocket:
    """One bound UDP socket; ``on_datagram(data, (host, port))`` runs for each received."""

    def __init__(self, sock: socket.socket, on_datagram: Receiver, *,
                 batch: int = _DEFAULT_BATCH) -> None:
        self._sock = sock
        self._on_datagram = on_datagram
        self._batch = batch
        self._loop = asyncio.get_running_loop()
        self._closed = False
        self.received = 0
        self.sent = 0
        self.send_errors = 0
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._read_ready)

    @classmethod
    def open(cls, local: tuple[str, int], on_datagram: Receiver, *,
             receive_buffer: int | None = None, batch: int = _DEFAULT_BATCH) -> DatagramSocket:
        """Bind ``local`` (IPv4 or IPv6 literal) on the running loop."""
        family = socket.AF_INET6 if ":" in local[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if receive_buffer is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.bind(local)
        except OSError as exc:
            sock.close()
            raise TransportError(f"cannot bind {local}: {exc}") from exc
        return cls(sock, on_datagram, batch=batch)

    @property
    def address(self) -> tuple[str, int]:
        name = self._sock.getsockname()
        return (str(name[0]), int(name[1]))

    def _read_ready(self) -> None:
        for _ in range(self._batch):
            try:
                data, peer = self._sock.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable reported on a later read
                log.debug("receive error: %s", exc)
                continue
            self.received += 1
            self._on_datagram(data, (str(peer[0]), int(peer[1])))

    def send(self, data: bytes, destination: tuple[str, int]) -> bool:
        """Send one datagram now; False (counted) if the kernel refused it."""
        if self._closed:
            return False
        try:
            self._sock.sendto(data, destination)
        except OSError as exc:
            self.send_errors += 1
            log.debug("send to %s failed: %s", destination, exc)
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
