"""``collect`` and ``simulate gasmeter`` keep their security state in ``--state`` (or the
default under ``$XDG_STATE_HOME``); a state file that cannot be used is one error line."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartmeter_proto.cli import main


def test_simulator_refuses_a_state_file_that_is_not_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "meter.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    argv = ["simulate", "gasmeter", "--state", str(bad), "--duration", "0.01"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert "not a map of names to counters" in err


def test_collector_refuses_a_state_database_that_is_not_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "hes.sqlite"
    bad.write_bytes(b"this is no SQLite database, only text" * 10)
    argv = ["collect", "--meter", "gas-0001", "--state", str(bad), "--bind", "127.0.0.1:0"]
    assert main([*argv, "--duration", "0.01"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad} is not a state database")
    assert err.count("\n") == 1


def test_default_state_files_live_under_xdg_state_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    argv = ["collect", "--meter", "gas-0001", "--bind", "127.0.0.1:0", "--duration", "0.01"]
    assert main(argv) == 0
    database = tmp_path / "smartmeter-proto" / "iot-headend.sqlite"
    assert f"security state in {database}" in capsys.readouterr().out
    assert database.is_file()
    # The meter's file is named after its meter id, made safe for a file name.
    argv = ["simulate", "gasmeter", "--meter-id", "gas/0001", "--interval", "0.1"]
    assert main([*argv, "--bind", "127.0.0.1:0", "--duration", "0.01"]) == 0
    path = tmp_path / "smartmeter-proto" / "iot-meter-gas%2F0001.json"
    assert f"security state in {path}" in capsys.readouterr().out
    assert path.parent.is_dir()
