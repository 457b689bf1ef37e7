"""The dongle emulator on a real pseudo-terminal, spoken to with plain os.read/os.write.

The emulator's time is virtual: it moves to the emulator's next deadline only when the
line is drained both ways (every byte the host wrote taken in, every byte the emulator
produced read), so a full SKSTACK session takes a moment and its outcome does not depend
on the machine's speed. Wall-clock bounds only guard against a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from smartmeter_proto.echonet import frame as fr
from smartmeter_proto.sim.clock import VirtualClock
from smartmeter_proto.sim.dongle import DongleEmulator, make_dongle
from smartmeter_proto.sim.meter import METER_EOJ
from smartmeter_proto.transport.pty_server import DonglePty, serve_dongle
from smartmeter_proto.wisun import j11
from smartmeter_proto.wisun import skstack as sk
from smartmeter_proto.wisun.j11 import messages as jm

RBID = "00112233445566778899AABB0194BFAD"
PASSWORD = "0123456789AB"
T0 = 1_777_604_405.0  # 2026-05-01 12:00:05 JST
HANG_S = 30.0  # wall-clock guard against a hang; never what decides a test
SRC = Path(__file__).parents[2] / "src"
FRAMES = {
    f["name"]: bytes.fromhex(f["hex"])
    for f in json.loads((Path(__file__).parents[1] / "vectors/j11/frames.json").read_text())[
        "frames"
    ]
}


T = TypeVar("T")


class Served:
    """An emulator on a pty, served from a background event loop in virtual time."""

    def __init__(self, pty: DonglePty, clock: VirtualClock, loop: asyncio.AbstractEventLoop):
        self.pty = pty
        self.clock = clock
        self._loop = loop

    def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the emulator's loop and return its result."""

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(HANG_S)


@contextmanager
def served(emulator: DongleEmulator) -> Iterator[Served]:
    """Serve ``emulator`` from a background event loop (the test thread blocks on reads)."""
    loop = asyncio.new_event_loop()
    clock = VirtualClock(T0)
    holder: list[Served] = []
    started = threading.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        async with serve_dongle(emulator, clock=clock, run_timers=False) as pty:
            holder.append(Served(pty, clock, loop))
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(HANG_S), "the pty did not come up"
    try:
        yield holder[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(HANG_S)
        loop.close()


class Line:
    """The host's end of the pty: counts the bytes it writes and reads, and moves the
    emulator's clock to its next deadline only when the line is drained both ways."""

    def __init__(self, served: Served, fd: int) -> None:
        self.served = served
        self.fd = fd
        self.written = 0
        self.read = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        self.written += len(data)

    def _advance(self, limit: float) -> str:
        """On the emulator's loop: fire its next deadline if the line is drained."""
        pty = self.served.pty
        if pty.bytes_in != self.written or pty.bytes_out != self.read:
            return "busy"
        due = pty.next_deadline()
        if due is None or due > limit:
            return "drained"
        self.served.clock.now = max(self.served.clock.now, due)
        pty.handle_timeout()
        return "moved"

    def read_until(self, done: Callable[[bytes], bool], within: float = 3600.0) -> bytes:
        """Read until ``done(everything read)``, emulator time moving ``within`` seconds at
        most; fails as soon as the line is drained and nothing is due any more."""
        buf = b""
        limit = self.served.clock.now + within
        give_up = time.monotonic() + HANG_S
        while not done(buf):
            assert time.monotonic() < give_up, f"hung; got {buf!r}"
            ready, _, _ = select.select([self.fd], [], [], 0)
            if ready:
                chunk = os.read(self.fd, 4096)
                if not chunk:
                    break
                buf += chunk
                self.read += len(chunk)
                continue
            outcome = self.served.call(lambda: self._advance(limit))
            if outcome == "busy":  # bytes in flight on the line
                select.select([self.fd], [], [], 0.005)
            elif outcome == "drained":
                raise AssertionError(
                    f"nothing more within {within} s of emulator time; got {buf!r}"
                )
        return buf

    def read_through(self, needle: bytes, within: float = 3600.0) -> bytes:
        return self.read_until(lambda buf: needle in buf, within)


@contextmanager
def line(served: Served) -> Iterator[Line]:
    with opened(served.pty.path) as fd:
        yield Line(served, fd)


@contextmanager
def opened(path: str) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        yield fd
    finally:
        os.close(fd)


def read_until(fd: int, needle: bytes, timeout: float = 5.0) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {needle!r} within {timeout} s; got {buf!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
    return buf


def erxudp_from_3610(data: bytes) -> list[sk.ERxUdp]:
    """Every whole ERXUDP from port 3610 in ``data`` (lines may arrive split across reads,
    or several in one read)."""
    return [
        m for m in sk.Parser("bp35c2").feed(data) if isinstance(m, sk.ERxUdp) and m.rport == 3610
    ]


def test_skstack_session_over_a_pty(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="smartmeter_proto")
    dongle = make_dongle("bp35c2", rbid=RBID, password=PASSWORD, now=T0)
    with served(dongle) as emulator, line(emulator) as host:
        host.write(b"SKVER\r\n")
        # Raw mode: no echo by the tty, no CR/LF translation, only the dongle's own bytes.
        assert host.read_through(b"OK\r\n") == b"SKVER\r\nEVER 1.5.2\r\nOK\r\n"
        host.write(b"SKSREG SFE 0\r")  # CR alone ends a line too
        assert host.read_through(b"OK\r\n") == b"SKSREG SFE 0\r\nOK\r\n"
        host.write(bytes(sk.sksetpwd(PASSWORD)) + bytes(sk.sksetrbid(RBID)))
        assert host.read_through(b"OK\r\nOK\r\n") == b"OK\r\nOK\r\n"
        host.write(b"SKSCAN 2 FFFFFFFF 6 0\r\n")  # 17.5 s of emulator time
        scanned_at = emulator.clock.now
        scan = host.read_through(b"EVENT 22")
        assert b"  PairID:0194BFAD\r\n" in scan
        assert emulator.clock.now - scanned_at == pytest.approx(17.5, abs=1.0)
        host.write(sk.sksreg("S2", dongle.channel) + sk.sksreg("S3", dongle.pan_id))
        host.write(sk.skjoin(dongle.meter_ipv6))
        join = host.read_through(b"EVENT 25 ")
        assert join.count(b"EVENT 21 ") == 5
        request = fr.encode(
            fr.Frame(7, fr.EOJ(5, 0xFF, 1), METER_EOJ, fr.ESV.GET, (fr.Property(0xE7),))
        )
        host.write(sk.sksendto(dongle.meter_ipv6, request, dialect="bp35c2"))
        answers = erxudp_from_3610(host.read_until(lambda buf: bool(erxudp_from_3610(buf))))
        answer = fr.decode(answers[-1].payload)
        assert isinstance(answer, fr.Frame)
        assert answer.esv in (fr.ESV.GET_RES, fr.ESV.INF)
    text = caplog.text
    assert "bytes" in text  # the adapter logged traffic...
    assert RBID not in text  # ...but never its content
    assert PASSWORD not in text


def test_j11_reset_over_a_pty() -> None:
    dongle = make_dongle("j11", rbid=RBID, password=PASSWORD, now=T0)
    with served(dongle) as emulator, line(emulator) as host:
        host.write(FRAMES["rohm_f1_reset"])  # [ROHM-AN] F1 -> F2
        startup = FRAMES["rohm_f2_startup"]
        assert host.read_through(startup, within=3) == startup


def test_disconnect_closes_the_master() -> None:
    dongle = make_dongle("bp35a1", rbid=RBID, password=PASSWORD, now=T0)
    with served(dongle) as emulator, line(emulator) as host:
        host.write(b"SKVER\r\n")
        host.read_through(b"OK\r\n")
        emulator.call(lambda: emulator.pty.inject("disconnect"))
        assert emulator.pty.closed.is_set()
        ready, _, _ = select.select([host.fd], [], [], HANG_S)
        assert ready  # hang-up is readable
        with contextlib.suppress(OSError):  # EIO: the master side is gone
            assert os.read(host.fd, 100) == b""


def test_cli_prints_the_path_first_and_stops_on_sigterm() -> None:
    script = (
        "import argparse, sys\n"
        "from smartmeter_proto.cli.dongle import add_dongle_parser\n"
        "parser = argparse.ArgumentParser()\n"
        "add_dongle_parser(parser.add_subparsers(dest='device', required=True))\n"
        "args = parser.parse_args(sys.argv[1:])\n"
        "sys.exit(args.handler(args))\n"
    )
    env = dict(
        os.environ,
        PYTHONPATH=str(SRC),
        SMARTMETER_PROTO_RBID=RBID,
        SMARTMETER_PROTO_PASSWORD=PASSWORD,
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "dongle", "--model", "j11", "--inject", "fail_er10@0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], HANG_S)
        assert ready, "no pty path on stdout"
        path = proc.stdout.readline().decode().strip()
        assert path.startswith("/dev/")
        with opened(path) as fd:
            # An injection at 0 s is in place before the path is printed.
            os.write(fd, FRAMES["tos_get_version"])
            # fail_er10 on J11: the next request gets a failure result (0x3D busy).
            busy = j11.encode(
                jm.encode_message(jm.ResultResponse(j11.Command.GET_VERSION_RESPONSE, 0x3D))
            )
            assert read_until(fd, busy, timeout=HANG_S) == busy
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(HANG_S) == 0
        out, err = proc.communicate(timeout=HANG_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(HANG_S)
    shown = out + err
    assert RBID.encode() not in shown
    assert PASSWORD.encode() not in shown
