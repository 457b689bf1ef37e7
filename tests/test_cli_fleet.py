"""``smartmeter-proto fleet`` as a user runs it: a table, a SQLite store and a PNG chart."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest

from smartmeter_proto.cli import main
from smartmeter_proto.hes.storage import Store
from smartmeter_proto.sim.fleet import Fleet
from smartmeter_proto.sim.fleet_run import HEADEND_TITLE, stored_plan


def test_fleet_prints_the_service_levels_and_writes_store_and_chart(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("matplotlib", reason="the chart needs the extra 'hes' (matplotlib)")
    db, chart = tmp_path / "f.sqlite", tmp_path / "f.png"
    code = main(
        [
            "fleet",
            "--meters",
            "40",
            "--hours",
            "6",
            "--loss",
            "0.5%",
            "--outage",
            "1h",
            "--areas",
            "4",
            "--db",
            str(db),
            "--chart",
            str(chart),
            "--check",
        ]
    )
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
    assert (
        main(
            [
                "fleet",
                "--meters",
                "10",
                "--hours",
                "2",
                "--db",
                str(tmp_path / "f.db"),
                "--chart",
                "",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["meters"] == 10
    assert report["lost_30min"] == 0
    assert [level["ok"] for level in report["levels"]] == [True] * 4


@pytest.mark.parametrize("args", [["--loss", "150%"], ["--outage", "two hours"]])
def test_fleet_refuses_bad_arguments(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fleet", *args])
    assert exit_info.value.code == 2


def _wait_for(stream: IO[bytes], pattern: re.Pattern[bytes], limit_s: float) -> bytes:
    """Read ``stream`` until ``pattern`` shows up (``limit_s`` only guards against a hang)."""
    seen = b""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 1.0)
        if not ready:
            continue
        chunk = os.read(stream.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
        if pattern.search(seen):
            return seen
    raise AssertionError(f"no progress line matching {pattern.pattern!r}: {seen[-300:]!r}")


def test_a_killed_fleet_run_resumes_on_its_store_and_loses_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "killed.sqlite"
    args = [
        "fleet",
        "--meters",
        "12",
        "--hours",
        "4",
        "--loss",
        "1%",
        "--outage",
        "1h",
        "--areas",
        "3",
        "--five-min-share",
        "25%",
        "--realtime-share",
        "10%",
        "--seed",
        "5",
        "--db",
        str(db),
        "--chart",
        "",
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    process = subprocess.Popen(
        [sys.executable, "-m", "smartmeter_proto", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stderr is not None
        # the progress line comes after a commit; the kill point is chosen by progress in
        # simulated time (past the outage), never by wall time
        _wait_for(process.stderr, re.compile(rb"simulated +2\.[5-9]\d h"), 240)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    killed = Store(db)
    committed = killed.state()["runner:clock"] - stored_plan(killed).t0
    killed.close()
    assert committed >= 2.5 * 3600  # what the killed run had committed is where it resumes

    code = main(["fleet", "--resume", "--db", str(db), "--chart", "", "--json", "--check"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert all(level["ok"] for level in report["levels"])
    assert report["lost_30min"] == report["lost_5min"] == 0

    # value for value what the meters measured: the same plan run off the network
    store = Store(db)
    plan = stored_plan(store)
    fleet = Fleet(plan, client_system_title=HEADEND_TITLE)
    fleet.fast_forward(plan.end + 3600)
    truth = fleet.measured(plan.t0, plan.end)
    stored = {k: v for k, v in store.readings().items() if plan.t0 < k[2] <= plan.end}
    assert stored == truth  # nothing lost, nothing extra (a copy would be a second key)
    (rows,) = store.db.execute("SELECT count(*) FROM readings").fetchone()
    (distinct,) = store.db.execute(
        "SELECT count(*) FROM (SELECT DISTINCT system_title, period, period_end FROM readings)"
    ).fetchone()
    assert rows == distinct
    assert store.drops().get("replayed", 0) == 0  # the resumed meters' pushes were fresh
    store.close()


def test_resume_without_a_store_is_one_error_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["fleet", "--resume", "--db", str(tmp_path / "none.sqlite")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: nothing to resume")
    assert len(err.splitlines()) == 1
