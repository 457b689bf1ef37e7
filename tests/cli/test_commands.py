"""The commands as a user meets them: one dongle model list, readable help, a monitor in kWh/JST."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from smartmeter_proto.cli import build_parser
from smartmeter_proto.cli.charts import can_draw_blocks, half_hour_chart
from smartmeter_proto.cli.dongle import parse_injection
from smartmeter_proto.sim.clock import VirtualClock
from smartmeter_proto.sim.dongle import MODELS, make_dongle
from smartmeter_proto.transport.pty_server import serve_dongle
from smartmeter_proto.wisun.broute import BRoute
from smartmeter_proto.wisun.dongle_models import (
    DEFAULT_DONGLE_MODEL,
    DONGLE_MODELS,
    J11_FAMILY,
    dongle_model,
    dongle_model_names,
)
from smartmeter_proto.wisun.skstack.dialects import get_dialect

HANG_GUARD_S = 120.0
RBID = "00112233445566778899AABBCCDDEEFF"
PASSWORD = "0123456789AB"
MY_COMMANDS = [
    ("demo",),
    ("monitor",),
    ("collect",),
    ("fleet",),
    ("simulate", "dongle"),
    ("simulate", "g3modem"),
    ("simulate", "gasmeter"),
    ("simulate", "watermeter"),
    ("simulate", "special"),
]


def _subparsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subparsers(sub, (*path, name))


COMMANDS = dict(_subparsers(build_parser()))


def _option(command: tuple[str, ...], flag: str) -> argparse.Action:
    return next(a for a in COMMANDS[command]._actions if flag in a.option_strings)


def test_one_model_list_and_one_default_everywhere() -> None:
    assert DEFAULT_DONGLE_MODEL == "bp35c2"
    assert MODELS is DONGLE_MODELS
    for command in (("demo",), ("monitor",), ("simulate", "dongle")):
        model = _option(command, "--model")
        assert tuple(model.choices or ()) == dongle_model_names(), command
        assert model.default in (DEFAULT_DONGLE_MODEL, None), command
    assert "bp35c0" in dongle_model_names()
    assert dongle_model(" BP35C0 ") == "bp35c0"
    with pytest.raises(ValueError, match="known: bp35a1, bp35c0"):
        dongle_model("bp99")


@pytest.mark.parametrize("model", dongle_model_names())
def test_every_model_is_emulated_and_driven(model: str) -> None:
    family = DONGLE_MODELS[model]
    if family != J11_FAMILY:
        assert get_dialect(family).name == family  # a dialect of specs/skstack
    assert make_dongle(model, rbid=RBID, password=PASSWORD, now=0.0).model == model
    assert BRoute(model=model, rbid=RBID, password=PASSWORD).state is not None


@pytest.mark.parametrize("command", MY_COMMANDS, ids=" ".join)
def test_help_is_plain_text_and_every_option_explained(command: tuple[str, ...]) -> None:
    parser = COMMANDS[command]
    text = parser.format_help()
    assert "``" not in text
    assert ":func:" not in text
    assert ":data:" not in text
    unexplained = [a.dest for a in parser._actions if not a.help]
    assert unexplained == []


def test_injection_times_must_be_seconds_from_the_start() -> None:
    assert parse_injection("silent_meter:seconds=60@120") == (
        120.0,
        "silent_meter",
        {"seconds": 60},
    )
    for text in ("session_expiry@-5", "session_expiry@inf", "session_expiry@soon", "nope"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_injection(text)


def test_chart_draws_blocks_or_ascii() -> None:
    kwh: list[Decimal | None] = [Decimal("0.1"), Decimal("0.4"), None]
    assert can_draw_blocks("utf-8")
    assert not can_draw_blocks("cp932")
    assert not can_draw_blocks("ascii")
    assert not can_draw_blocks(None)
    blocks = half_hour_chart(kwh)[0]
    ascii_bars = half_hour_chart(kwh, blocks=False)[0]
    assert blocks.strip().endswith("·")
    assert "█" in blocks
    assert ascii_bars.isascii()
    assert ascii_bars.strip().endswith("?")
    assert "#" in ascii_bars


#: Virtual start of the emulated dongle (2026-05-01 12:00:05 JST).
T0 = 1_777_604_405.0
#: Wall seconds between two firings of the emulator's timers: a pace, no bound.
_PACE_S = 0.002
#: Timers further ahead (emulator seconds) wait: the meter's 30-minute schedule stays put,
#: the longest scan round (duration 8: 28 x 9.6 ms x 257, 69 s) and PANA fit.
_MAX_STEP_S = 120.0


@contextlib.contextmanager
def dongle_in_virtual_time(model: str) -> Iterator[str]:
    """The dongle emulator on a pty, served from a background loop on a virtual clock.

    Its timers (radio latency, scan dwell, PANA) fire as soon as the loop is idle, so a
    join takes its emulated time without taking wall time: an answer never waits on a
    scaled wall clock, whatever the machine's load. Yields the pty's path.
    """
    loop = asyncio.new_event_loop()
    clock = VirtualClock(T0)
    paths: list[str] = []
    started = threading.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        emulator = make_dongle(model, rbid=RBID, password=PASSWORD, now=clock.now)
        async with serve_dongle(emulator, clock=clock, run_timers=False) as pty:
            paths.append(pty.path)
            started.set()
            while not stop.is_set() and not pty.closed.is_set():
                await asyncio.sleep(_PACE_S)
                due = pty.next_deadline()
                if due is not None and due <= clock.now + _MAX_STEP_S:
                    clock.now = max(clock.now, due)
                    pty.handle_timeout()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        assert started.wait(HANG_GUARD_S), "the pty did not come up"
        yield paths[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(HANG_GUARD_S)
        loop.close()


def test_monitor_prints_kwh_in_jst_through_an_emulated_dongle(tmp_path: Path) -> None:
    """The dongle emulator on a real pty, ``monitor`` on it; the password comes from a file."""
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTMETER_PROTO_")}
    with dongle_in_virtual_time("bp35c0") as path:
        assert path.startswith("/dev/")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "smartmeter_proto",
                "monitor",
                "--device",
                path,
                "--rbid",
                RBID,
                "--password-file",
                str(secret),
                "--model",
                "bp35c0",
                "--count",
                "1",
            ],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env=env,
            timeout=HANG_GUARD_S,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    reading = done.stdout.splitlines()[-2]  # the last line is the session's close
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d JST +\d+ W  R -?[\d.]+ A  T -?[\d.]+ A  [\d.]+ kWh",
        reading,
    ), reading
    assert PASSWORD not in done.stdout + done.stderr
