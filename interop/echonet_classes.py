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
2. Live: a node hosting one object of each class (values stored from the
   samples above) serves on loopback; pychonet's client discovers it, reads
   its property maps and ``update()``s every EPC it types, compared with ours.

Run: ``python interop/echonet_classes.py`` (exit 1 on any disagreement).
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from echonet_pychonet import (
    ECHONET_PORT,
    FIXED_NOW,
    Report,
    _wait_for,
    installed_version,
    report_main,
)

from smartmeter_proto.echonet.frame import EOJ
from smartmeter_proto.echonet.node import DeviceObject, Node
from smartmeter_proto.echonet.properties import decode_property
from smartmeter_proto.echonet.specs import load_class
from smartmeter_proto.errors import DecodeError
from smartmeter_proto.transport.udp import serve_node

#: Loopback plan: the device node and pychonet's client (127.0.0.0/8 only, UDP 3610).
DEVICE_HOST: Final = "127.36.10.14"
PYCHONET_HOST: Final = "127.36.10.15"
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
def device_node(by_class: dict[int, list[Sample]]) -> Node:
    """One object per class, each sampled EPC holding its first sample."""
    objects = []
    for class_id, found in by_class.items():
        values: dict[int | str, Any] = {}
        for sample in found:
            values.setdefault(sample.epc, sample.edt)
        eoj = EOJ(class_id >> 8, class_id & 0xFF, 0x01)
        objects.append(DeviceObject(eoj, {"operation_status": "on", **values}))
    return Node(objects)


async def check_live(report: Report, by_class: dict[int, list[Sample]]) -> None:
    """pychonet's client discovers and reads our node's objects over loopback UDP."""
    from pychonet import ECHONETAPIClient
    from pychonet.lib.udpserver import UDPServer

    if not by_class:
        report.exclude("live", "no class of the list is in specs/echonet yet")
        return
    node = device_node(by_class)
    server = UDPServer(local_ip=PYCHONET_HOST)
    server.run(PYCHONET_HOST, ECHONET_PORT, asyncio.get_running_loop())
    api = ECHONETAPIClient(server)
    announced: list[str] = []

    async def on_unknown_node(host: str) -> None:
        announced.append(host)

    api.configure(logger=lambda *a: None, discover_callback=on_unknown_node, message_timeout=50)
    host = DEVICE_HOST
    try:
        async with serve_node(
            node,
            local=(host, ECHONET_PORT),
            group=(PYCHONET_HOST, ECHONET_PORT),
            clock=lambda: FIXED_NOW,
        ):
            report.check(await _wait_for(lambda: host in announced, 2.0), "live start-up INF heard")
            report.check(await api.discover(host) is True, "live pychonet discover(host)")
            instances = api.state.get(host, {}).get("instances", {})
            for class_id, found in by_class.items():
                group, code = class_id >> 8, class_id & 0xFF
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
                spec = load_class(class_id)
                assert spec is not None
                readable = [s for s in found if "get" in spec.properties[s.epc].access]
                wanted = sorted({s.epc for s in readable})
                typed = await device.update(wanted)
                if len(wanted) == 1 and not isinstance(typed, dict):
                    typed = {wanted[0]: typed}  # pychonet's update() unwraps a single EPC
                if not report.check(
                    isinstance(typed, dict) and set(typed) == set(wanted),
                    f"{name} update() of {len(wanted)} EPCs answers all",
                    f"got {typed!r}",
                ):
                    continue
                assert isinstance(typed, dict)
                table = f"pychonet.{CLASSES[class_id][1]}.EPC_FUNCTIONS"
                stored = {s.epc: s for s in reversed(readable)}  # the first sample of each EPC
                for epc in wanted:
                    compare(report, "live", stored[epc], typed[epc], f"{table}[0x{epc:02X}]")
            report.equal("live node dropped no frame", node.dropped, 0)
    finally:
        server.close()


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
