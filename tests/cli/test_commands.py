"""The commands as a user meets them: one dongle model list, readable help, a monitor in kWh/JST."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from smartmeter_proto.cli import build_parser
from smartmeter_proto.cli.charts import can_draw_blocks, half_hour_chart
from smartmeter_proto.cli.dongle import parse_injection
from smartmeter_proto.sim.dongle import MODELS, make_dongle
from smartmeter_proto.wisun.broute import BRoute
from smartmeter_proto.wisun.dongle_models import (
    DEFAULT_DONGLE_MODEL,
    DONGLE_MODELS,
    J11_FAMILY,
    dongle_model,
    dongle_model_names,
)
from smartmeter_proto.wisun.skstack_dialects import get_dialect

HANG_GUARD_S = 120.0
RBID = "00112233445566778899AABBCCDDEEFF"
PASSWORD = "0123456789AB"
MY_COMMANDS = [
    ("demo",), ("monitor",), ("collect",), ("fleet",), ("simulate", "dongle"),
    ("simulate", "g3modem"), ("simulate", "gasmeter"), ("simulate", "watermeter"),
    ("simulate", "special"),
]


def _subparsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
    tuple[tuple[str, ...], argparse.ArgumentParser]
]:
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
        120.0, "silent_meter", {"seconds": 60}
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


def test_monitor_prints_kwh_in_jst_through_an_emulated_dongle(tmp_path: Path) -> None:
    """``simulate dongle`` on a real pty, ``monitor`` on it; the password comes from a file."""
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTMETER_PROTO_")}
    dongle = subprocess.Popen(
        [sys.executable, "-m", "smartmeter_proto", "simulate", "dongle", "--model", "bp35c0",
         "--time-scale", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env=env,
    )
    try:
        assert dongle.stdout is not None
        path = dongle.stdout.readline().strip()
        assert path.startswith("/dev/")
        done = subprocess.run(
            [sys.executable, "-m", "smartmeter_proto", "monitor", "--device", path,
             "--rbid", RBID, "--password-file", str(secret), "--model", "bp35c0", "--count", "1"],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env,
            timeout=HANG_GUARD_S, check=False,
        )
    finally:
        dongle.terminate()
        dongle.communicate(timeout=HANG_GUARD_S)
    assert done.returncode == 0, done.stderr
    reading = done.stdout.splitlines()[-2]  # the last line is the session's close
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d JST +\d+ W  R -?[\d.]+ A  T -?[\d.]+ A  [\d.]+ kWh",
        reading,
    ), reading
    assert PASSWORD not in done.stdout + done.stderr
