"""ECHONET Lite interop with pychonet (PyPI) and echonet-lite (npm), run in-process.

The checks live in interop/echonet_pychonet.py and interop/echonet_npm.py (see
interop/README.md); these tests load them and fail on any disagreement. They
skip, saying why, when pychonet is not importable or when node or the pinned
npm package is missing (interop/run_echonet.sh installs both under
interop/.work/). The live tests bind UDP 3610 on 127.36.10.10-13 only.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

INTEROP = Path(__file__).resolve().parents[2] / "interop"


def _load(name: str) -> ModuleType:
    """Import interop/<name>.py once, under its own name (echonet_npm imports echonet_pychonet)."""
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
def pychonet_checks() -> ModuleType:
    pytest.importorskip(
        "pychonet", reason="pychonet is not installed (pip install pychonet==2.8.2)"
    )
    return _load("echonet_pychonet")


@pytest.fixture(scope="module")
def npm_checks() -> ModuleType:
    module = _load("echonet_npm")
    if module.installed_version() is None:
        pytest.skip(
            f"node or echonet-lite@{module.pinned_version()} missing under {module.npm_dir()}: "
            "run interop/run_echonet.sh once to install it"
        )
    return module


def _assert_ok(report: object) -> None:
    assert getattr(report, "ok", False), getattr(report, "render")()


def test_pychonet_decoders_and_builder_agree(pychonet_checks: ModuleType) -> None:
    report = pychonet_checks.Report("pychonet codec")
    pychonet_checks.check_decoders(report, pychonet_checks.build_corpus())
    pychonet_checks.check_decoders(report, pychonet_checks.random_corpus(), typed=False)
    pychonet_checks.check_builder(report)
    _assert_ok(report)


@pytest.mark.e2e
def test_pychonet_client_reads_simulated_meter(pychonet_checks: ModuleType) -> None:
    report = pychonet_checks.Report("pychonet live")
    asyncio.run(pychonet_checks.check_live(report))
    _assert_ok(report)
    assert "pychonet discover(host) succeeds" in report.passed


def test_npm_parser_and_builders_agree(npm_checks: ModuleType) -> None:
    report = npm_checks.Report("echonet-lite codec")
    npm_checks.check_decoders(report, npm_checks.build_corpus() + npm_checks.random_corpus())
    npm_checks.check_builders(report)
    _assert_ok(report)


@pytest.mark.e2e
def test_npm_client_reads_simulated_meter(npm_checks: ModuleType) -> None:
    report = npm_checks.Report("echonet-lite live")
    asyncio.run(npm_checks.check_client(report))
    _assert_ok(report)
    assert "EL crawl finished" in report.passed
