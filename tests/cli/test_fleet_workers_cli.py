"""``smartmeter-proto fleet --workers``: bad values refused before work starts, ^C ends
every worker (exit 130, no traceback, no process left behind)."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: Only guards against a hang; no outcome depends on it.
HANG_GUARD_S = 240.0
_ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}


def _cli(*argv: str, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "smartmeter_proto", *argv],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_ENV,
        # Our ^C: the default SIGINT disposition, whatever this process inherited (a shell
        # running in the background starts its children with SIGINT ignored).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_a_bad_worker_count_is_one_error_line(tmp_path: Path, value: str) -> None:
    process = _cli("fleet", "--workers", value, cwd=tmp_path)
    _, err = process.communicate(timeout=HANG_GUARD_S)
    assert process.returncode == 2
    lines = err.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "--workers" in lines[0]
    assert not list(tmp_path.iterdir())  # checked before any work (no store written)


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def test_ctrl_c_ends_the_run_and_its_workers(tmp_path: Path) -> None:
    process = _cli(
        "fleet", "--meters", "400", "--hours", "24", "--workers", "2", "--chart", "", cwd=tmp_path
    )
    assert process.stderr is not None
    seen = b""
    deadline = time.monotonic() + HANG_GUARD_S
    while not re.search(rb"simulated +\d+\.\d+ h", seen) and time.monotonic() < deadline:
        if select.select([process.stderr], [], [], 1.0)[0]:
            chunk = os.read(process.stderr.fileno(), 4096)
            if not chunk:  # end of file: the run ended before its first progress line
                break
            seen += chunk
    workers = _children(process.pid)
    # On failure, what the run said and how it ended: the one line that explains it.
    assert workers, f"no worker processes; exit {process.poll()}, stderr {seen[-2000:]!r}"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=HANG_GUARD_S)
    assert process.returncode == 130
    assert b"Traceback" not in seen + err
    # Every child ends: the workers are joined before the exit; multiprocessing's resource
    # tracker ends on its own once the parent is gone, so it may need a moment on a busy
    # machine. The loop only waits for that; the guard only bounds a hang.
    give_up = time.monotonic() + HANG_GUARD_S
    while any(_running(pid) for pid in workers) and time.monotonic() < give_up:
        time.sleep(0.05)
    assert not [pid for pid in workers if _running(pid)]


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (ended, waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
