"""Conformance checks for one ECHONET Lite node: small async functions, each with an id and a rule.

Every check takes a :class:`~.runner.Probe` (the client, the target address
and a tap on the raw datagrams) and the :class:`Target` object under test, and returns a
:class:`Verdict`. The rules are those of the ECHONET Lite Specification Part II
and the APPENDIX (Detailed Requirements for ECHONET Device Objects) as
encoded in ``specs/echonet``: access rules, mandatory marks, EDT types.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Final, TypeAlias

from ..echonet.frame import EOJ, ESV, Frame, Property
from ..echonet.node import NODE_PROFILE
from ..echonet.properties import validate_set
from ..echonet.session import CONTROLLER
from ..echonet.specs import SUPER_CLASS, ClassSpec, load_class

if TYPE_CHECKING:
    from .runner import Exchange, Probe

__all__ = [
    "CHECKS",
    "FUZZ_ALIVE",
    "NODE_REACHABLE",
    "OBJECT_CHECKS",
    "CheckInfo",
    "Outcome",
    "Result",
    "Target",
    "Verdict",
]

#: Property maps (Part II Annex 1; APPENDIX §2.2: mandatory for every object).
ANNO_MAP: Final = 0x9D
SET_MAP: Final = 0x9E
GET_MAP: Final = 0x9F
#: Operation status 0x80: the property the APPENDIX announces on status change first.
OPERATION_STATUS: Final = 0x80
#: Self-node instance list S of the node profile (Part II §6.11.1).
SELF_NODE_INSTANCE_LIST: Final = 0xD6
#: Read-only properties whose value does not change by itself, tried first for the Set checks.
_STATIC_READ_ONLY: Final = (0x8A, 0x82, 0x83, 0xD3, 0xD7, 0x8D)
#: Answers a Set may bring (Part II §3.2.5).
_SET_ANSWERS: Final = frozenset({ESV.SET_RES, ESV.SETC_SNA, ESV.SETI_SNA})
_GET_ANSWERS: Final = frozenset({ESV.GET_RES, ESV.GET_SNA})
#: Class group 0x0E holds the profile objects, which do not inherit the super class.
_PROFILE_GROUP: Final = 0x0E


class Outcome(StrEnum):
    PASS = "PASS"  # noqa: S105 - an outcome, not a password
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True, slots=True)
class CheckInfo:
    """What a check verifies: a stable id, a title and the specification rule it applies."""

    check_id: str
    title: str
    rule: str


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reason: str


@dataclass(frozen=True, slots=True)
class Result:
    """One check applied to one subject (an EOJ, or ``node``)."""

    check: CheckInfo
    subject: str
    outcome: Outcome
    reason: str
    duration_s: float = 0.0

    @property
    def check_id(self) -> str:
        return self.check.check_id


def passed(reason: str) -> Verdict:
    return Verdict(Outcome.PASS, reason)


def failed(reason: str) -> Verdict:
    return Verdict(Outcome.FAIL, reason)


def skipped(reason: str) -> Verdict:
    return Verdict(Outcome.SKIP, reason)


def _hexes(epcs: Iterable[int]) -> str:
    return " ".join(f"0x{e:02X}" for e in epcs) or "none"


@dataclass(slots=True)
class Target:
    """An object under test; checks fill ``maps`` and ``timings`` as they go."""

    eoj: EOJ
    spec: ClassSpec | None
    maps: dict[int, tuple[int, ...]] | None = None
    timings: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, eoj: EOJ) -> Target:
        spec = load_class(eoj.class_id)
        if spec is None and eoj.class_group != _PROFILE_GROUP:
            spec = load_class(SUPER_CLASS)  # unknown device class: the super class rules
        return cls(eoj, spec)


CheckFn: TypeAlias = "Callable[[Probe, Target], Awaitable[Verdict]]"


def _exchange_problem(exchange: Exchange) -> str | None:
    if exchange.done is None:
        return exchange.error or "no answer"
    problems = []
    if exchange.done.refused:
        problems.append(f"refused {_hexes(exchange.done.refused)}")
    if exchange.done.undecodable:
        problems.append(
            "; ".join(
                f"0x{epc:02X} undecodable: {err.reason}" for epc, err in exchange.done.undecodable
            )
        )
    return "; ".join(problems) or None


# --------------------------------------------------------------------- node check
NODE_REACHABLE: Final = CheckInfo(
    "node.reachable",
    "Node profile answers and lists its instances (0xD6)",
    "Part II §6.11.1: node profile 0x0EF001, self-node instance list S 0xD6 mandatory (Get)",
)


async def node_reachable(probe: Probe, profile: Target) -> tuple[Verdict, tuple[EOJ, ...]]:
    exchange = await probe.get(profile, [SELF_NODE_INSTANCE_LIST])
    problem = _exchange_problem(exchange)
    if problem is not None or exchange.done is None:
        return failed(f"Get 0x0EF001 0xD6: {problem}"), ()
    value = exchange.done.values.get(SELF_NODE_INSTANCE_LIST)
    if value is None or not isinstance(value.value, tuple):
        return failed("Get 0x0EF001 0xD6 answered without the instance list"), ()
    instances = tuple(e for e in value.value if isinstance(e, EOJ))
    listed = ", ".join(str(e) for e in instances) or "no instances"
    return passed(f"instance list: {listed}"), instances


# ------------------------------------------------------------------ object checks
PROPERTY_MAPS: Final = CheckInfo(
    "object.property_maps",
    "Property maps 0x9D/0x9E/0x9F decodable and listing the mandatory properties",
    "Part II Annex 1 (property map format); APPENDIX: mandatory properties in the maps",
)
MANDATORY_GET: Final = CheckInfo(
    "object.mandatory_get",
    "Mandatory Get properties readable and decodable by their spec type",
    "APPENDIX class tables: properties marked mandatory (Get), with their EDT types",
)
GET_MAP_READABLE: Final = CheckInfo(
    "object.get_map_readable",
    "Every EPC of the Get map 0x9F answers a Get",
    "Part II Annex 1: 0x9F lists the properties the object serves with Get",
)
SNA_UNKNOWN_EPC: Final = CheckInfo(
    "object.sna_unknown_epc",
    "Get of an EPC outside 0x9F gives Get_SNA with PDC 0",
    "Part II §3.2.5 and §4.2.3: an unserved property is answered by Get_SNA (0x52), PDC 0",
)
TID_SEOJ_ECHO: Final = CheckInfo(
    "object.tid_seoj_echo",
    "Answers echo the TID and come from the addressed object (SEOJ)",
    "Part II §3.2.2 (TID copied into the response) and §3.2.4 (SEOJ = object answering)",
)
SETC_REFUSED: Final = CheckInfo(
    "object.setc_refused",
    "SetC of a property outside 0x9E is refused with SetC_SNA",
    "Part II §3.2.5 and §4.2.3: a property that cannot be set is answered by SetC_SNA (0x51)",
)
SETI_READ_ONLY: Final = CheckInfo(
    "object.seti_read_only",
    "SetI of a read-only property: SetI_SNA or silence, value unchanged",
    "Part II §3.2.5 and §4.2.3: SetI is answered only by SetI_SNA (0x50) when refused",
)
STATUS_INF: Final = CheckInfo(
    "object.status_inf",
    "A change of a property in 0x9D is announced with INF",
    "APPENDIX / Part II Annex 1: properties in 0x9D are announced (INF 0x73) on status change",
)
RESPONSE_TIME: Final = CheckInfo(
    "object.response_time",
    "Every answer arrives within the response-time bound",
    "Devices are expected to answer promptly; bound configurable (default 2 s)",
)


async def property_maps(probe: Probe, target: Target) -> Verdict:
    exchange = await probe.get(target, [ANNO_MAP, SET_MAP, GET_MAP])
    problem = _exchange_problem(exchange)
    if problem is not None or exchange.done is None:
        return failed(f"Get 0x9D 0x9E 0x9F: {problem}")
    maps = {epc: tuple(exchange.done.values[epc].value) for epc in (ANNO_MAP, SET_MAP, GET_MAP)}
    target.maps = maps
    if target.spec is None:
        return passed("maps decode; no class file to compare them with")
    missing = []
    for operation, epc in (("get", GET_MAP), ("set", SET_MAP), ("anno", ANNO_MAP)):
        absent = [e for e in target.spec.mandatory_epcs(operation) if e not in maps[epc]]
        if absent:
            missing.append(f"0x{epc:02X} lacks mandatory {operation} {_hexes(absent)}")
    if missing:
        return failed("; ".join(missing))
    sizes = ", ".join(f"0x{epc:02X}: {len(maps[epc])}" for epc in maps)
    return passed(f"maps decode and list every mandatory property ({sizes} EPCs)")


async def mandatory_get(probe: Probe, target: Target) -> Verdict:
    if target.spec is None:
        return skipped(f"no class file for 0x{target.eoj.class_id:04X}")
    wanted = target.spec.mandatory_epcs("get")
    if not wanted:
        return skipped("the class marks no property mandatory for Get")
    exchange = await probe.get(target, wanted)
    problem = _exchange_problem(exchange)
    if problem is not None:
        return failed(f"mandatory Get {_hexes(wanted)}: {problem}")
    return passed(f"read and decoded {_hexes(wanted)}")


def _maps_or_skip(target: Target) -> dict[int, tuple[int, ...]] | Verdict:
    if target.maps is None:
        return skipped("property maps unavailable (see object.property_maps)")
    return target.maps


async def get_map_readable(probe: Probe, target: Target) -> Verdict:
    maps = _maps_or_skip(target)
    if isinstance(maps, Verdict):
        return maps
    exchange = await probe.get(target, maps[GET_MAP])
    problem = _exchange_problem(exchange)
    if problem is not None:
        return failed(f"Get of the 0x9F map: {problem}")
    return passed(f"all {len(maps[GET_MAP])} EPCs of 0x9F answered")


async def sna_unknown_epc(probe: Probe, target: Target) -> Verdict:
    maps = _maps_or_skip(target)
    if isinstance(maps, Verdict):
        return maps
    unknown = next((e for e in range(0xFF, 0x7F, -1) if e not in maps[GET_MAP]), None)
    if unknown is None:
        return skipped("0x9F lists every EPC 0x80..0xFF")
    exchange = await probe.get(target, [unknown])
    done = exchange.done
    if done is None:
        return failed(f"Get of 0x{unknown:02X} (not in 0x9F): no answer, expected Get_SNA")
    if done.esv is not ESV.GET_SNA or unknown not in done.refused:
        return failed(
            f"Get of 0x{unknown:02X} (not in 0x9F) answered {done.esv.name}, "
            "expected Get_SNA with PDC 0"
        )
    return passed(f"Get of 0x{unknown:02X} answered Get_SNA, PDC 0")


async def tid_seoj_echo(probe: Probe, target: Target) -> Verdict:
    tid = probe.next_tid()
    request = Frame(tid, CONTROLLER, target.eoj, ESV.GET, (Property(GET_MAP),))
    answers = await probe.raw_request(request, _GET_ANSWERS, wait=probe.timeout)
    if not answers:
        return failed(f"no answer to a Get of 0x9F with TID 0x{tid:04X}")
    answer = answers[0]
    problems = []
    if answer.tid != tid:
        problems.append(f"TID 0x{answer.tid:04X} answered to TID 0x{tid:04X}")
    if answer.seoj != target.eoj:
        problems.append(f"SEOJ {answer.seoj} answered for DEOJ {target.eoj}")
    if problems:
        return failed("; ".join(problems))
    return passed(f"TID 0x{tid:04X} echoed by {answer.seoj}")


def _read_only(target: Target, maps: Mapping[int, tuple[int, ...]]) -> list[int]:
    """Readable EPCs outside 0x9E, static ones first, the maps themselves excluded."""
    candidates = [
        e for e in maps[GET_MAP] if e not in maps[SET_MAP] and e not in (ANNO_MAP, SET_MAP, GET_MAP)
    ]
    return sorted(candidates, key=lambda e: (e not in _STATIC_READ_ONLY, _rank(e)))


def _rank(epc: int) -> int:
    return _STATIC_READ_ONLY.index(epc) if epc in _STATIC_READ_ONLY else epc


async def _current(probe: Probe, target: Target, epc: int) -> bytes | None:
    exchange = await probe.get(target, [epc])
    if exchange.done is None or epc not in exchange.done.values:
        return None
    return exchange.done.values[epc].edt


async def setc_refused(probe: Probe, target: Target) -> Verdict:
    maps = _maps_or_skip(target)
    if isinstance(maps, Verdict):
        return maps
    candidates = _read_only(target, maps)
    if not candidates:
        return skipped("every readable property is in 0x9E")
    epc = candidates[0]
    # Its own current value: a device that wrongly accepts changes nothing.
    edt = await _current(probe, target, epc)
    if edt is None:
        return skipped(f"0x{epc:02X} could not be read to write it back")
    exchange = await probe.set(target, {epc: edt})
    done = exchange.done
    if done is None:
        return failed(f"SetC of 0x{epc:02X} (not in 0x9E): no answer, expected SetC_SNA")
    if done.esv is not ESV.SETC_SNA:
        return failed(f"SetC of 0x{epc:02X} (not in 0x9E) answered {done.esv.name}")
    return passed(f"SetC of 0x{epc:02X} refused with SetC_SNA")


def _altered(edt: bytes) -> bytes:
    return edt[:-1] + bytes((edt[-1] ^ 0x01,)) if edt else b"\x00"


async def seti_read_only(probe: Probe, target: Target) -> Verdict:
    maps = _maps_or_skip(target)
    if isinstance(maps, Verdict):
        return maps
    spec = target.spec
    # Only properties the class itself makes read-only get an altered value.
    candidates = [
        e
        for e in _read_only(target, maps)
        if spec is not None and e in spec.properties and not spec.properties[e].settable
    ]
    if not candidates:
        return skipped("no property that the class makes read-only is in 0x9F")
    epc = candidates[0]
    before = await _current(probe, target, epc)
    if before is None:
        return skipped(f"0x{epc:02X} could not be read before the SetI")
    tid = probe.next_tid()
    request = Frame(tid, CONTROLLER, target.eoj, ESV.SETI, (Property(epc, _altered(before)),))
    answers = await probe.raw_request(request, _SET_ANSWERS, wait=probe.timeout, first=False)
    after = await _current(probe, target, epc)
    problems = [
        f"SetI of 0x{epc:02X} answered {ESV(a.esv).name}"
        for a in answers
        if a.esv is not ESV.SETI_SNA
    ]
    if after != before:
        problems.append(f"0x{epc:02X} changed from {before.hex()} to {after and after.hex()}")
    if problems:
        return failed("; ".join(problems))
    how = "SetI_SNA" if answers else "silence"
    return passed(f"SetI of read-only 0x{epc:02X}: {how}, value unchanged")


def _alternative(class_id: int, epc: int, edt: bytes) -> bytes | None:
    """A different EDT the class accepts for ``epc`` (0x30 <-> 0x31 for 0x80)."""
    if not edt:
        return None
    last = edt[-1]
    for candidate in (last ^ 0x01, (last + 1) & 0xFF, (last - 1) & 0xFF):
        alternative = edt[:-1] + bytes((candidate,))
        if alternative != edt and validate_set(class_id, epc, alternative) is None:
            return alternative
    return None


async def status_inf(probe: Probe, target: Target) -> Verdict:
    maps = _maps_or_skip(target)
    if isinstance(maps, Verdict):
        return maps
    both = [e for e in maps[ANNO_MAP] if e in maps[SET_MAP]]
    if not both:
        return skipped("no property of 0x9D can be set (none in 0x9E): no change to provoke")
    epc = OPERATION_STATUS if OPERATION_STATUS in both else both[0]
    before = await _current(probe, target, epc)
    if before is None:
        return skipped(f"0x{epc:02X} could not be read")
    alternative = _alternative(target.eoj.class_id, epc, before)
    if alternative is None:
        return skipped(f"no alternative value of 0x{epc:02X} ({before.hex()}) passes the spec")
    probe.drain_notifications()
    exchange = await probe.set(target, {epc: alternative})
    if exchange.done is None or exchange.done.esv is not ESV.SET_RES:
        answered = exchange.error if exchange.done is None else exchange.done.esv.name
        return failed(f"SetC of 0x{epc:02X} (in 0x9E) to {alternative.hex()}: {answered}")
    seen = await probe.wait_notification(target.eoj, epc, alternative, probe.timeout)
    restore = await probe.set(target, {epc: before})
    probe.drain_notifications()
    restored = restore.done is not None and restore.done.esv is ESV.SET_RES
    note = "" if restored else f"; could not restore 0x{epc:02X} to {before.hex()}"
    if not seen:
        return failed(f"no INF of 0x{epc:02X} after it changed to {alternative.hex()}{note}")
    if not restored:
        return failed(f"INF seen{note}")
    return passed(f"INF of 0x{epc:02X} announced the change; value restored")


def response_time(bound_s: float) -> CheckFn:
    async def check(probe: Probe, target: Target) -> Verdict:
        if not target.timings:
            return skipped("no answered request to time")
        slowest = max(target.timings)
        if slowest > bound_s:
            slow = sum(1 for t in target.timings if t > bound_s)
            return failed(
                f"{slow} of {len(target.timings)} answers slower than {bound_s:g} s "
                f"(slowest {slowest:.3f} s)"
            )
        return passed(f"{len(target.timings)} answers, slowest {slowest:.3f} s ≤ {bound_s:g} s")

    return check


FUZZ_ALIVE: Final = CheckInfo(
    "fuzz.alive",
    "The node survives bursts of malformed frames and still answers a Get",
    "Part II §3.2: frames that break the format are discarded; the node keeps serving",
)

#: Checks run on every object, in order (later ones use the maps read by the first).
OBJECT_CHECKS: Final[tuple[tuple[CheckInfo, CheckFn], ...]] = (
    (PROPERTY_MAPS, property_maps),
    (MANDATORY_GET, mandatory_get),
    (GET_MAP_READABLE, get_map_readable),
    (SNA_UNKNOWN_EPC, sna_unknown_epc),
    (TID_SEOJ_ECHO, tid_seoj_echo),
    (SETC_REFUSED, setc_refused),
    (SETI_READ_ONLY, seti_read_only),
    (STATUS_INF, status_inf),
)
#: Every check, by id (the response-time check is built per run with its bound).
CHECKS: Final[dict[str, CheckInfo]] = {
    info.check_id: info
    for info in (NODE_REACHABLE, *(i for i, _ in OBJECT_CHECKS), RESPONSE_TIME, FUZZ_ALIVE)
}


def profile_target() -> Target:
    return Target.of(NODE_PROFILE)
