"""Interop: pychonet (PyPI) against our typed values for home-device classes.

Classes: home air conditioner 0x0130, electric water heater 0x026B, storage
battery 0x027D, household PV 0x0279, general lighting 0x0290 and
mono-function lighting 0x0291 (ECHONET Lite Appendix Release R, MRA v1.3.1,
specs/echonet/). A class is checked once its file is in specs/echonet.

1. Codec: for every EPC that both pychonet's class table (``EPC_FUNCTIONS``)
   and our class file type, EDTs valid for our type (several integers, every
   listed enum code) are decoded by both and compared: numbers must be equal
   (or pychonet gives the raw count where ours scales by 10^-decimals); for an
   enum both must name the code (each in its own words); where pychonet does
   not know a code our file lists, the case is excluded, naming pychonet's
   table. Structures (dates, times, arrays) are not compared here.
2. Live: the real CLI, ``smartmeter-proto simulate device --class 0x0130 ...
   --bind 127.36.10.14`` in a subprocess, hosts one object of each class on
   loopback; pychonet's client discovers it, reads its property maps and
   ``update()``s every EPC of the Get map that its class table types; our
   ``EchonetClient`` reads the object's 0x82 (so its session decodes by the
   release the object reports) and the same EPCs. Both must have read the same
   EDTs (calendar values may move a minute between reads: those compare on
   pychonet's EDT), and pychonet's values must match ours as in 1; structured
   values are compared by their EDTs only and counted apart.

Run: ``python interop/echonet_classes.py`` (exit 1 on any disagreement).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from echonet_pychonet import (
    ECHONET_PORT,
    Report,
    installed_version,
    report_main,
)

import smartmeter_proto
from smartmeter_proto.echonet.frame import EOJ
from smartmeter_proto.echonet.properties import PropertyValue, decode_property, typed_property
from smartmeter_proto.echonet.specs import STANDARD_VERSION, load_class, specs_dir
from smartmeter_proto.errors import DecodeError
from smartmeter_proto.transport.udp import EchonetClient

#: Loopback plan (127.0.0.0/8 only, UDP 3610): the CLI device node, pychonet, our client.
DEVICE_HOST: Final = "127.36.10.14"
PYCHONET_HOST: Final = "127.36.10.15"
OURS_HOST: Final = "127.36.10.13"
#: Guards against a hang only (no outcome depends on them): CLI start-up and shutdown,
#: and the CLI's own --duration should this script die without stopping it.
CLI_START_S: Final = 30.0
CLI_GUARD_S: Final = 600
#: The CLI's exit status after ^C (smartmeter_proto.cli: 130).
CLI_INTERRUPTED: Final = 130
_PAIR: Final = 2
#: Flags pychonet writes in words: (class, EPC) -> {our value: pychonet's word}.
_THEIR_FIELD_WORDS: Final[dict[tuple[int, int], dict[bool, str]]] = {
    # 0x026B 0xC2 alarm status: a clear bit is "no alarm" (MRA 026B: true = "No Alarm");
    # pychonet's ElectricWaterHeater writes "Normal", and "Alarm" for a set bit.
    (0x026B, 0xC2): {True: "Normal", False: "Alarm"},
}
#: Kinds whose simulated values follow the node's (wall) clock.
_CALENDAR: Final = frozenset({"date", "time", "time_hms", "datetime", "datetime_hm"})
#: Class -> (pychonet module, class name) holding its EPC_FUNCTIONS.
CLASSES: Final = {
    0x0130: ("HomeAirConditioner", "HomeAirConditioner"),
    0x026B: ("ElectricWaterHeater", "ElectricWaterHeater"),
    0x027D: ("StorageBattery", "StorageBattery"),
    0x0279: ("HomeSolarPower", "HomeSolarPower"),
    0x0290: ("GeneralLighting", "GeneralLighting"),
    0x0291: ("SingleFunctionLighting", "SingleFunctionLighting"),
}
_NUMBERS: Final = (int, float, Decimal)
_INTEGER_KINDS: Final = frozenset({"unsigned", "signed"})
_SAMPLE_INTS: Final = (0, 1, 2, 20, 25, 48, 100, 255, 1000, 65533, 3_000_000, -1, -5, -3000)
#: Numbers pychonet renders as text: (class, EPC) -> our value in pychonet's words.
_THEIR_WORDS: Final[dict[tuple[int, int], Callable[[Any], Any]]] = {
    # 0x026B 0xC8 standard time to start heating: an hour, 1 or 20-24 (MRA 026B);
    # pychonet's EPC_FUNCTIONS[0xC8] names it "HH:00"
    (0x026B, 0xC8): lambda hour: f"{hour:02d}:00",
}


@dataclass(frozen=True)
class Sample:
    class_id: int
    epc: int
    edt: bytes
    ours: Any


def their_class(class_id: int) -> Any:
    module, name = CLASSES[class_id]
    return getattr(importlib.import_module(f"pychonet.{module}"), name)


def specified(class_id: int) -> bool:
    """Whether specs/echonet has this class's own file."""
    return load_class(class_id) is not None


def samples(class_id: int, epc: int) -> list[Sample]:
    """EDTs valid for our type of ``epc``: integers in range, every enum code."""
    spec = load_class(class_id)
    prop = None if spec is None else spec.properties.get(epc)
    if prop is None or prop.data_type.size is None:
        return []
    dtype = prop.data_type
    size = dtype.size
    assert size is not None
    raws: list[bytes] = []
    if dtype.kind in _INTEGER_KINDS:
        signed = dtype.kind == "signed"
        for value in _SAMPLE_INTS:
            try:
                raws.append(value.to_bytes(size, "big", signed=signed))
            except OverflowError:
                continue
    elif dtype.kind == "enum":
        raws = [code.to_bytes(size, "big") for code in range(min(256, 1 << 8 * size))]
    found = []
    for edt in dict.fromkeys(raws):
        try:
            value = decode_property(class_id, epc, edt).value
        except DecodeError:
            continue
        if value is None or (dtype.kind == "enum" and isinstance(value, int)):
            continue  # "no data" codes, codes our file does not list
        if dtype.kind in _INTEGER_KINDS and not dtype.in_range(value):
            continue
        found.append(Sample(class_id, epc, edt, value))
    return found


def compare(report: Report, where: str, sample: Sample, theirs: Any, table: str) -> None:
    """One value: ours (``sample.ours``) against pychonet's ``theirs``."""
    ours, edt = sample.ours, sample.edt
    what = f"{where} 0x{sample.class_id:04X} 0x{sample.epc:02X} {edt.hex()}"
    spec = load_class(sample.class_id)
    assert spec is not None
    dtype = spec.properties[sample.epc].data_type
    words = _THEIR_WORDS.get((sample.class_id, sample.epc))
    if words is not None:
        report.equal(f"{what} (pychonet's words)", words(ours), theirs)
    elif isinstance(ours, _NUMBERS) and not isinstance(ours, bool):
        if isinstance(theirs, _NUMBERS) and Decimal(str(theirs)) == Decimal(str(ours)):
            report.check(True, what)
            return
        raw = int.from_bytes(edt, "big", signed=dtype.kind == "signed")
        if dtype.decimals and theirs == raw:
            report.check(True, f"{what} (pychonet's raw count, ours scaled 10^-{dtype.decimals})")
            return
        report.equal(what, ours, theirs)
    elif dtype.kind == "enum":
        code = int.from_bytes(edt, "big")
        if isinstance(theirs, str):
            report.check(True, f"{what} code 0x{code:02X}: ours {ours!r}, pychonet {theirs!r}")
        elif theirs == code:
            report.exclude(
                what,
                f"{table} does not list code 0x{code:02X} (ours: {ours!r}); "
                "pychonet returns the bare integer",
            )
        else:
            report.equal(what, ours, theirs)


def check_codec(report: Report) -> dict[int, list[Sample]]:
    """Both typed decoders over the samples of every EPC both type; the samples by class."""
    from pychonet.EchonetInstance import call_epc_function

    by_class: dict[int, list[Sample]] = {}
    for class_id in CLASSES:
        if not specified(class_id):
            report.exclude(f"class 0x{class_id:04X}", "no file in specs/echonet yet: not compared")
            continue
        functions = their_class(class_id).EPC_FUNCTIONS
        table = f"pychonet.{CLASSES[class_id][1]}.EPC_FUNCTIONS"
        found: list[Sample] = []
        for epc in sorted(functions):
            for sample in samples(class_id, epc):
                found.append(sample)
                theirs = call_epc_function(functions[epc], sample.edt)
                compare(report, "codec", sample, theirs, f"{table}[0x{epc:02X}]")
        by_class[class_id] = found
    return by_class


# -------------------------------------------------------------- live session
def cli_command() -> list[str]:
    """``smartmeter-proto simulate device`` hosting one object of each class on DEVICE_HOST."""
    classes = [arg for class_id in CLASSES for arg in ("--class", f"0x{class_id:04X}")]
    return [
        sys.executable, "-m", "smartmeter_proto", "simulate", "device", *classes,
        "--bind", DEVICE_HOST, "--no-multicast", "--duration", str(CLI_GUARD_S),
    ]  # fmt: skip


def cli_env() -> dict[str, str]:
    """The environment of the CLI: this interpreter's ``smartmeter_proto`` first on the path."""
    source = str(Path(smartmeter_proto.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": source + (os.pathsep + path if path else "")}


def _default_sigint() -> None:
    """In the CLI's process before exec: ^C raises KeyboardInterrupt even if this script's
    parent ignores SIGINT (a background job of a non-interactive shell)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def stop(cli: asyncio.subprocess.Process) -> bytes:
    """Stop the CLI as a user does (^C) and return its stderr; kill it if it hangs."""
    if cli.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            cli.send_signal(signal.SIGINT)
    try:
        _, stderr = await asyncio.wait_for(cli.communicate(), CLI_START_S)
    except TimeoutError:
        cli.kill()
        _, stderr = await cli.communicate()
    return stderr


async def check_live(report: Report, by_class: dict[int, list[Sample]]) -> None:
    """pychonet's client and ours read the CLI node's objects over loopback UDP."""
    from pychonet import ECHONETAPIClient
    from pychonet.lib.udpserver import UDPServer

    if not by_class:
        report.exclude("live", "no class of the list is in specs/echonet yet")
        return
    cli = await asyncio.create_subprocess_exec(
        *cli_command(), env=cli_env(), preexec_fn=_default_sigint,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert cli.stdout is not None
    assert cli.stderr is not None
    server = UDPServer(local_ip=PYCHONET_HOST)
    try:
        line = await asyncio.wait_for(cli.stdout.readline(), CLI_START_S)
        if not report.check(
            f"listening on {DEVICE_HOST}:{ECHONET_PORT}" in line.decode(),
            "live CLI node started (simulate device)",
            line.decode(),
        ):
            return
        server.run(PYCHONET_HOST, ECHONET_PORT, asyncio.get_running_loop())
        api = ECHONETAPIClient(server)
        api.configure(logger=lambda *a: None, message_timeout=50)
        async with EchonetClient.udp(local=(OURS_HOST, ECHONET_PORT), timeout=2.0) as ours:
            await _read_both(report, api, ours, by_class)
    finally:
        server.close()
        stderr = await stop(cli)
    report.equal("live CLI node exit status after ^C", cli.returncode, CLI_INTERRUPTED)
    report.equal("live CLI node stderr", stderr.decode(), "")


async def _read_both(
    report: Report, api: Any, ours: EchonetClient, by_class: dict[int, list[Sample]]
) -> None:
    host = DEVICE_HOST
    report.check(await api.discover(host) is True, "live pychonet discover(host)")
    instances = api.state.get(host, {}).get("instances", {})
    for class_id in by_class:
        group, code = class_id >> 8, class_id & 0xFF
        eoj = EOJ(group, code, 0x01)
        name = f"live 0x{class_id:04X}"
        if not report.check(
            1 in instances.get(group, {}).get(code, {}),
            f"{name} listed by pychonet from 0xD6",
            f"instances: {instances}",
        ):
            continue
        report.check(
            await api.getAllPropertyMaps(host, group, code, 0x01) is True,
            f"{name} getAllPropertyMaps",
        )
        device = their_class(class_id)(host, api)
        functions = their_class(class_id).EPC_FUNCTIONS
        wanted = sorted(e for e in device.getGetProperties() if e in functions)
        # Ours first reads 0x82: its session then decodes by the release the object reports.
        version = await ours.get((host, ECHONET_PORT), eoj, [STANDARD_VERSION])
        report.check(version.ok, f"{name} our client reads 0x82")
        typed = await device.update(wanted)
        if len(wanted) == 1 and not isinstance(typed, dict):
            typed = {wanted[0]: typed}  # pychonet's update() unwraps a single EPC
        if not report.check(
            isinstance(typed, dict) and set(typed) == set(wanted),
            f"{name} pychonet update() of {len(wanted)} EPCs answers all",
            f"got {typed!r}",
        ):
            continue
        assert isinstance(typed, dict)
        done = await ours.get((host, ECHONET_PORT), eoj, wanted)
        report.check(done.ok, f"{name} our client reads the same {len(wanted)} EPCs")
        raw = api._state[host]["instances"][group][code][0x01]  # pychonet keeps the EDTs here
        table = f"pychonet.{CLASSES[class_id][1]}.EPC_FUNCTIONS"
        for epc in wanted:
            compare_live(report, class_id, epc, done.values.get(epc), raw.get(epc), typed[epc],
                         f"{table}[0x{epc:02X}]")  # fmt: skip


def _has_level(class_id: int, epc: int) -> bool:
    """Whether the class file types ``epc`` as a level (or a choice holding one)."""
    path = specs_dir() / "mra" / f"{class_id:04X}.json"
    entry = json.loads(path.read_text("utf-8"))["properties"].get(f"0x{epc:02X}", {})
    return '"kind": "level"' in json.dumps(entry.get("type", {}))


def compare_live(
    report: Report,
    class_id: int,
    epc: int,
    value: PropertyValue | None,
    their_edt: bytes | None,
    theirs: Any,
    table: str,
) -> None:
    """One EPC read by both clients: the EDTs, then pychonet's value against ours."""
    what = f"live 0x{class_id:04X} 0x{epc:02X}"
    if not report.check(value is not None, what, "our client got no value"):
        return
    assert value is not None
    spec = load_class(class_id)
    assert spec is not None
    dtype = spec.properties[epc].data_type
    if value.edt != their_edt and dtype.kind in _CALENDAR:
        # The CLI node's clock is the wall clock: a minute may turn between the two reads.
        value = typed_property(class_id, epc, their_edt or b"")
        report.exclude(f"{what} EDT", "calendar value read a moment apart: both decode theirs")
    else:
        report.equal(f"{what} EDT (both clients)", value.edt.hex(), (their_edt or b"").hex())
    if value.error is not None:
        report.check(False, what, f"ours: {value.error}")
        return
    sample = Sample(class_id, epc, value.edt, value.value)
    ours = value.value
    if isinstance(ours, int) and isinstance(theirs, str) and _has_level(class_id, epc):
        # A level (APPENDIX: code 0x31 = level 1) both name, each in its own words.
        report.check(True, f"{what} level {ours}: pychonet {theirs!r}")
    elif isinstance(ours, _NUMBERS) or dtype.kind == "enum":
        compare(report, "live", sample, theirs, table)
    elif ours == theirs:
        report.check(True, f"{what} {dtype.kind} value")
    elif isinstance(ours, dt.time) and isinstance(theirs, str):
        # pychonet writes the hour unpadded ("0:07", "9:30"), the minute padded.
        report.equal(f"{what} time (pychonet's H:MM)", f"{ours.hour}:{ours.minute:02d}", theirs)
    elif isinstance(ours, dict) and isinstance(theirs, str) and len(ours) == _PAIR:
        # A minimum/maximum pair, which pychonet writes "min/max".
        report.equal(f"{what} pair (pychonet's a/b)", "/".join(f"{v:g}" for v in ours.values()),
                     theirs)  # fmt: skip
    elif isinstance(ours, dict) and isinstance(theirs, dict) and len(ours) == len(theirs):
        # Fields in the APPENDIX order; pychonet names them otherwise (10:00 for at1000).
        words = _THEIR_FIELD_WORDS.get((class_id, epc), {})
        mine = [words.get(v, v) if isinstance(v, bool) else v for v in ours.values()]
        report.equal(f"{what} fields in order", mine, list(theirs.values()))
    else:
        report.exclude(
            f"{what} value",
            f"{dtype.kind} value (ours {value.value!r}, pychonet {theirs!r}) is not compared "
            "field by field; the EDTs are",
        )


async def run_all(*, live: bool = True) -> Report:
    report = Report(f"pychonet {installed_version()} device classes")
    by_class = check_codec(report)
    if live:
        await check_live(report, by_class)
    return report


def main(argv: list[str] | None = None) -> int:
    return report_main(
        argv,
        doc=__doc__,
        installed=installed_version,
        missing="pychonet is not installed: run interop/run_echonet.sh",
        run_all=run_all,
    )


if __name__ == "__main__":
    sys.exit(main())
