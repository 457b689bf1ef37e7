"""Interop: the npm package ``echonet-lite`` (EL.js) against smartmeter_proto's ECHONET Lite stack.

1. The corpus of echonet_pychonet.py is parsed by ``EL.parseBytes`` and compared
   with our decode: TID, SEOJ, DEOJ, ESV, OPC and every EPC/EDT.
2. Frames made by EL's builders (sendOPC1, sendDetails, sendELDATA, replyOPC1,
   replyGetDetail, replySetDetail) decode with ours to what the builder was asked.
3. Over loopback UDP, EL acts as a client of our simulated meter: it hears the
   meter's start-up INF, searches it by unicast, and its own auto-get crawl
   (property maps, then every EPC of 0x9F) fills ``EL.facilities``; the values
   are compared with what our ``EchonetClient`` reads from the same frozen meter.

The Node side is interop/echonet_npm_decode.js; the package is looked up in
$ECHONET_NPM_DIR (default interop/.work/npm, where run_echonet.sh installs it).
Run: ``python interop/echonet_npm.py`` (exit 1 on any disagreement).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Final, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

from echonet_pychonet import (
    ECHONET_PORT,
    FIXED_NOW,
    METER_HOST,
    NPM_HOST,
    OURS_HOST,
    Case,
    Report,
    build_corpus,
    make_meter,
    random_corpus,
    report_main,
)

from smartmeter_proto.echonet import frame as el_frame
from smartmeter_proto.echonet.datatypes import decode_property_map
from smartmeter_proto.echonet.frame import ESV, ArbitraryFrame, Frame, Property
from smartmeter_proto.echonet.node import NODE_PROFILE
from smartmeter_proto.echonet.properties import encode_property
from smartmeter_proto.echonet.session import CONTROLLER
from smartmeter_proto.errors import DecodeError
from smartmeter_proto.sim.meter import METER_EOJ, meter_node
from smartmeter_proto.transport.udp import EchonetClient, serve_node

HERE: Final = Path(__file__).resolve().parent
HELPER: Final = HERE / "echonet_npm_decode.js"
PACKAGE_JSON: Final = HERE / "package.json"
_MAPS: Final = frozenset({0x9D, 0x9E, 0x9F})
_INSTANCE_LIST_NOTIFICATION: Final = 0xD5
_PRODUCT_CODE: Final = 0x8C
#: EL.parseDetail turns a bitmap-form map (PDC >= 17) into list form.
_MAP_BITMAP_PDC: Final = 17
_SETGET: Final = frozenset({ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA})
#: Cases EL cannot represent, and why (see interop/README.md).
EXCLUDED_DECODE: Final = {
    "opc0": "EL.parseBytes refuses frames shorter than 14 bytes (returns null), so any "
    "OPC 0 frame is unreadable to it",
    "duplicate_epc": "EL keeps DETAILs in an object keyed by EPC: a repeated EPC keeps "
    "only its last EDT",
}


def npm_dir() -> Path:
    return Path(os.environ.get("ECHONET_NPM_DIR", HERE / ".work" / "npm"))


def pinned_version() -> str:
    deps: dict[str, str] = json.loads(PACKAGE_JSON.read_text())["dependencies"]
    return deps["echonet-lite"]


def installed_version() -> str | None:
    """The echonet-lite version under npm_dir(), or None if node or the package is missing."""
    manifest = npm_dir() / "node_modules" / "echonet-lite" / "package.json"
    if shutil.which("node") is None or not manifest.is_file():
        return None
    version: str = json.loads(manifest.read_text())["version"]
    return version


def node_env() -> dict[str, str]:
    return {**os.environ, "ECHONET_NPM_DIR": str(npm_dir())}


def run_helper(mode: str, stdin: str = "", timeout: float = 30.0) -> Any:
    """Run the Node helper once and return the JSON it printed."""
    node = shutil.which("node") or "node"
    done = subprocess.run(
        [node, str(HELPER), mode],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=node_env(),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"node helper {mode} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout)


# ---------------------------------------------------------------- decoding
def _props_hex(props: tuple[Property, ...]) -> dict[str, str]:
    return {f"{p.epc:02x}": p.edt.hex() for p in props}


def _their_map_edt(edt: bytes) -> str:
    """What EL stores for a bitmap-form property map: list form, ascending EPCs."""
    epcs = decode_property_map(edt)
    return bytes([len(epcs), *epcs]).hex()


def expected_details(props: tuple[Property, ...]) -> dict[str, str]:
    out = {}
    for prop in props:
        edt = prop.edt.hex()
        if prop.epc in _MAPS and len(prop.edt) >= _MAP_BITMAP_PDC:
            edt = _their_map_edt(prop.edt)
        out[f"{prop.epc:02x}"] = edt
    return out


def check_decoders(report: Report, cases: list[Case]) -> None:
    """EL.parseBytes against our decode, for every corpus frame."""
    results = run_helper(
        "decode", json.dumps([{"name": c.name, "hex": c.data.hex()} for c in cases])
    )
    by_name = {r["name"]: r for r in results}
    for case in cases:
        where = f"{case.name} (npm)"
        if case.name in EXCLUDED_DECODE:
            report.exclude(where, EXCLUDED_DECODE[case.name])
            continue
        parsed = by_name[case.name].get("parsed")
        if not report.check(parsed is not None, f"{where} parsed", str(by_name[case.name])):
            continue
        ours = el_frame.decode(case.data)
        if isinstance(ours, ArbitraryFrame):
            report.equal(f"{where} EHD", "1082", parsed["EHD"])
            report.equal(f"{where} TID+EDATA", f"{ours.tid:04x}{ours.edata.hex()}", parsed["AMF"])
            continue
        compare_frame(report, where, ours, parsed)


def compare_frame(report: Report, where: str, ours: Frame, parsed: dict[str, Any]) -> None:
    report.equal(f"{where} EHD", "1081", parsed["EHD"])
    report.equal(f"{where} TID", f"{ours.tid:04x}", parsed["TID"])
    report.equal(f"{where} SEOJ", str(ours.seoj).lower(), parsed["SEOJ"])
    report.equal(f"{where} DEOJ", str(ours.deoj).lower(), parsed["DEOJ"])
    report.equal(f"{where} ESV", f"{int(ours.esv):02x}", parsed["ESV"])
    report.equal(f"{where} OPC", f"{len(ours.properties):02x}", parsed["OPC"])
    report.equal(f"{where} EPC/EDT", expected_details(ours.properties), parsed["DETAILs"])
    if ours.esv in _SETGET:
        # EL parses only the OPCSet list; the rest stays as hex in DETAIL.
        tail = bytearray([len(ours.get_properties)])
        for prop in ours.get_properties:
            tail += bytes([prop.epc, len(prop.edt)]) + prop.edt
        set_part = sum(2 + len(p.edt) for p in ours.properties)
        report.equal(f"{where} unparsed OPCGet tail", tail.hex(), parsed["DETAIL"][2 * set_part :])
        report.exclude(
            f"{where} OPCGet list",
            "EL.parseString parses only the first property list (OPCSet) of SetGet frames",
        )


def check_builders(report: Report) -> None:
    """Frames made by EL's builders decode with ours to what the builder was given."""
    known_bad = {
        "replySetDetail_setc_sna_7bytes": (
            "EL.replySetDetail echoes a refused EDT as parseInt(hex, 16) in one array slot and "
            "its PDC as parseInt(len/2, 16): a multi-byte EDT becomes a 1-byte EDT under a PDC "
            "that claims more, so the frame is truncated"
        ),
    }
    for case in run_helper("build"):
        name, expect, frames = case["name"], case["expect"], case["frames"]
        where = f"{name} (npm builder)"
        if not report.check(len(frames) == 1, f"{where} sent one frame", f"sent {frames}"):
            continue
        data = bytes.fromhex(frames[0])
        try:
            ours = el_frame.decode(data)
        except DecodeError as exc:
            if name in known_bad:
                report.exclude(f"{where} {data.hex()} (ours: {exc.reason})", known_bad[name])
            else:
                report.check(False, f"{where} decodes with ours", str(exc))
            continue
        if name in known_bad:
            report.check(False, f"{where} was expected malformed", data.hex())
            continue
        if not report.check(isinstance(ours, Frame), f"{where} is format 1"):
            continue
        assert isinstance(ours, Frame)
        if name.startswith("sendELDATA") and f"{ours.tid:04x}" != expect["tid"]:
            report.exclude(
                f"{where} TID (asked {expect['tid']}, sent {ours.tid:04x})",
                "EL.sendELDATA tests `!eldata.TID == ''`, which is always true, so it "
                "ignores ELDATA.TID and numbers the frame itself",
            )
        else:
            report.equal(f"{where} TID", f"{ours.tid:04x}", expect["tid"])
        report.equal(f"{where} SEOJ", str(ours.seoj).lower(), expect["seoj"])
        report.equal(f"{where} DEOJ", str(ours.deoj).lower(), expect["deoj"])
        report.equal(f"{where} ESV", f"{int(ours.esv):02x}", expect["esv"])
        report.equal(
            f"{where} EPC/EDT in order",
            [[f"{p.epc:02x}", p.edt.hex()] for p in ours.properties],
            expect["props"],
        )
        report.equal(f"{where} round trip", el_frame.encode(ours), data)


# ----------------------------------------------------------- live client
async def check_client(report: Report, timeout_s: float = 10.0) -> None:
    """EL, as a client on NPM_HOST:3610, crawls our meter; then our client reads EL's node."""
    node = meter_node(make_meter(), now=FIXED_NOW)
    proc = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node", str(HELPER), "client", METER_HOST, NPM_HOST,
        str(int(timeout_s * 1000)), "20", env=node_env(),
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
        # EL sends from port 23610 and listens on 3610: the meter answers to 3610.
        async with serve_node(
            node,
            local=(METER_HOST, ECHONET_PORT),
            group=(NPM_HOST, ECHONET_PORT),
            reply_port=ECHONET_PORT,
            clock=lambda: FIXED_NOW,
        ):
            line = await asyncio.wait_for(proc.stdout.readline(), timeout_s + 5)
            result = json.loads(line)
            # Bound on 3610: the meter (reply_port) and EL (always) answer to 3610.
            async with EchonetClient.udp(local=(OURS_HOST, ECHONET_PORT), timeout=2.0) as client:
                await _compare_facilities(report, client, result)
                await _read_el_node(report, client, result["node_details"])
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), timeout_s)
        report.equal("EL helper exit status", proc.returncode, 0)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    report.equal("meter dropped no frame from EL", node.dropped, 0)


async def _read_el_node(report: Report, client: EchonetClient, details: dict[str, str]) -> None:
    """Our client reads EL's node profile, which EL.returner answers from EL.Node_details."""
    el_node = (NPM_HOST, ECHONET_PORT)
    found = await client.discover(el_node)
    report.equal(
        "our discover() of EL's node lists its 05FF01",
        [(cast(tuple[str, int], n.address)[0], n.instances) for n in found],
        [(NPM_HOST, (CONTROLLER,))],
    )
    epcs = [int(epc, 16) for epc in details if details[epc]]
    done = await client.get(el_node, NODE_PROFILE, epcs)
    report.check(done.ok, f"EL's node serves the {len(epcs)} EPCs of its Node_details")
    for epc in epcs:
        value = done.values.get(epc)
        got = value.edt.hex() if value is not None else None
        report.equal(f"EL node 0x{epc:02X} EDT", got, details[f"{epc:02x}"])
    refused = await client.get(el_node, NODE_PROFILE, [0x80, _PRODUCT_CODE])
    report.equal("EL's Get_SNA (0x8C with PDC 0) is read as refused", refused.refused, (0x8C,))
    report.equal("EL's Get_SNA still carries 0x80", refused.values[0x80].edt.hex(), details["80"])


async def _compare_facilities(
    report: Report, client: EchonetClient, result: dict[str, Any]
) -> None:
    report.equal("EL crawl finished", "complete", result["reason"])
    report.equal("EL receive errors", [], result["errors"])
    facilities = result["facilities"].get(METER_HOST, {})
    announced = [
        r for r in result["received"] if r["hex"][20:22] == "73" and "d5" in r["hex"][24:28]
    ]
    report.check(bool(announced), "EL received the meter's start-up INF (0xD5)")
    for eoj in (METER_EOJ, NODE_PROFILE):
        theirs: dict[str, str] = facilities.get(str(eoj).lower(), {})
        if not report.check(bool(theirs), f"EL facilities list {eoj}", str(facilities.keys())):
            continue
        epcs = [int(k, 16) for k in theirs]
        if eoj == NODE_PROFILE and "d5" in theirs:
            # 0xD5 is announce-only (not in the Get map): EL kept it from the INF.
            epcs.remove(_INSTANCE_LIST_NOTIFICATION)
            report.equal(
                "EL facilities 0EF001 0xD5 (from the INF)",
                encode_property(
                    NODE_PROFILE.class_id, _INSTANCE_LIST_NOTIFICATION, [METER_EOJ]
                ).hex(),
                theirs["d5"],
            )
        done = await client.get((METER_HOST, ECHONET_PORT), eoj, epcs)
        report.check(done.ok, f"our client reads the {len(epcs)} EPCs EL holds for {eoj}")
        getmap = decode_property_map(done.values[0x9F].edt) if 0x9F in done.values else ()
        report.equal(f"EL read every EPC of {eoj}'s 0x9F", sorted(getmap), sorted(epcs))
        for epc in epcs:
            value = done.values.get(epc)
            if value is None:
                report.check(False, f"live {eoj} 0x{epc:02X}", "our client got no value")
                continue
            expected = expected_details((Property(epc, value.edt),))[f"{epc:02x}"]
            report.equal(f"live {eoj} 0x{epc:02X} EDT (npm)", expected, theirs[f"{epc:02x}"])
    single = [
        r
        for r in result["received"]
        if r["hex"][20:24] == "7201" and r["hex"][24:26] == "e7" and r["from"] == METER_HOST
    ]
    report.check(bool(single), "EL.sendOPC1 Get of 0xE7 was answered with one property")
    report.equal(
        "answers reached EL's 3610 from the meter's 3610",
        {(r["from"], r["port"]) for r in result["received"]},
        {(METER_HOST, ECHONET_PORT)},
    )


# ------------------------------------------------------------------ driver
async def run_all(*, live: bool = True) -> Report:
    report = Report(f"echonet-lite {installed_version()} (pinned {pinned_version()})")
    check_decoders(report, build_corpus() + random_corpus())
    check_builders(report)
    if live:
        await check_client(report)
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
