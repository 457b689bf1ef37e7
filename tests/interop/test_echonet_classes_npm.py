"""The npm package echonet-lite (EL.js) reads the real ``smartmeter-proto simulate device`` node.

The checks live in interop/echonet_classes_npm.py (its Node side is
interop/echonet_classes_npm_client.js). The live tests start the CLI on
127.36.10.16 and EL on 127.36.10.17, our client on 127.36.10.18 (UDP 3610, loopback
only). They skip, saying why, when node or the pinned npm package is missing
(interop/run_echonet.sh installs it under interop/.work/npm).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from smartmeter_proto.echonet import frame as el_frame
from smartmeter_proto.echonet.frame import EOJ, ESV, Frame, Property
from smartmeter_proto.echonet.node import NODE_PROFILE
from smartmeter_proto.echonet.properties import PropertyValue, typed_property
from smartmeter_proto.echonet.session import CONTROLLER
from smartmeter_proto.sim.device import device_node, instances

ROOT = Path(__file__).resolve().parents[2]
INTEROP = ROOT / "interop"
#: Guards against a hang only: the script's own run takes a few seconds.
SCRIPT_GUARD_S = 180.0


def _load(name: str) -> ModuleType:
    """Import interop/<name>.py once, under its own name (the scripts import each other)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, INTEROP / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def checks() -> ModuleType:
    if str(INTEROP) not in sys.path:
        sys.path.insert(0, str(INTEROP))  # the scripts import each other by name
    npm = _load("echonet_npm")
    if npm.installed_version() is None:
        pytest.skip(
            f"node or echonet-lite@{npm.pinned_version()} missing under {npm.npm_dir()}: "
            "run interop/run_echonet.sh once to install it"
        )
    return _load("echonet_classes_npm")


# ------------------------------------------------------------------ comparisons
def _ours(checks: ModuleType, eoj: EOJ) -> dict[int, PropertyValue]:
    """What our client would read from ``eoj`` of the node under test (simulation time 0)."""
    found = device_node(checks.CLASSES).objects[eoj]
    now = 0.0
    getmap = typed_property(eoj.class_id, 0x9F, found.read(0x9F, now) or b"").value
    return {epc: typed_property(eoj.class_id, epc, found.read(epc, now) or b"") for epc in getmap}


def _read(eoj: EOJ, ours: dict[int, PropertyValue], changed: dict[int, bytes]) -> dict[str, Any]:
    """An addressed read as the Node client prints it, its answer carrying ``changed`` EDTs;
    ``parsed`` is what EL.parseBytes makes of that answer."""
    props = tuple(Property(epc, changed.get(epc, v.edt)) for epc, v in ours.items())
    data = el_frame.encode(Frame(0x0010, eoj, CONTROLLER, ESV.GET_RES, props))
    npm = _load("echonet_npm")
    [parsed] = npm.run_helper("decode", json.dumps([{"name": "read", "hex": data.hex()}]))
    return {
        "eoj": str(eoj).lower(),
        "asked": [f"{epc:02x}" for epc in ours],
        "tid": "0010",
        "hex": data.hex(),
        "parsed": parsed["parsed"],
    }


def test_same_bytes_pass_and_untyped_values_are_counted_apart(checks: ModuleType) -> None:
    eoj = EOJ(0x02, 0x79, 0x01)
    ours = _ours(checks, eoj)
    report = checks.Report("comparison")
    checks.compare_read(report, eoj, _read(eoj, ours, {}), ours)
    assert report.ok, report.render()
    assert "live 027901 0xE0 EDT bytes EL received" in report.passed
    assert "live 027901 0x9F map as EL decodes it" in report.passed
    untyped = len(set(ours) - {0x9D, 0x9E, 0x9F})  # EL types the three maps only
    assert report.excluded == [(f"live 027901 typed values of {untyped} EPCs", checks.EL_KEEPS_HEX)]


def test_a_different_edt_is_a_failure(checks: ModuleType) -> None:
    eoj = EOJ(0x02, 0x79, 0x01)
    ours = _ours(checks, eoj)
    wrong = bytes(b ^ 0x01 for b in ours[0xE0].edt)
    report = checks.Report("comparison")
    checks.compare_read(report, eoj, _read(eoj, ours, {0xE0: wrong}), ours)
    assert not report.ok
    assert any(f.startswith("live 027901 0xE0 EDT bytes EL received") for f in report.failures)


def test_a_calendar_value_read_apart_is_typed_not_failed(checks: ModuleType) -> None:
    eoj = EOJ(0x01, 0x30, 0x01)
    ours = _ours(checks, eoj)
    hour, minute = ours[0x97].edt  # 0x97 current time setting: hour, minute (APPENDIX)
    later = bytes([hour, (minute + 1) % 60])
    report = checks.Report("comparison")
    checks.compare_edt(report, "live 013001 0x97", eoj, 0x97, later.hex(), ours[0x97].edt.hex())
    assert report.ok, report.render()
    assert [why for _, why in report.excluded] == [checks.CALENDAR_APART]
    invalid = checks.Report("comparison")
    checks.compare_edt(invalid, "live 013001 0x97", eoj, 0x97, "ff00", ours[0x97].edt.hex())
    assert not invalid.ok  # 255:00 is no time of day: a failure, not an exclusion
    assert not invalid.excluded


# ------------------------------------------------------------------------- live
def _excluded_by_reason(report: Any) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for what, why in report.excluded:
        found.setdefault(why, set()).add(what)
    return found


@pytest.mark.e2e
def test_el_discovers_and_reads_the_cli_device_node(checks: ModuleType) -> None:
    report = checks.Report("echonet-lite device classes live")
    asyncio.run(checks.check_live(report))
    assert report.ok, report.render()
    passed = set(report.passed)
    assert {
        "live CLI node started (simulate device)",
        "live CLI node exit status after ^C",
        "live CLI node stderr",
        "EL discovered and read every object",
        "EL discovered every object (0xD6)",
        "EL identification numbers (0x83) of every object",
        "EL client exit status",
    } <= passed
    objects = [NODE_PROFILE, *instances(checks.CLASSES)]
    for eoj in objects:
        assert f"live {eoj} 0x80 EDT bytes EL received" in passed
        assert f"live {eoj} 0x9F map as EL decodes it" in passed
        assert f"live {eoj} EL's crawl read every EPC of its 0x9F" in passed
    assert "live 027901 0xE0 EDT in EL.facilities" in passed
    # Peer bugs and what EL does not decode are named and counted apart, never passed.
    apart = _excluded_by_reason(report)
    assert set(apart) <= {
        checks.EL_SKIPS_D6,
        checks.EL_KEEPS_HEX,
        checks.EL_REPEATS_IDS,
        checks.CALENDAR_APART,
    }
    assert apart[checks.EL_SKIPS_D6] == {"live 026B01 0xD6 (in 0x9F)", "live 027D01 0xD6 (in 0x9F)"}
    assert {what.split(" typed values")[0] for what in apart[checks.EL_KEEPS_HEX]} == {
        f"live {eoj}" for eoj in objects
    }


@pytest.mark.e2e
def test_the_script_runs_as_ci_runs_it(checks: ModuleType) -> None:
    npm = _load("echonet_npm")
    source = str(ROOT / "src")
    path = os.environ.get("PYTHONPATH")
    env = {
        **os.environ,
        "ECHONET_NPM_DIR": str(npm.npm_dir()),
        "PYTHONPATH": source + (os.pathsep + path if path else ""),
    }
    done = subprocess.run(
        [sys.executable, str(INTEROP / "echonet_classes_npm.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=SCRIPT_GUARD_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    summary = done.stdout.splitlines()[0]
    assert re.match(
        r"== echonet-lite \S+ \(pinned \S+\) device classes: \d+ checks passed, 0 failed", summary
    ), summary
    assert "excluded live 026B01 0xD6 (in 0x9F)" in done.stdout
