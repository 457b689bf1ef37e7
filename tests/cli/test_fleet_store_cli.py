"""``fleet --store``: the Parquet store from the command line, and its bad values (one
``error:`` line, exit 2, nothing written)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from smartmeter_proto.cli import main

#: Only guards against a hang; no outcome depends on it.
HANG_GUARD_S = 120.0
#: Runs the CLI with some modules unimportable, as on an install without an extra.
_BLOCK_AND_RUN = (
    "import sys; [sys.modules.__setitem__(m, None) for m in sys.argv[1].split(',')]; "
    "from smartmeter_proto.cli import main; sys.exit(main(sys.argv[2:]))"
)
_RUN = [
    "fleet",
    "--meters",
    "12",
    "--hours",
    "2",
    "--loss",
    "2%",
    "--chart",
    "",
    "--json",
    "--workers",
    "0",
]


def test_parquet_and_sqlite_runs_report_the_same_levels(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ds = pytest.importorskip("pyarrow.dataset")
    from smartmeter_proto.hes.parquet_store import STATE_FILE

    store = tmp_path / "store"
    assert main([*_RUN, "--store", f"parquet:{store}"]) == 0
    parquet = json.loads(capsys.readouterr().out)
    assert main([*_RUN, "--store", f"sqlite:{tmp_path / 'f.sqlite'}"]) == 0
    sqlite = json.loads(capsys.readouterr().out)
    for report in (parquet, sqlite):
        del report["wall_seconds"]
    assert parquet == sqlite
    assert parquet["meters"] == 12
    table = ds.dataset(store / "readings", partitioning="hive").to_table()
    assert table.num_rows >= 12 * 4
    assert {"date", "hour"} <= set(table.schema.names)
    assert (store / STATE_FILE).is_file()
    # a second run replaces the store kept there, and leaves the rest of the folder alone
    (store / "notes.txt").write_text("mine")
    assert main([*_RUN, "--store", f"parquet:{store}"]) == 0
    capsys.readouterr()
    assert ds.dataset(store / "readings", partitioning="hive").count_rows() == table.num_rows
    assert (store / "notes.txt").read_text() == "mine"


def test_a_parquet_run_resumes_from_its_folder(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("pyarrow")
    store = tmp_path / "store"
    assert main([*_RUN, "--store", f"parquet:{store}"]) == 0
    first = json.loads(capsys.readouterr().out)
    # resuming a finished run has nothing left to do and reports the same levels
    assert (
        main(
            [
                "fleet",
                "--resume",
                "--store",
                f"parquet:{store}",
                "--chart",
                "",
                "--json",
                "--workers",
                "0",
            ]
        )
        == 0
    )
    again = json.loads(capsys.readouterr().out)
    assert again["levels"] == first["levels"]


def _run(
    argv: list[str], cwd: Path, blocked: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    command = (
        [sys.executable, "-c", _BLOCK_AND_RUN, ",".join(blocked), *argv]
        if blocked
        else [sys.executable, "-m", "smartmeter_proto", *argv]
    )
    return subprocess.run(
        command,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        check=False,
    )


@pytest.mark.parametrize(
    ("store", "says", "blocked", "code"),
    [
        ("mysql:fleet", "unknown store", (), 2),
        ("fleet.sqlite", "unknown store", (), 2),
        ("parquet:", "needs a folder", (), 2),
        ("parquet:a-file", "is a file, not a folder", (), 2),
        ("parquet:no/such/parent", "no folder", (), 2),
        ("sqlite:no/such/x.sqlite", "no folder", (), 2),
        ("parquet:out", "hes", ("pyarrow",), 1),  # a missing extra is exit 1, as everywhere
    ],
    ids=["scheme", "no-scheme", "no-dir", "file", "no-parent", "sqlite-no-parent", "no-pyarrow"],
)
def test_a_bad_store_is_one_error_line_and_the_documented_exit(
    tmp_path: Path,
    store: str,
    says: str,
    blocked: tuple[str, ...],
    code: int,
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    done = _run(
        ["fleet", "--meters", "2", "--hours", "1", "--chart", "", "--store", store],
        tmp_path,
        blocked,
    )
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert says in lines[0]
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == code
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # nothing written


def test_db_and_store_together_is_one_error_line(tmp_path: Path) -> None:
    done = _run(["fleet", "--db", "x.sqlite", "--store", "parquet:out", "--chart", ""], tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: give --db or --store, not both")
    assert len(done.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
