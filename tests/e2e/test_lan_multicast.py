"""ECHONET Lite multicast between network namespaces: our client, our meter and npm echonet-lite.

Runs ``interop/echonet_lan.py`` (namespaces on 10.231.0.0/24 joined by a bridge, removed
on every exit path). Skipped with the reason when not root, or when ``ip``, ``node`` or the
pinned echonet-lite package (``interop/run_echonet.sh`` installs it) is missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parents[2] / "interop" / "echonet_lan.py"
#: The script's own exit code for "cannot run here".
EXIT_SKIP = 77


def test_client_discovers_our_meter_and_echonet_lite_by_multicast_and_passes_conformance() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=180, check=False
    )
    if done.returncode == EXIT_SKIP:
        pytest.skip(done.stdout.strip())
    assert done.returncode == 0, done.stdout + done.stderr
    start, end = done.stdout.index("{"), done.stdout.rindex("}") + 1
    result = json.loads(done.stdout[start:end])
    meter, el_node = "10.231.0.2", "10.231.0.3"
    # Both devices announced themselves through the group and were learnt from it.
    assert "0xD5" in result["infs"][meter]
    assert "0xD5" in result["infs"][el_node]
    assert result["learnt"] == {meter: ["028801"], el_node: ["013001"]}
    # A multicast Get of 0xD6 found both.
    assert result["discovered"] == {meter: ["028801"], el_node: ["013001"]}
    # The conformance run passed against our meter, its status INF included.
    assert result["conformance_ok"]
    assert "PASS" in result["status_inf"]
    assert result["hems_joined"] == ["10.231.0.1"]
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    left = {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    assert result["namespaces"]
    assert not left & set(result["namespaces"])  # this run's namespaces are gone
