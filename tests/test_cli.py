"""The command line as a user runs it: the README's main job and the decoders."""

from __future__ import annotations

import json

import pytest

from smartmeter_proto.cli import main


def test_demo_joins_the_emulated_dongle_and_prints_the_readings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--model", "j11"]) == 0
    out = capsys.readouterr().out
    assert "joined meter fe80::" in out
    assert "instantaneous power" in out
    assert " W" in out
    assert "cumulative energy" in out
    assert "kWh" in out
    assert "today's 30-minute energy" in out


def test_demo_over_the_lan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--lan"]) == 0
    out = capsys.readouterr().out
    assert "discovered node with objects: 028801" in out
    assert "instantaneous current" in out


def test_decode_echonet_json(capsys: pytest.CaptureFixture[str]) -> None:
    frame = "1081000102880105FF017202E70400000228E8040012FFEC"
    assert main(["decode", "echonet", frame, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["tid"], doc["seoj"], doc["deoj"], doc["esv"]) == (1, "028801", "05FF01", 0x72)
    assert doc["properties"][0] == {
        "epc": 0xE7,
        "pdc": 4,
        "edt": "00000228",
        "name": "instantaneous_power",
        "value": 552,
        "unit": "W",
    }
    assert doc["properties"][1]["value"] == {"r_phase": 1.8, "t_phase": -2.0}


def test_decode_echonet_bad_input_exits_2_naming_the_offset(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["decode", "echonet", "1081000102880105FF017201E70400"]) == 2
    assert "at byte offset" in capsys.readouterr().err
