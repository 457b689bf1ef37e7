"""``smartmeter-proto fleet`` as a user runs it: a table, a SQLite store and a PNG chart."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from smartmeter_proto.cli import main


def test_fleet_prints_the_service_levels_and_writes_store_and_chart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    db, chart = tmp_path / "f.sqlite", tmp_path / "f.png"
    code = main(["fleet", "--meters", "40", "--hours", "6", "--loss", "0.5%", "--outage", "1h",
                 "--areas", "4", "--db", str(db), "--chart", str(chart), "--check"])
    out = capsys.readouterr().out
    assert "30-min values within 60 min (preliminary)" in out
    assert "Last Gasp alarms received / outages injected" in out
    confirmed = next(line for line in out.splitlines() if "(confirmed)" in line)
    assert "100.0000%" in confirmed
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with sqlite3.connect(db) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM readings WHERE period = 1800").fetchone()
    assert rows >= 40 * 11
    assert code in (0, 1)  # --check: 1 only when a level misses its target
    assert (code == 0) == ("  NO" not in out)


def test_fleet_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet", "--meters", "10", "--hours", "2", "--db", str(tmp_path / "f.db"),
                 "--chart", "", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["meters"] == 10
    assert report["lost_30min"] == 0
    assert [level["ok"] for level in report["levels"]] == [True] * 4


@pytest.mark.parametrize("args", [["--loss", "150%"], ["--outage", "two hours"]])
def test_fleet_refuses_bad_arguments(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fleet", *args])
    assert exit_info.value.code == 2
