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


@pytest.fixture(scope="module")
def class_checks(pychonet_checks: ModuleType) -> ModuleType:
    sys.path.insert(0, str(INTEROP))  # echonet_classes imports echonet_pychonet by name
    return _load("echonet_classes")


def test_pychonet_types_device_classes_like_us(class_checks: ModuleType) -> None:
    report = class_checks.Report("pychonet device classes")
    by_class = class_checks.check_codec(report)
    _assert_ok(report)
    assert set(by_class) >= {0x027D, 0x0279}, "the storage battery and PV classes were compared"
    assert set(by_class) == {c for c in class_checks.CLASSES if class_checks.specified(c)}
    assert any(text.startswith("codec 0x027D 0xD3") for text in report.passed)


@pytest.mark.e2e
def test_pychonet_client_reads_device_classes(class_checks: ModuleType) -> None:
    report = class_checks.Report("pychonet device classes live")
    asyncio.run(class_checks.check_live(report, class_checks.check_codec(report)))
    _assert_ok(report)
    assert "live pychonet discover(host)" in report.passed
    assert any(text.startswith("live 0x0279 0xE0") for text in report.passed)


@pytest.fixture(scope="module")
def npm_class_checks(npm_checks: ModuleType) -> ModuleType:
    sys.path.insert(0, str(INTEROP))  # echonet_classes_npm imports echonet_npm by name
    return _load("echonet_classes_npm")


def test_npm_parses_device_class_frames_like_us(npm_class_checks: ModuleType) -> None:
    report = npm_class_checks.Report("echonet-lite device classes codec")
    npm_class_checks.check_decode(report)
    _assert_ok(report)
    for class_id in npm_class_checks.CLASSES:
        assert any(text.startswith(f"class 0x{class_id:04X} ") for text in report.passed)
    assert not report.excluded
