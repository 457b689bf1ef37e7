"""Interop: pychonet (PyPI) against smartmeter_proto's ECHONET Lite stack.

1. Over real UDP on loopback, pychonet's ``ECHONETAPIClient`` hears our
   simulated meter's start-up INF, discovers it, reads its property maps,
   identification and every readable property; raw EDTs and pychonet's typed
   values are compared with what our ``EchonetClient`` reads (the meter's
   clock is frozen, so both read the same instant).
2. A corpus of frames we encode is decoded by pychonet's ``decodeEchonetMsg``
   and compared field by field, with its typed decoders for the super class
   and class 0x0288 compared with ours.
3. Frames built by pychonet's ``buildEchonetMsg`` decode identically with ours.

The corpus, the report and the loopback plan are shared with echonet_npm.py.
Run: ``python interop/echonet_pychonet.py`` (exit 1 on any disagreement).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from smartmeter_proto.cli.decode.echonet import echonet_to_json
from smartmeter_proto.echonet import frame as el_frame
from smartmeter_proto.echonet.datatypes import encode_property_map
from smartmeter_proto.echonet.frame import EOJ, ESV, ArbitraryFrame, Frame, Property
from smartmeter_proto.echonet.node import NODE_PROFILE, Node
from smartmeter_proto.echonet.properties import decode_property, encode_property
from smartmeter_proto.echonet.session import CONTROLLER
from smartmeter_proto.errors import DecodeError
from smartmeter_proto.sim.load_curve import JST, LoadCurve
from smartmeter_proto.sim.meter import METER_EOJ, SimulatedMeter, meter_node
from smartmeter_proto.transport.udp import EchonetClient, serve_node

PYCHONET_VERSION: Final = "2.8.2"
ECHONET_PORT: Final = 3610
#: Loopback plan (127.0.0.0/8 only): one address per party, all on UDP 3610.
METER_HOST: Final = "127.36.10.10"
PYCHONET_HOST: Final = "127.36.10.11"
OURS_HOST: Final = "127.36.10.12"
NPM_HOST: Final = "127.36.10.13"
#: The meter's frozen clock: 2026-01-15 12:34:56 JST, midday PV export.
FIXED_NOW: Final = datetime(2026, 1, 15, 12, 34, 56, tzinfo=JST).timestamp()
METER_CLASS: Final = 0x0288
_MAPS: Final = (0x9D, 0x9E, 0x9F)
_SETGET_FAMILY: Final = frozenset({ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA})


# --------------------------------------------------------------------- report
@dataclass
class Report:
    """Checks that passed, disagreements, and cases excluded with a reason."""

    title: str
    passed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        if ok:
            self.passed.append(what)
        else:
            self.failures.append(f"{what}: {detail}" if detail else what)
        return ok

    def equal(self, what: str, ours: Any, theirs: Any) -> bool:
        return self.check(ours == theirs, what, f"ours={ours!r} theirs={theirs!r}")

    def exclude(self, what: str, reason: str) -> None:
        self.excluded.append((what, reason))

    @property
    def ok(self) -> bool:
        return not self.failures and bool(self.passed)

    def render(self) -> str:
        lines = [
            f"== {self.title}: {len(self.passed)} checks passed, {len(self.failures)} failed, "
            f"{len(self.excluded)} excluded ({time.perf_counter() - self.started:.2f} s)"
        ]
        lines += [f"  FAIL {text}" for text in self.failures]
        lines += [f"  excluded {what}: {why}" for what, why in self.excluded]
        return "\n".join(lines)


# --------------------------------------------------------------------- corpus
@dataclass(frozen=True)
class Case:
    """One frame of the corpus: our encoding of ``frame``."""

    name: str
    frame: Frame | ArbitraryFrame

    @property
    def data(self) -> bytes:
        return el_frame.encode(self.frame)


def make_meter() -> SimulatedMeter:
    """The meter used everywhere: PV exporting at FIXED_NOW, so 0xE7 is negative."""
    return SimulatedMeter(curve=LoadCurve(seed=7, pv_peak_w=4000.0))


def _typed(class_id: int, values: Iterable[tuple[int, Any]]) -> tuple[Property, ...]:
    return tuple(Property(epc, encode_property(class_id, epc, value)) for epc, value in values)


def _hex(text: str) -> tuple[Property, ...]:
    """``"e7=7ffffffe e2="`` -> properties; an empty EDT is PDC 0."""
    pairs = (item.partition("=") for item in text.split())
    return tuple(Property(int(epc, 16), bytes.fromhex(edt)) for epc, _, edt in pairs)


def build_corpus() -> list[Case]:
    """Frames of every ESV, PDC 0, multi-property, 194-byte 0xE2, unknown EPCs and ESVs."""
    meter = make_meter()
    node = meter_node(meter)

    def live(*epcs: int, obj: Any = meter) -> tuple[Property, ...]:
        return tuple(Property(epc, obj.read(epc, FIXED_NOW) or b"") for epc in epcs)

    m, c, n, f = METER_EOJ, CONTROLLER, NODE_PROFILE, Frame
    instantaneous = _typed(METER_CLASS, [
        (0xE7, -1234), (0xE8, {"r_phase": 12.3, "t_phase": -4.5}), (0xE0, 12_345_678),
        (0xE3, 0), (0xD3, 1), (0xD7, 6), (0xE1, "0.1"), (0x80, "on"), (0x88, "no_fault"),
        (0x8A, b"\x00\x00\x16"), (0x97, datetime(2026, 1, 15, 7, 5).time()),
    ])  # fmt: skip
    profile = live(
        0x80, 0x82, 0x83, 0x8A, 0xD3, 0xD4, 0xD6, 0xD7, 0x9D, 0x9E, 0x9F, obj=node.profile
    )
    short_map = Property(0x9D, encode_property_map([0x80, 0x81, 0x88, 0xE0, 0xEA]))
    unknown_class = (EOJ(0x0F, 0xFF, 0x01), EOJ(0x02, 0x7F, 0x03))
    return [
        Case("get_request", f(0x0001, c, m, ESV.GET, _hex("e7= e0= e1= d3= d7= e8="))),
        Case("get_res_full_meter", f(0x0002, m, c, ESV.GET_RES, live(*sorted(meter.supported)))),
        Case("get_res_instantaneous", f(0x0003, m, c, ESV.GET_RES, instantaneous)),
        Case("get_res_no_data", f(0x0004, m, c, ESV.GET_RES, _hex(
            "e7=7ffffffe e0=fffffffe e3=fffffffe e8=00057ffe 88=41 80=31"))),
        Case("get_res_overflow_underflow", f(0x0005, m, c, ESV.GET_RES, _hex(
            "e7=80000000 e8=7fff8000 e1=0d d7=08 d3=0000000a"))),
        Case("get_res_history_e2_194", f(0xFFFF, m, c, ESV.GET_RES, live(0xE5, 0xE2, 0xE4))),
        Case("get_res_property_maps", f(0x0006, m, c, ESV.GET_RES, (
            *live(0x9D, 0x9E, 0x9F), short_map))),
        Case("get_res_node_profile", f(0x0007, n, c, ESV.GET_RES, profile)),
        Case("get_sna_pdc0", f(0x0008, m, c, ESV.GET_SNA, (*live(0xE7), *_hex("f0= e2=")))),
        Case("seti", f(0x0009, c, m, ESV.SETI, _typed(METER_CLASS, [(0xE5, 3)]))),
        Case("seti_sna", f(0x000A, m, c, ESV.SETI_SNA, _hex("e5=64"))),
        Case("setc", f(0x000B, c, m, ESV.SETC, _hex("e5=01 ed=07ea010f0c1e02"))),
        Case("set_res_pdc0", f(0x000C, m, c, ESV.SET_RES, _hex("e5= ed="))),
        Case("setc_sna_echo", f(0x000D, m, c, ESV.SETC_SNA, _hex("e5= ed=07ea010f0c1f02"))),
        Case("inf_req", f(0x000E, c, m, ESV.INF_REQ, _hex("ea="))),
        Case("inf_fixed_time", f(0x000F, m, n, ESV.INF, live(0xEA, 0xEB))),
        Case("inf_sna_pdc0", f(0x0010, m, c, ESV.INF_SNA, _hex("ea= f1="))),
        Case("infc_instance_list", f(0x0011, n, c, ESV.INFC, _hex("d5=01028801"))),
        Case("infc_res_pdc0", f(0x0011, c, n, ESV.INFC_RES, _hex("d5="))),
        Case("setget", f(0x0012, c, m, ESV.SETGET, _hex("e5=01"), _hex("e2= e7="))),
        Case("setget_res", f(0x0013, m, c, ESV.SETGET_RES, _hex("e5="), live(0xE2, 0xE7))),
        Case("setget_sna", f(0x0014, m, c, ESV.SETGET_SNA, _hex("e5=64"), (
            *live(0xE7), *_hex("e2=")))),
        Case("unknown_epcs", f(0x0015, m, c, ESV.GET_RES, (
            *_hex("f5=deadbeef 00=01 7f="), Property(0xFA, bytes(range(255)))))),
        Case("unknown_class", f(0x0016, *unknown_class, ESV.GET_RES, _hex("b0=42 e7=00000001"))),
        Case("unknown_esv", f(0x0017, c, m, 0x45, _hex("e7=00000002"))),
        Case("tid_zero_single", f(0x0000, c, m, ESV.GET, _hex("e7="))),
        Case("duplicate_epc", f(0x0018, m, c, ESV.GET_RES, (*live(0xE7), *_hex("e7=00000007")))),
        Case("opc0", f(0x0019, m, c, ESV.INF)),
        Case("format2", ArbitraryFrame(0x001A, bytes.fromhex("0102030405ff060708090a0b"))),
    ]  # fmt: skip


def random_corpus(count: int = 200, seed: int = 3610) -> list[Case]:
    """Seeded random format-1 frames: any EOJs, TIDs and ESVs (unknown ones too), 1-8 EPCs.

    No SetGet family (both peers parse one list), no repeated EPC and no map
    EPCs 0x9D-0x9F (whose EDT EL rewrites): those are covered by the fixed corpus.
    """
    rng = random.Random(seed)
    esvs: list[ESV | int] = [e for e in ESV if e not in _SETGET_FAMILY] + [0x00, 0x45, 0xFF]
    epcs = [e for e in range(0x80, 0x100) if e not in _MAPS]

    def eoj() -> EOJ:
        return EOJ(rng.randrange(256), rng.randrange(256), rng.randrange(256))

    cases = []
    for index in range(count):
        props = tuple(
            Property(epc, rng.randbytes(rng.choice((0, 1, 2, 4, rng.randrange(256)))))
            for epc in rng.sample(epcs, rng.randint(1, 8))
        )
        frame = Frame(rng.randrange(0x10000), eoj(), eoj(), rng.choice(esvs), props)
        cases.append(Case(f"random_{index:03d}", frame))
    return cases


def value_class(frame: Frame) -> int:
    """Requests carry the target's properties, everything else the source's."""
    esv = frame.esv
    return frame.deoj.class_id if isinstance(esv, ESV) and esv.is_request else frame.seoj.class_id


# ------------------------------------------------ pychonet's typed decoders
def their_typed(class_id: int, epc: int, edt: bytes) -> tuple[bool, Any]:
    """pychonet's typed value of ``edt``, if it has a decoder: (found, value)."""
    from pychonet.EchonetInstance import call_epc_function
    from pychonet.lib.epc_functions import EPC_SUPER_FUNCTIONS
    from pychonet.LowVoltageSmartElectricEnergyMeter import (
        LowVoltageSmartElectricEnergyMeter as Lvseem,
    )

    if class_id == METER_CLASS and epc in Lvseem.EPC_FUNCTIONS:
        return True, call_epc_function(Lvseem.EPC_FUNCTIONS[epc], edt)
    if class_id >> 8 != 0x0E and epc in EPC_SUPER_FUNCTIONS:
        return True, call_epc_function(EPC_SUPER_FUNCTIONS[epc], edt)
    return False, None


def ours_as_theirs(class_id: int, epc: int, value: Any) -> tuple[bool, Any]:
    """Our typed value in pychonet's representation: (comparable, value)."""
    from pychonet.lib.const import MANUFACTURERS

    converters: dict[int, Callable[[Any], Any]] = {
        0x80: lambda v: v,
        0x88: lambda v: {"fault": "on", "no_fault": "off"}[v],  # pychonet: DICT_41_ON_OFF
        0x8A: lambda v: MANUFACTURERS.get(int.from_bytes(v, "big"), int.from_bytes(v, "big")),
        0x83: lambda v: v[1:].hex(),
        0x97: lambda v: f"{v.hour}:{v.minute:02d}",
        0x9D: sorted,
        0x9E: sorted,
        0x9F: sorted,
    }
    if class_id == METER_CLASS:
        converters.update(
            {
                0xD3: lambda v: v,
                0xD7: lambda v: v,
                0xE0: lambda v: v,
                0xE3: lambda v: v,
                0xE7: lambda v: v,
                0xE1: float,
                0xE8: lambda v: {"r_phase_amperes": v["r_phase"], "t_phase_amperes": v["t_phase"]},
            }
        )
    convert = converters.get(epc)
    if convert is None:
        return False, None
    return True, convert(value)


def compare_typed(report: Report, where: str, class_id: int, epc: int, edt: bytes) -> None:
    """Compare pychonet's typed decoder for ``epc`` with ours (where pychonet has one)."""
    found, theirs = their_typed(class_id, epc, edt)
    try:
        ours = decode_property(class_id, epc, edt).value
    except DecodeError as exc:
        report.check(False, f"{where} 0x{epc:02X} typed", f"our decoder refused it: {exc}")
        return
    comparable, mapped = ours_as_theirs(class_id, epc, ours)
    if found and comparable:
        if epc in _MAPS:
            theirs = sorted(theirs)
        report.equal(f"{where} 0x{epc:02X} typed value", mapped, theirs)
    if class_id == METER_CLASS and epc in (0xEA, 0xEB) and ours["timestamp"] is not None:
        # pychonet has _0288EA but leaves it out of EPC_FUNCTIONS; call it directly.
        from pychonet.LowVoltageSmartElectricEnergyMeter import _0288EA

        theirs_ea = _0288EA(edt)
        report.equal(
            f"{where} 0x{epc:02X} typed value (_0288EA)",
            {"time": ours["timestamp"].isoformat(), "culmative_value": ours["energy"]},
            theirs_ea,
        )


# ------------------------------------------------------ decoder agreement
def check_decoders(report: Report, cases: list[Case], *, typed: bool = True) -> None:
    """pychonet's decodeEchonetMsg against our decode (and typed decoders if ``typed``)."""
    from pychonet.lib.functions import decodeEchonetMsg

    for case in cases:
        data = case.data
        ours = el_frame.decode(data)
        report.equal(f"{case.name} round trip", el_frame.encode(ours), data)
        if isinstance(ours, ArbitraryFrame):
            report.exclude(
                f"{case.name} (pychonet)",
                "decodeEchonetMsg accepts EHD2 0x82 but parses EDATA as format 1; "
                "it has no format-2 representation to compare",
            )
            continue
        theirs = decodeEchonetMsg(data)
        doc = echonet_to_json(ours)
        where = f"{case.name} (pychonet)"
        report.equal(f"{where} TID", doc["tid"], theirs["TID"])
        report.equal(
            f"{where} SEOJ",
            doc["seoj"],
            f"{theirs['SEOJGC']:02X}{theirs['SEOJCC']:02X}{theirs['SEOJCI']:02X}",
        )
        report.equal(
            f"{where} DEOJ",
            doc["deoj"],
            f"{theirs['DEOJGC']:02X}{theirs['DEOJCC']:02X}{theirs['DEOJCI']:02X}",
        )
        report.equal(f"{where} ESV", doc["esv"], theirs["ESV"])
        ours_props = [(p["epc"], p["pdc"], p["edt"]) for p in doc["properties"]]
        their_props = [(o["EPC"], o["PDC"], bytes(o["EDT"]).hex()) for o in theirs["OPC"]]
        report.equal(f"{where} properties (EPC, PDC, EDT)", ours_props, their_props)
        if ours.esv in _SETGET_FAMILY:
            report.exclude(
                f"{where} OPCGet list",
                "decodeEchonetMsg reads only the first property list; the SetGet "
                "family's OPCGet list is not parsed",
            )
        cls = value_class(ours)
        for prop in ours.properties:
            if typed and prop.edt:
                compare_typed(report, where, cls, prop.epc, prop.edt)


def check_builder(report: Report) -> None:
    """Frames built by pychonet's buildEchonetMsg decode identically with ours."""
    from pychonet.lib.functions import buildEchonetMsg, decodeEchonetMsg

    # (name, TID, DEOJ, ESV, [(EPC, PDC, EDT as int)]); PDC None leaves the key out.
    plans: list[tuple[str, int, int, int, list[tuple[int, int | None, int]]]] = [
        (
            "build_get_meter",
            0x0102,
            0x028801,
            0x62,
            [(0xE7, None, 0), (0xE0, None, 0), (0xD3, None, 0)],
        ),
        ("build_get_pdc0", 0xFFFF, 0x028801, 0x62, [(0xE8, 0, 0)]),
        (
            "build_discover",
            0x0001,
            0x0EF001,
            0x62,
            [(e, None, 0) for e in (0x8A, 0x8C, 0x83, 0xD6)],
        ),
        ("build_setc", 0x0A0B, 0x028801, 0x61, [(0xE5, 1, 0x03), (0xED, 7, 0x07EA010F0C1E02)]),
        ("build_setc_leading_zero", 0x0000, 0x028801, 0x61, [(0xE5, 1, 0x00)]),
        ("build_seti", 0x0203, 0x028801, 0x60, [(0x80, 1, 0x30)]),
        ("build_inf_req", 0x0304, 0x0EF001, 0x63, [(0xD5, None, 0)]),
    ]
    requests: list[tuple[str, dict[str, Any]]] = [
        (name, {
            "TID": tid, "DEOJGC": deoj >> 16, "DEOJCC": (deoj >> 8) & 0xFF, "DEOJCI": deoj & 0xFF,
            "ESV": esv,
            "OPC": [{"EPC": e} if p is None else {"EPC": e, "PDC": p, "EDT": d} for e, p, d in opc],
        })
        for name, tid, deoj, esv, opc in plans
    ]  # fmt: skip
    for name, message in requests:
        data = bytes(buildEchonetMsg(dict(message)))
        try:
            ours = el_frame.decode(data)
        except DecodeError as exc:
            report.check(False, f"{name} decodes", str(exc))
            continue
        if not report.check(isinstance(ours, Frame), f"{name} is format 1"):
            continue
        assert isinstance(ours, Frame)
        report.equal(f"{name} TID", ours.tid, message["TID"])
        report.equal(f"{name} SEOJ (pychonet's fixed 05FF01)", ours.seoj, CONTROLLER)
        deoj = EOJ(message["DEOJGC"], message["DEOJCC"], message["DEOJCI"])
        report.equal(f"{name} DEOJ", ours.deoj, deoj)
        report.equal(f"{name} ESV", int(ours.esv), message["ESV"])
        wanted = [
            (o["EPC"], o.get("EDT", 0).to_bytes(o.get("PDC", 0), "big")) for o in message["OPC"]
        ]
        report.equal(f"{name} properties", [(p.epc, p.edt) for p in ours.properties], wanted)
        theirs = decodeEchonetMsg(data)
        report.equal(
            f"{name} pychonet re-decode",
            [(p.epc, p.edt) for p in ours.properties],
            [(o["EPC"], bytes(o["EDT"])) for o in theirs["OPC"]],
        )
    report.exclude(
        "buildEchonetMsg SetGet/INF/answers",
        "buildEchonetMsg has no OPCGet list (no SetGet) and always writes SEOJ 05FF01; "
        "answers and notifications are covered by the corpus direction",
    )


# -------------------------------------------------------- live UDP session
async def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def check_live(report: Report) -> None:
    """pychonet's client reads our meter over loopback UDP; compared with our client."""
    from pychonet import ECHONETAPIClient
    from pychonet.lib.udpserver import UDPServer
    from pychonet.LowVoltageSmartElectricEnergyMeter import (
        LowVoltageSmartElectricEnergyMeter as Lvseem,
    )

    node: Node = meter_node(make_meter(), now=FIXED_NOW)
    server = UDPServer(local_ip=PYCHONET_HOST)
    server.run(PYCHONET_HOST, ECHONET_PORT, asyncio.get_running_loop())
    api = ECHONETAPIClient(server)
    announced: list[str] = []
    messages: list[str] = []

    async def on_unknown_node(host: str) -> None:
        announced.append(host)

    api.configure(
        logger=lambda *a: messages.append(" ".join(map(str, a))),
        discover_callback=on_unknown_node,
        message_timeout=50,
    )
    try:
        async with serve_node(
            node,
            local=(METER_HOST, ECHONET_PORT),
            group=(PYCHONET_HOST, ECHONET_PORT),
            clock=lambda: FIXED_NOW,
        ):
            await _session(report, api, Lvseem, node, announced)
    finally:
        server.close()


async def _session(report: Report, api: Any, lvseem: Any, node: Node, announced: list[str]) -> None:
    host = METER_HOST
    report.check(
        await _wait_for(lambda: host in announced, 2.0),
        "pychonet hears the meter's start-up INF (0xD5) as an unknown node",
        f"callbacks: {announced}",
    )
    report.check(await api.discover(host) is True, "pychonet discover(host) succeeds")
    instances = api.state.get(host, {}).get("instances", {})
    report.check(
        1 in instances.get(0x02, {}).get(0x88, {}),
        "pychonet lists instance 0x028801 from 0xD6",
        f"instances: {instances}",
    )
    report.equal(
        "pychonet node uid (0x83 of the node profile)",
        node.profile.read(0x83, FIXED_NOW)[1:].hex(),  # type: ignore[index]
        api.state[host].get("uid"),
    )
    report.check(
        await api.getAllPropertyMaps(host, 0x02, 0x88, 0x01) is True,
        "pychonet getAllPropertyMaps succeeds",
    )
    report.check(
        await api.getIdentificationInformation(host, 0x02, 0x88, 0x01) is True,
        "pychonet getIdentificationInformation succeeds",
    )
    state = api.state[host]["instances"][0x02][0x88][0x01]
    meter = node.objects[METER_EOJ]
    for epc in _MAPS:
        ours_map = sorted(
            decode_property(METER_CLASS, epc, meter.read(epc, FIXED_NOW) or b"").value
        )
        report.equal(f"live map 0x{epc:02X}", ours_map, sorted(state[epc]))
    getmap: list[int] = list(state[0x9F])
    # pychonet stores 0x83/0x8A of device objects already decoded, and update()
    # decodes them again (TypeError): they are read from the state instead.
    wanted = [epc for epc in getmap if epc not in (0x83, 0x8A)]
    instance = lvseem(host, api)
    typed = await instance.update(wanted)
    report.check(
        isinstance(typed, dict) and set(typed) == set(wanted),
        f"pychonet update() of {len(wanted)} EPCs answers all",
        f"got {typed!r}",
    )
    single = await instance.update(0xE7)
    from pychonet.lib.epc import EPC_CODE, EPC_SUPER

    known = set(EPC_CODE[0x02][0x88]) | set(EPC_SUPER)
    async with EchonetClient.udp(local=(OURS_HOST, ECHONET_PORT), timeout=2.0) as client:
        done = await client.get((host, ECHONET_PORT), METER_EOJ, getmap)
    report.check(done.ok, "our client reads every EPC of the get map", f"refused {done.refused}")
    for epc in getmap:
        ours_value = done.values.get(epc)
        if ours_value is None:
            report.check(False, f"live 0x{epc:02X}", "our client got no value")
            continue
        if epc in (0x83, 0x8A):
            from pychonet.lib.epc_functions import EPC_SUPER_FUNCTIONS

            report.equal(
                f"live 0x{epc:02X} (pychonet's stored decode)",
                EPC_SUPER_FUNCTIONS[epc](ours_value.edt),
                state.get(epc),
            )
            continue
        if epc in _MAPS:
            continue
        report.equal(f"live 0x{epc:02X} raw EDT", ours_value.edt, state.get(epc))
        found, _ = their_typed(METER_CLASS, epc, ours_value.edt)
        comparable, mapped = ours_as_theirs(METER_CLASS, epc, ours_value.value)
        if found and comparable and isinstance(typed, dict):
            report.equal(f"live 0x{epc:02X} pychonet update() value", mapped, typed[epc])
        elif epc not in known:
            report.exclude(
                f"live 0x{epc:02X} pychonet update()",
                "pychonet's EPC table for 0x0288 lacks this EPC, so update() returns None "
                "(its raw EDT is compared above)",
            )
        elif isinstance(typed, dict):
            report.equal(
                f"live 0x{epc:02X} pychonet update() hex", ours_value.edt.hex(), typed[epc]
            )
    report.equal("live single update(0xE7)", done.values[0xE7].value, single)
    report.equal("meter dropped no frame from pychonet or us", node.dropped, 0)


# ------------------------------------------------------------------- driver
def installed_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pychonet")
    except PackageNotFoundError:
        return None


async def run_all(*, live: bool = True) -> Report:
    version = installed_version()
    report = Report(f"pychonet {version} (pinned {PYCHONET_VERSION})")
    check_decoders(report, build_corpus())
    check_decoders(report, random_corpus(), typed=False)
    check_builder(report)
    if live:
        await check_live(report)
    return report


def report_main(
    argv: list[str] | None,
    *,
    doc: str | None,
    installed: Callable[[], str | None],
    missing: str,
    run_all: Callable[..., Coroutine[Any, Any, Report]],
) -> int:
    """A check script's ``main``: ``--no-live``, exit 2 when the peer is missing (``missing``
    on stderr), else run ``run_all`` and print its report; 0 when every check passed, else 1."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--no-live", action="store_true", help="skip the UDP session")
    args = parser.parse_args(argv)
    if installed() is None:
        print(missing, file=sys.stderr)
        return 2
    report = asyncio.run(run_all(live=not args.no_live))
    print(report.render())
    return 0 if report.ok else 1


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
