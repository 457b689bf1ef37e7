"""The dongle emulator on a real pseudo-terminal, spoken to with plain os.read/os.write.

Every wait is bounded (select with a deadline); the emulator's clock runs faster
(``time_scale``) so a full SKSTACK session takes well under a second.
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from smartmeter_proto.echonet import frame as fr
from smartmeter_proto.sim.dongle import DongleEmulator, make_dongle
from smartmeter_proto.sim.dongle_pty import DonglePty, serve_dongle
from smartmeter_proto.sim.meter import METER_EOJ
from smartmeter_proto.wisun import j11
from smartmeter_proto.wisun import j11_messages as jm
from smartmeter_proto.wisun import skstack as sk

RBID = "00112233445566778899AABB0194BFAD"
PASSWORD = "0123456789AB"
SRC = Path(__file__).parents[2] / "src"
FRAMES = {
    f["name"]: bytes.fromhex(f["hex"])
    for f in json.loads((Path(__file__).parents[1] / "vectors/j11/frames.json").read_text())[
        "frames"
    ]
}


@contextmanager
def served(emulator: DongleEmulator, time_scale: float = 1.0) -> Iterator[DonglePty]:
    """Serve ``emulator`` from a background event loop (the test thread blocks on reads)."""
    loop = asyncio.new_event_loop()
    holder: list[DonglePty] = []
    started = threading.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        async with serve_dongle(emulator, time_scale=time_scale) as pty:
            holder.append(pty)
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(5), "the pty did not come up"
    try:
        yield holder[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)
        loop.close()


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


def test_skstack_session_over_a_pty(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="smartmeter_proto")
    dongle = make_dongle("bp35c2", rbid=RBID, password=PASSWORD, now=time.time())
    with served(dongle, time_scale=100.0) as pty, opened(pty.path) as fd:
        os.write(fd, b"SKVER\r\n")
        # Raw mode: no echo by the tty, no CR/LF translation, only the dongle's own bytes.
        assert read_until(fd, b"OK\r\n") == b"SKVER\r\nEVER 1.5.2\r\nOK\r\n"
        os.write(fd, b"SKSREG SFE 0\r")  # CR alone ends a line too
        assert read_until(fd, b"OK\r\n") == b"SKSREG SFE 0\r\nOK\r\n"
        os.write(fd, bytes(sk.sksetpwd(PASSWORD)) + bytes(sk.sksetrbid(RBID)))
        assert read_until(fd, b"OK\r\nOK\r\n") == b"OK\r\nOK\r\n"
        os.write(fd, b"SKSCAN 2 FFFFFFFF 6 0\r\n")  # 17.5 s of emulator time
        scan = read_until(fd, b"EVENT 22")
        assert b"  PairID:0194BFAD\r\n" in scan
        os.write(fd, sk.sksreg("S2", dongle.channel) + sk.sksreg("S3", dongle.pan_id))
        os.write(fd, sk.skjoin(dongle.meter_ipv6))
        join = read_until(fd, b"EVENT 25 ")
        assert join.count(b"EVENT 21 ") == 5
        request = fr.encode(
            fr.Frame(7, fr.EOJ(5, 0xFF, 1), METER_EOJ, fr.ESV.GET, (fr.Property(0xE7),))
        )
        os.write(fd, sk.sksendto(dongle.meter_ipv6, request, dialect="bp35c2"))
        # Read until the parser has seen a whole ERXUDP from port 3610 (lines may
        # arrive split across reads, or several in one read).
        parser = sk.Parser("bp35c2")
        answers: list[sk.ERxUdp] = []
        deadline = time.monotonic() + 5.0
        while not answers and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if ready:
                answers += [
                    m
                    for m in parser.feed(os.read(fd, 4096))
                    if isinstance(m, sk.ERxUdp) and m.rport == 3610
                ]
        assert answers
        answer = fr.decode(answers[-1].payload)
        assert isinstance(answer, fr.Frame)
        assert answer.esv in (fr.ESV.GET_RES, fr.ESV.INF)
    text = caplog.text
    assert "bytes" in text  # the adapter logged traffic...
    assert RBID not in text  # ...but never its content
    assert PASSWORD not in text


def test_j11_reset_over_a_pty() -> None:
    dongle = make_dongle("j11", rbid=RBID, password=PASSWORD, now=time.time())
    with served(dongle) as pty, opened(pty.path) as fd:
        os.write(fd, FRAMES["rohm_f1_reset"])  # [ROHM-AN] F1 -> F2
        assert read_until(fd, FRAMES["rohm_f2_startup"], timeout=3) == FRAMES["rohm_f2_startup"]


def test_disconnect_closes_the_master() -> None:
    dongle = make_dongle("bp35a1", rbid=RBID, password=PASSWORD, now=time.time())
    with served(dongle) as pty, opened(pty.path) as fd:
        os.write(fd, b"SKVER\r\n")
        read_until(fd, b"OK\r\n")
        assert pty._loop is not None
        pty._loop.call_soon_threadsafe(pty.inject, "disconnect")
        deadline = time.monotonic() + 5
        while not pty.closed.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pty.closed.is_set()
        ready, _, _ = select.select([fd], [], [], 2)
        assert ready  # hang-up is readable
        with contextlib.suppress(OSError):  # EIO: the master side is gone
            assert os.read(fd, 100) == b""


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
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "no pty path on stdout"
        path = proc.stdout.readline().decode().strip()
        assert path.startswith("/dev/")
        with opened(path) as fd:
            time.sleep(0.2)  # let the scheduled injection land
            os.write(fd, FRAMES["tos_get_version"])
            # fail_er10 on J11: the next request gets a failure result (0x3D busy).
            busy = j11.encode(
                jm.encode_message(jm.ResultResponse(j11.Command.GET_VERSION_RESPONSE, 0x3D))
            )
            assert read_until(fd, busy, timeout=5) == busy
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        out, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    shown = out + err
    assert RBID.encode() not in shown
    assert PASSWORD.encode() not in shown
