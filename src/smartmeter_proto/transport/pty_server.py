"""Serve a simulated dongle on a pseudo-terminal (asyncio adapter).

The adapter opens a pty pair, puts the slave in raw mode, feeds what the host
writes to the slave into the emulator, writes the emulator's output back, and
fires the emulator's timers with ``loop.call_later``. Clients open the slave
path like any serial port (pyserial, momonga). It holds no protocol logic and
logs byte counts only, never content (the host's lines carry the B-route
credentials). ``time_scale`` > 1 runs the emulator's clock faster than the
wall clock (scans, PANA and the meter's 30-minute schedule alike). With
``run_timers=False`` the emulator's time is ``clock`` itself and no timer is armed:
the caller moves the clock and calls :meth:`DonglePty.handle_timeout` (a test that
moves time only once both directions of the line are drained, whatever the load).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import signal
import sys
import time
import tty
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol, TextIO


class SerialEmulator(Protocol):
    """What the pty adapter drives: a sans-IO device on a serial line (dongle, PLC modem)."""

    model: str

    @property
    def disconnected(self) -> bool: ...

    def receive_data(self, data: bytes, now: float) -> None: ...

    def data_to_send(self) -> bytes: ...

    def next_deadline(self) -> float | None: ...

    def handle_timeout(self, now: float) -> None: ...

    def inject(self, fault: str, **params: Any) -> None: ...


__all__ = ["DonglePty", "Injection", "SerialEmulator", "main", "run_dongle_on_pty"]

logger = logging.getLogger(__name__)

_READ_SIZE = 4096
#: A fault to inject ``delay`` seconds (emulator time) after start: (delay, fault, params).
Injection = tuple[float, str, dict[str, Any]]


class DonglePty:
    """One emulator served on one pty; use :func:`run_dongle_on_pty` to get its path."""

    def __init__(
        self,
        emulator: SerialEmulator,
        *,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.time,
        run_timers: bool = True,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.emulator = emulator
        self._scale = time_scale
        self._clock = clock
        self._run_timers = run_timers
        self._start = clock()
        self._mono = time.monotonic()
        self._master = -1
        self._slave = -1
        self._pending = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.path = ""
        #: Set when the master side was closed (fault ``disconnect`` or :meth:`close`).
        self.closed = asyncio.Event()
        #: Bytes the host wrote that the emulator has taken in, and bytes it produced.
        self.bytes_in = 0
        self.bytes_out = 0

    def now(self) -> float:
        """The emulator's clock: the start time plus scaled monotonic time, or ``clock()``
        itself with ``run_timers=False``."""
        if not self._run_timers:
            return self._clock()
        return self._start + (time.monotonic() - self._mono) * self._scale

    def next_deadline(self) -> float | None:
        """When the emulator's timers are next due (emulator time), or ``None``."""
        return self.emulator.next_deadline()

    def handle_timeout(self) -> None:
        """Fire the emulator's timers due at :meth:`now` and serve their effects."""
        self.emulator.handle_timeout(self.now())
        self._after_emulator()

    def open(self) -> str:
        """Open the pty, start serving, and return the slave's path."""
        self._loop = asyncio.get_running_loop()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._loop.add_reader(self._master, self._on_readable)
        self._after_emulator()
        logger.info("dongle %s on %s", self.emulator.model, self.path)
        return self.path

    def inject(self, fault: str, **params: Any) -> None:
        """Inject a fault now (see the emulator's ``inject``) and serve its effects."""
        self.emulator.handle_timeout(self.now())
        self.emulator.inject(fault, **params)
        self._after_emulator()

    def close(self) -> None:
        """Stop serving and close both ends of the pty."""
        self._close_master()
        if self._slave >= 0:
            os.close(self._slave)
            self._slave = -1

    # ------------------------------------------------------------------ internals
    def _close_master(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._master >= 0:
            assert self._loop is not None
            self._loop.remove_reader(self._master)
            self._loop.remove_writer(self._master)
            os.close(self._master)
            self._master = -1
            logger.info("dongle %s: serial link closed", self.emulator.model)
        self.closed.set()

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: no process holds the slave open
            if exc.errno != errno.EIO:
                raise
            return
        logger.debug("host -> dongle: %d bytes", len(data))
        self.emulator.receive_data(data, self.now())
        self.bytes_in += len(data)
        self._after_emulator()

    def _on_timer(self) -> None:
        self._timer = None
        due = self.now()
        if self._armed_for is not None:
            due = max(due, self._armed_for)  # a timer may fire a hair early
        self.emulator.handle_timeout(due)
        self._after_emulator()

    def _after_emulator(self) -> None:
        """Write what the emulator produced, then arm its next deadline."""
        if self._master < 0:
            return
        out = self.emulator.data_to_send()
        if out:
            logger.debug("dongle -> host: %d bytes", len(out))
            self.bytes_out += len(out)
            self._pending += out
            self._write()
        if self.emulator.disconnected:
            self._close_master()
            return
        self._arm()

    def _write(self) -> None:
        assert self._loop is not None
        while self._pending and self._master >= 0:
            try:
                sent = os.write(self._master, self._pending)
            except BlockingIOError:
                self._loop.add_writer(self._master, self._write)
                return
            del self._pending[:sent]
        if self._master >= 0:
            self._loop.remove_writer(self._master)

    def _arm(self) -> None:
        assert self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.emulator.next_deadline()
        self._armed_for = deadline
        if deadline is not None and self._run_timers:
            delay = max(0.0, (deadline - self.now()) / self._scale)
            self._timer = self._loop.call_later(delay, self._on_timer)


@contextlib.asynccontextmanager
async def run_dongle_on_pty(
    emulator: SerialEmulator,
    *,
    time_scale: float = 1.0,
    clock: Callable[[], float] = time.time,
    run_timers: bool = True,
) -> AsyncIterator[str]:
    """Serve ``emulator`` on a new pty for the duration of the block; yields the slave path."""
    async with serve_dongle(
        emulator, time_scale=time_scale, clock=clock, run_timers=run_timers
    ) as pty:
        yield pty.path


@contextlib.asynccontextmanager
async def serve_dongle(
    emulator: SerialEmulator,
    *,
    time_scale: float = 1.0,
    clock: Callable[[], float] = time.time,
    run_timers: bool = True,
) -> AsyncIterator[DonglePty]:
    """Like :func:`run_dongle_on_pty`, yielding the :class:`DonglePty` (path, inject, closed)."""
    pty = DonglePty(emulator, time_scale=time_scale, clock=clock, run_timers=run_timers)
    pty.open()
    try:
        yield pty
    finally:
        pty.close()


async def _serve_until_stopped(
    emulator: SerialEmulator,
    time_scale: float,
    injections: Sequence[Injection],
    stdout: TextIO,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with serve_dongle(emulator, time_scale=time_scale) as pty:
        for delay, fault, params in injections:
            if delay <= 0:  # in place before the host can know the path, so before its first byte
                pty.inject(fault, **params)
            else:
                loop.call_later(delay / time_scale, functools.partial(pty.inject, fault, **params))
        print(pty.path, file=stdout, flush=True)
        await stop.wait()


def main(
    emulator: SerialEmulator,
    *,
    time_scale: float = 1.0,
    injections: Sequence[Injection] = (),
    stdout: TextIO | None = None,
) -> int:
    """Serve ``emulator`` on a pty until SIGINT/SIGTERM; the slave path is stdout's first line."""
    out = sys.stdout if stdout is None else stdout
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_stopped(emulator, time_scale, injections, out))
    return 0
