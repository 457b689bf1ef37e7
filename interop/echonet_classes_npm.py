"""Interop: the npm package ``echonet-lite`` (EL.js) against our home-device classes.

Classes: home air conditioner 0x0130, electric water heater 0x026B, storage
battery 0x027D, household PV 0x0279, general lighting 0x0290 and
mono-function lighting 0x0291 (``simulate device``, specs/echonet/).

1. Decode: for each class, a Get_Res of every EPC of the object's 0x9F map,
   encoded by us, is parsed by ``EL.parseBytes``; TID, SEOJ, DEOJ, ESV, OPC and
   every EPC/EDT must match (EL turns bitmap-form property maps into list form).
2. Live: one node hosting an object of each class (``sim.device.device_node``)
   serves on loopback; EL, as a client, hears its start-up INF, searches it and
   crawls every object (maps, then each EPC of 0x9F) into ``EL.facilities``;
   every value is compared with what our ``EchonetClient`` reads from the same
   frozen node.

Peer bugs are counted apart (``Report.exclude``), each with its reason.
Run: ``python interop/echonet_classes_npm.py`` (exit 1 on any disagreement).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))

from echonet_npm import (
    HELPER,
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
from smartmeter_proto.echonet.session import CONTROLLER
from smartmeter_proto.sim.device import device_node, instances
from smartmeter_proto.transport.udp import EchonetClient, serve_node

#: Loopback plan (127.0.0.0/8 only, UDP 3610): the device node, EL, our client.
DEVICE_HOST: Final = "127.36.10.16"
NPM_HOST: Final = "127.36.10.17"
OURS_HOST: Final = "127.36.10.18"
CLASSES: Final = (0x0130, 0x026B, 0x027D, 0x0279, 0x0290, 0x0291)
_GET_MAP: Final = 0x9F
#: A peer bug: EL's auto-get leaves 0xD6 out of every object's crawl.
_SKIPPED_BY_EL: Final = 0xD6
EL_SKIPS_D6: Final = (
    "EL.returner's auto-get drops EPC 0xD6 from the Get of every object's 0x9F (its guard "
    "against re-reading the node profile's instance list S), so a device class's own 0xD6 "
    "(e.g. 0x026B, 0x027D) is never read"
)


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


async def check_live(report: Report, timeout_s: float = 20.0) -> None:
    """EL crawls a node of the six classes; our client reads the same EPCs."""
    node = _node()
    eojs = [str(e).lower() for e in instances(CLASSES)]
    proc = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node", str(HELPER), "client", DEVICE_HOST, NPM_HOST,
        str(int(timeout_s * 1000)), "5", ",".join(eojs), env=node_env(),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        ready = await asyncio.wait_for(proc.stderr.readline(), timeout_s)
        if not report.check(ready.strip() == b"READY", "EL client socket bound", ready.decode()):
            return
        async with serve_node(
            node,
            local=(DEVICE_HOST, ECHONET_PORT),
            group=(NPM_HOST, ECHONET_PORT),
            reply_port=ECHONET_PORT,
            clock=lambda: FIXED_NOW,
        ):
            line = await asyncio.wait_for(proc.stdout.readline(), timeout_s + 5)
            result = json.loads(line)
            report.equal("EL crawl of the six classes finished", "complete", result["reason"])
            report.equal("EL receive errors", [], result["errors"])
            async with EchonetClient.udp(local=(OURS_HOST, ECHONET_PORT), timeout=2.0) as client:
                await _compare(report, client, result["facilities"].get(DEVICE_HOST, {}))
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), timeout_s)
        report.equal("EL helper exit status", proc.returncode, 0)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    report.equal("device node dropped no frame from EL", node.dropped, 0)


async def _compare(report: Report, client: EchonetClient, facilities: dict[str, Any]) -> None:
    profile = facilities.get(str(NODE_PROFILE).lower(), {})
    listed = decode_instances(profile.get("d6", ""))
    report.equal("EL discovered every object (0xD6)", listed, list(instances(CLASSES)))
    for eoj in instances(CLASSES):
        theirs: dict[str, str] = facilities.get(str(eoj).lower(), {})
        if not report.check(bool(theirs), f"EL facilities list {eoj}", str(facilities.keys())):
            continue
        epcs = [int(k, 16) for k in theirs]
        done = await client.get((DEVICE_HOST, ECHONET_PORT), eoj, epcs)
        report.check(done.ok, f"our client reads the {len(epcs)} EPCs EL holds for {eoj}")
        getmap = decode_property_map(done.values[_GET_MAP].edt) if _GET_MAP in done.values else ()
        if _SKIPPED_BY_EL in getmap and _SKIPPED_BY_EL not in epcs:
            report.exclude(f"live {eoj} 0x{_SKIPPED_BY_EL:02X} (in 0x9F)", EL_SKIPS_D6)
            getmap = tuple(e for e in getmap if e != _SKIPPED_BY_EL)
        report.equal(f"EL read every EPC of {eoj}'s 0x9F", sorted(getmap), sorted(epcs))
        for epc in epcs:
            value = done.values.get(epc)
            if value is None:
                report.check(False, f"live {eoj} 0x{epc:02X}", "our client got no value")
                continue
            expected = expected_details((Property(epc, value.edt),))[f"{epc:02x}"]
            report.equal(f"live {eoj} 0x{epc:02X} EDT (npm)", expected, theirs[f"{epc:02x}"])


def decode_instances(edt_hex: str) -> list[EOJ]:
    """An instance list (0xD6: count, then 3-byte EOJs) as EOJs; empty if absent."""
    data = bytes.fromhex(edt_hex)
    return [EOJ(*data[1 + 3 * i : 4 + 3 * i]) for i in range(data[0])] if data else []


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
