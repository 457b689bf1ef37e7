"""Interop: the npm package ``echonet-lite`` (EL.js) against our home-device classes.

Classes: home air conditioner 0x0130, electric water heater 0x026B, storage
battery 0x027D, household PV 0x0279, general lighting 0x0290 and
mono-function lighting 0x0291 (``simulate device``, specs/echonet/).

1. Decode: for each class, a Get_Res of every EPC of the object's 0x9F map,
   encoded by us, is parsed by ``EL.parseBytes``; TID, SEOJ, DEOJ, ESV, OPC and
   every EPC/EDT must match (EL turns bitmap-form property maps into list form).
2. Live: the real CLI, ``smartmeter-proto simulate device --class 0x0130 ...
   --bind 127.36.10.16 --no-multicast`` in a subprocess (its own loopback address,
   apart from echonet_classes.py's), hosts one object of each class. EL, driven by
   interop/echonet_classes_npm_client.js, discovers it (its search of the node
   profile, then EL.returner's own auto-get crawl of every object listed in 0xD6
   into ``EL.facilities``), then addresses each object with one Get of every EPC of
   its 0x9F. Our ``EchonetClient`` reads the same EPCs. Compared: every EDT of the
   Get_Res frames EL received, byte for byte, with ours; what EL decodes (property
   maps from bitmap to list form, the instance list 0xD6 it crawls, the
   identification numbers 0x83 it collects) with our typed values; the EDTs its
   crawl keeps in ``EL.facilities``. EL types no other EDT: those are compared by
   their bytes and counted apart, per object. Calendar values follow the CLI
   node's wall clock and may move between EL's read and ours: such an EDT is
   checked against its type instead, and counted apart. The CLI is stopped with
   ^C: exit status 130, nothing on stderr.

Peer bugs are counted apart (``Report.exclude``), each with its reason.
Run: ``python interop/echonet_classes_npm.py`` (exit 1 on any disagreement).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))

from echonet_classes import CLI_GUARD_S, CLI_INTERRUPTED, CLI_START_S, cli_env, stop
from echonet_npm import (
    HERE,
    compare_frame,
    expected_details,
    installed_version,
    node_env,
    npm_dir,
    pinned_version,
    run_helper,
)
from echonet_pychonet import ECHONET_PORT, FIXED_NOW, Report, report_main

from smartmeter_proto.echonet import frame as el_frame
from smartmeter_proto.echonet.datatypes import decode_property_map
from smartmeter_proto.echonet.frame import EOJ, ESV, Frame, Property
from smartmeter_proto.echonet.node import NODE_PROFILE, Node
from smartmeter_proto.echonet.properties import PropertyValue, typed_property
from smartmeter_proto.echonet.session import CONTROLLER
from smartmeter_proto.echonet.specs import STANDARD_VERSION, load_class
from smartmeter_proto.errors import DecodeError
from smartmeter_proto.sim.device import device_node, instances
from smartmeter_proto.transport.udp import EchonetClient

#: EL's side of the live session (Node.js): discovery crawl, then one Get per object.
CLIENT: Final = HERE / "echonet_classes_npm_client.js"
#: Loopback plan (127.0.0.0/8 only, UDP 3610): the CLI device node, EL, our client.
DEVICE_HOST: Final = "127.36.10.16"
NPM_HOST: Final = "127.36.10.17"
OURS_HOST: Final = "127.36.10.18"
CLASSES: Final = (0x0130, 0x026B, 0x027D, 0x0279, 0x0290, 0x0291)
_GET_MAP: Final = 0x9F
#: Property maps (Part II Annex 1): EL turns the bitmap form (PDC 17) into a list.
_MAPS: Final = frozenset({0x9D, 0x9E, 0x9F})
#: Self-node instance list S of the node profile (Part II §6.11.1): EL crawls what it lists.
_INSTANCE_LIST: Final = 0xD6
#: EL.autoGetDelay in ms: how far apart EL's auto-get requests go (pacing only).
_EL_DELAY_MS: Final = 5
#: Kinds whose simulated values follow the CLI node's (wall) clock.
_CALENDAR: Final = frozenset({"date", "time", "time_hms", "datetime", "datetime_hm"})
#: A peer bug: EL's auto-get leaves 0xD6 out of every object's crawl.
_SKIPPED_BY_EL: Final = 0xD6
EL_SKIPS_D6: Final = (
    "EL.returner's auto-get drops EPC 0xD6 from the Get of every object's 0x9F (its guard "
    "against re-reading the node profile's instance list S), so a device class's own 0xD6 "
    "(e.g. 0x026B, 0x027D) never reaches EL.facilities by discovery (the addressed Get reads it)"
)
#: Where EL does not decode: it keeps every other EDT as a hex string.
EL_KEEPS_HEX: Final = (
    "EL types no property value but the maps (0x9D-0x9F, bitmap to list) and the node's "
    "instance list 0xD6: it keeps each EDT as a hex string, so these compare by their bytes only"
)
#: A peer quirk: EL.renewFacilities appends to EL.identificationNumbers on every 0x83 answer.
EL_REPEATS_IDS: Final = (
    "EL.renewFacilities pushes an entry to EL.identificationNumbers for every answer holding "
    "0x83 (search, crawl, addressed Get) without looking for it first, so objects repeat"
)
#: Not a peer bug: the CLI node's calendar values follow its wall clock.
CALENDAR_APART: Final = (
    "calendar value of the CLI node's wall clock, read by EL and by us a moment apart: EL's "
    "EDT is checked against the property's type instead"
)
#: What our client read: object -> EPC -> value.
Readings = Mapping[EOJ, Mapping[int, PropertyValue]]


def _node() -> Node:
    """The node under test; served on a frozen clock, so dates and times hold still."""
    return device_node(CLASSES)


def _get_res(node: Node, eoj: EOJ, tid: int) -> Frame:
    """A Get_Res of every EPC of ``eoj``'s 0x9F, as our node answers it."""
    obj = node.objects[eoj]
    getmap = decode_property_map(obj.read(_GET_MAP, FIXED_NOW) or b"\x00")
    props = tuple(Property(epc, obj.read(epc, FIXED_NOW) or b"") for epc in getmap)
    return Frame(tid, eoj, CONTROLLER, ESV.GET_RES, tuple(p for p in props if p.edt))


def check_decode(report: Report) -> None:
    """EL.parseBytes reads our Get_Res of every property of each class like we do."""
    node = _node()
    frames = {
        f"0x{eoj.class_id:04X}": _get_res(node, eoj, 0x0100 + i)
        for i, eoj in enumerate(instances(CLASSES))
    }
    cases = [{"name": n, "hex": el_frame.encode(f).hex()} for n, f in frames.items()]
    parsed = {r["name"]: r.get("parsed") for r in run_helper("decode", json.dumps(cases))}
    for name, ours in frames.items():
        where = f"class {name} Get_Res of {len(ours.properties)} EPCs (npm)"
        if report.check(parsed.get(name) is not None, f"{where} parsed", str(parsed.get(name))):
            compare_frame(report, where, ours, parsed[name])


# -------------------------------------------------------------- live session
def cli_command() -> list[str]:
    """``smartmeter-proto simulate device`` hosting one object of each class on DEVICE_HOST."""
    classes = [arg for class_id in CLASSES for arg in ("--class", f"0x{class_id:04X}")]
    return [
        sys.executable, "-m", "smartmeter_proto", "simulate", "device", *classes,
        "--bind", DEVICE_HOST, "--no-multicast", "--duration", str(CLI_GUARD_S),
    ]  # fmt: skip


def _default_sigint() -> None:
    """In the CLI's process before exec: ^C raises KeyboardInterrupt even if this script's
    parent ignores SIGINT (a background job of a non-interactive shell)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def check_live(report: Report, timeout_s: float = 20.0) -> None:
    """EL discovers and reads the CLI node's objects; our client reads the same EPCs.

    ``timeout_s`` guards against a hang only.
    """
    cli = await asyncio.create_subprocess_exec(
        *cli_command(), env=cli_env(), preexec_fn=_default_sigint,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert cli.stdout is not None
    try:
        line = (await asyncio.wait_for(cli.stdout.readline(), CLI_START_S)).decode()
        if not report.check(
            f"listening on {DEVICE_HOST}:{ECHONET_PORT}" in line,
            "live CLI node started (simulate device)",
            line,
        ):
            return
        result = await run_el(report, timeout_s)
        if result is None:
            return
        async with EchonetClient.udp(
            local=(OURS_HOST, ECHONET_PORT), timeout=2.0, join_group=False
        ) as client:
            ours = await read_ours(report, client)
        compare_live(report, result, ours)
    finally:
        stderr = await stop(cli)
        report.equal("live CLI node exit status after ^C", cli.returncode, CLI_INTERRUPTED)
        report.equal("live CLI node stderr", stderr.decode(), "")


async def run_el(report: Report, timeout_s: float) -> dict[str, Any] | None:
    """Run EL's client against the CLI node; what it printed, or None if it did not start."""
    eojs = ",".join(str(e).lower() for e in instances(CLASSES))
    proc = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node", str(CLIENT), DEVICE_HOST, NPM_HOST,
        str(int(timeout_s * 1000)), str(_EL_DELAY_MS), eojs, env=node_env(),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    result: dict[str, Any] | None = None
    try:
        ready = await asyncio.wait_for(proc.stderr.readline(), timeout_s)
        if report.check(ready.strip() == b"READY", "EL client socket bound", ready.decode()):
            line = await asyncio.wait_for(proc.stdout.readline(), timeout_s + 5)
            result = json.loads(line) if line else None
            report.check(result is not None, "EL client printed its result")
        proc.stdin.close()
        _, rest = await asyncio.wait_for(proc.communicate(), timeout_s)
        report.equal("EL client exit status", proc.returncode, 0)
        report.equal("EL client stderr after READY", rest.decode(), "")
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    return result


async def read_ours(report: Report, client: EchonetClient) -> dict[EOJ, dict[int, PropertyValue]]:
    """Our client reads every EPC of each object's 0x9F (device objects: 0x82 first, so
    its session decodes by the release the object reports)."""
    device = (DEVICE_HOST, ECHONET_PORT)
    ours: dict[EOJ, dict[int, PropertyValue]] = {}
    for eoj in (NODE_PROFILE, *instances(CLASSES)):
        if eoj != NODE_PROFILE:
            version = await client.get(device, eoj, [STANDARD_VERSION])
            report.check(version.ok, f"live {eoj} our client reads 0x82")
        maps = await client.get(device, eoj, [_GET_MAP])
        if not report.check(_GET_MAP in maps.values, f"live {eoj} our client reads 0x9F"):
            continue
        getmap = list(maps.values[_GET_MAP].value)
        done = await client.get(device, eoj, getmap)
        report.check(done.ok, f"live {eoj} our client reads the {len(getmap)} EPCs of its 0x9F")
        ours[eoj] = dict(done.values)
    return ours


def compare_live(report: Report, result: dict[str, Any], ours: Readings) -> None:
    """Everything EL got (its result, see echonet_classes_npm_client.js) against ``ours``."""
    report.equal("EL discovered and read every object", "complete", result["reason"])
    report.equal("EL receive errors", [], result["errors"])
    compare_discovery(report, result, ours)
    crawl: dict[str, dict[str, str]] = result["crawl"].get(DEVICE_HOST, {})
    for eoj in (NODE_PROFILE, *instances(CLASSES)):
        if eoj in ours:
            compare_crawl(report, eoj, crawl.get(str(eoj).lower(), {}), ours[eoj])
    read = {EOJ.parse(r["eoj"]): r for r in result["reads"]}
    report.equal("EL addressed every object", [str(e) for e in ours], [str(e) for e in read])
    for eoj, theirs in read.items():
        if eoj in ours:
            compare_read(report, eoj, theirs, ours[eoj])


def compare_discovery(report: Report, result: dict[str, Any], ours: Readings) -> None:
    """EL's decoding of the node profile's 0xD6 (which it crawls) and the 0x83 it collects."""
    crawl = result["crawl"].get(DEVICE_HOST, {})
    listed = decode_instances(crawl.get(str(NODE_PROFILE).lower(), {}).get("d6", ""))
    ours_d6 = ours.get(NODE_PROFILE, {}).get(_INSTANCE_LIST)
    report.equal(
        "EL discovered every object (0xD6)",
        list(ours_d6.value) if ours_d6 is not None else None,
        listed,
    )
    report.equal("our 0xD6 lists the classes asked of the CLI", listed, instances(CLASSES))
    report.equal(
        "EL's crawl holds the node profile and every object it listed",
        sorted(str(e).lower() for e in (NODE_PROFILE, *listed)),
        sorted(crawl),
    )
    ids: list[dict[str, str]] = result["identification_numbers"]
    theirs = {(i["OBJ"], i["id"]) for i in ids if i["ip"] == DEVICE_HOST}
    mine = {
        (str(eoj).lower(), values[0x83].edt.hex()) for eoj, values in ours.items() if 0x83 in values
    }
    report.equal("EL identification numbers (0x83) of every object", sorted(mine), sorted(theirs))
    if len(ids) > len(theirs):
        report.exclude(
            f"live EL.identificationNumbers: {len(ids)} entries for {len(theirs)} objects",
            EL_REPEATS_IDS,
        )


def compare_crawl(
    report: Report, eoj: EOJ, theirs: Mapping[str, str], mine: Mapping[int, PropertyValue]
) -> None:
    """What EL's discovery crawl keeps in EL.facilities for ``eoj``: every EPC of its 0x9F."""
    if not report.check(bool(theirs), f"live {eoj} in EL.facilities after the crawl"):
        return
    getmap = sorted(mine[_GET_MAP].value) if _GET_MAP in mine else []
    epcs = sorted(int(key, 16) for key in theirs)
    if eoj != NODE_PROFILE and _SKIPPED_BY_EL in getmap and _SKIPPED_BY_EL not in epcs:
        report.exclude(f"live {eoj} 0x{_SKIPPED_BY_EL:02X} (in 0x9F)", EL_SKIPS_D6)
        getmap.remove(_SKIPPED_BY_EL)
    report.equal(f"live {eoj} EL's crawl read every EPC of its 0x9F", getmap, epcs)
    for epc in epcs:
        value = mine.get(epc)
        if not report.check(value is not None, f"live {eoj} 0x{epc:02X}", "ours got no value"):
            continue
        assert value is not None
        expected = expected_details((Property(epc, value.edt),))[f"{epc:02x}"]
        compare_edt(report, f"live {eoj} 0x{epc:02X} EDT in EL.facilities", eoj, epc,
                    theirs[f"{epc:02x}"], expected)  # fmt: skip


def compare_read(
    report: Report, eoj: EOJ, read: Mapping[str, Any], mine: Mapping[int, PropertyValue]
) -> None:
    """EL's Get of every EPC of ``eoj``'s 0x9F: the frame it received and what it parsed."""
    where = f"live {eoj} EL's Get"
    try:
        frame = el_frame.decode(bytes.fromhex(read["hex"]))
    except DecodeError as exc:
        report.check(False, f"{where}: the answer EL received decodes", str(exc))
        return
    if not report.check(isinstance(frame, Frame), f"{where}: answer in format 1"):
        return
    assert isinstance(frame, Frame)
    report.equal(f"{where} answered Get_Res", ESV.GET_RES, frame.esv)
    report.equal(
        f"{where} answer TID, SEOJ, DEOJ",
        (read["tid"], eoj, CONTROLLER),
        (f"{frame.tid:04x}", frame.seoj, frame.deoj),
    )
    getmap = list(mine[_GET_MAP].value) if _GET_MAP in mine else None
    asked = [int(epc, 16) for epc in read["asked"]]
    report.equal(f"{where} asked every EPC of 0x9F (EL's decoding of the map)", getmap, asked)
    report.equal(
        f"{where} answer holds the EPCs asked, in order", asked, [p.epc for p in frame.properties]
    )
    details: dict[str, str] = read["parsed"]["DETAILs"]
    untyped = 0
    for prop in frame.properties:
        what = f"live {eoj} 0x{prop.epc:02X}"
        value = mine.get(prop.epc)
        if not report.check(value is not None, what, "our client got no value"):
            continue
        assert value is not None
        compare_edt(report, f"{what} EDT bytes EL received", eoj, prop.epc, prop.edt.hex(),
                    value.edt.hex())  # fmt: skip
        theirs = details.get(f"{prop.epc:02x}")
        if prop.epc in _MAPS:
            # EL's decoding: a list (count, then EPCs) whatever the form on the wire.
            typed = typed_property(eoj.class_id, prop.epc, prop.edt).value
            listed = list(bytes.fromhex(theirs or "00")[1:])
            report.equal(f"{what} map as EL decodes it", list(typed or ()), listed)
        else:
            report.equal(f"{what} EDT as EL parses it", prop.edt.hex(), theirs)
            untyped += not (eoj == NODE_PROFILE and prop.epc == _INSTANCE_LIST)
    if untyped:
        report.exclude(f"live {eoj} typed values of {untyped} EPCs", EL_KEEPS_HEX)


def decode_instances(edt_hex: str) -> list[EOJ]:
    """An instance list (0xD6: count, then 3-byte EOJs) as EOJs; empty if absent."""
    data = bytes.fromhex(edt_hex)
    return [EOJ(*data[1 + 3 * i : 4 + 3 * i]) for i in range(data[0])] if data else []


def compare_edt(report: Report, what: str, eoj: EOJ, epc: int, theirs: str, ours: str) -> None:
    """One EDT (hex) EL holds against ours; a calendar value read apart is checked by type."""
    if theirs == ours:
        report.check(True, what)
        return
    spec = load_class(eoj.class_id)
    prop = None if spec is None else spec.properties.get(epc)
    if prop is not None and prop.data_type.kind in _CALENDAR:
        value = typed_property(eoj.class_id, epc, bytes.fromhex(theirs))
        if report.check(
            value.error is None and value.value is not None,
            f"{what}: EL's {prop.data_type.kind} is valid",
            f"{theirs}: {value.error}",
        ):
            report.exclude(f"{what} (EL {theirs}, ours {ours})", CALENDAR_APART)
        return
    report.equal(what, ours, theirs)


async def run_all(*, live: bool = True) -> Report:
    report = Report(
        f"echonet-lite {installed_version()} (pinned {pinned_version()}) device classes"
    )
    check_decode(report)
    if live:
        await check_live(report)
    return report


def main(argv: list[str] | None = None) -> int:
    return report_main(
        argv,
        doc=__doc__,
        installed=installed_version,
        missing=f"node or echonet-lite missing under {npm_dir()}: run interop/run_echonet.sh",
        run_all=run_all,
    )


if __name__ == "__main__":
    sys.exit(main())
