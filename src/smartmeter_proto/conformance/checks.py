"""Conformance checks for one ECHONET Lite node: small async functions, each with an id and a rule.

Every check takes a :class:`~.runner.Probe` (the client, the target address
and a tap on the raw datagrams) and the :class:`Target` object under test, and returns a
:class:`Verdict`. The rules are those of the ECHONET Lite Specification Part II
and the APPENDIX (Detailed Requirements for ECHONET Device Objects) as
encoded in ``specs/echonet``: access rules, mandatory marks, EDT types.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, TypeAlias

from ..echonet.frame import EOJ, ESV, Frame, Property
from ..echonet.node import NODE_PROFILE, SELF_NODE_INSTANCE_LIST
from ..echonet.properties import lookup, validate_set
from ..echonet.session import CONTROLLER
from ..echonet.specs import PropertySpec
from ..errors import EncodeError
from .probe import Exchange, Probe, Target

__all__ = [
    "CHECKS",
    "FUZZ_ALIVE",
    "NODE_REACHABLE",
    "OBJECT_CHECKS",
    "WRITE_PREFERENCE",
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
#: Read-only properties whose value does not change by itself, tried first for the Set checks.
_STATIC_READ_ONLY: Final = (0x8A, 0x82, 0x83, 0xD3, 0xD7, 0x8D)
#: Answers a Set may bring (Part II §3.2.5).
_SET_ANSWERS: Final = frozenset({ESV.SET_RES, ESV.SETC_SNA, ESV.SETI_SNA})
_GET_ANSWERS: Final = frozenset({ESV.GET_RES, ESV.GET_SNA})
#: Installation location 0x81 (APPENDIX §2.2, super class): Set and status-change
#: announcement mandatory for every device object; a label with no physical effect.
INSTALLATION_LOCATION: Final = 0x81
#: Order in which the status-change check picks the property it changes (with
#: ``--allow-writes`` only): the harmless label first, operation status last.
WRITE_PREFERENCE: Final = (INSTALLATION_LOCATION,)
#: EDT kinds whose value moves with the clock: writing back a value read a moment
#: ago could set a device's clock back, so the Set check leaves them alone.
_CALENDAR_KINDS: Final = frozenset({"date", "time", "time_hms", "datetime", "datetime_hm"})
#: MRA access-rule names (column per operation) that make a property conditionally
#: mandatory: required when the device has the function (APPENDIX, "required_c").
_CONDITIONAL_RULES: Final = frozenset({"required_c", "required_o"})
_MRA_OPERATION: Final = {"get": "get", "set": "set", "anno": "inf"}


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
VALUES_IN_RANGE: Final = CheckInfo(
    "object.values_in_range",
    "Every value read from 0x9F is in its class's range (defined codes, min..max)",
    "APPENDIX class tables (MRA data: value range, defined codes per EPC); ECHONET Lite "
    "Specification Part II §3.2.5 (Get_Res carries the property value); AIF specifications: "
    "property values within the specified range",
)
SET_ACCEPTED: Final = CheckInfo(
    "object.set_accepted",
    "SetC of each settable property (0x9E) with the value just read back answers Set_Res",
    "Part II §3.2.5 and §4.2.3 (SetC answered Set_Res when accepted) and Annex 1 (0x9E lists "
    "the properties served by Set); APPENDIX access rules. Writes back the value read, so "
    "nothing changes; date/time values and values the class does not accept for Set are left out",
)
STATUS_INF: Final = CheckInfo(
    "object.status_inf",
    "A change of a property in 0x9D is announced with INF (needs --allow-writes)",
    "APPENDIX §2.2 and Part II Annex 1: properties in 0x9D are announced (INF 0x73) on status "
    "change. Changes a value and restores it, so only with --allow-writes: installation "
    "location 0x81 (a label) first, operation status 0x80 last",
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
    conditional = []
    for operation, epc in (("get", GET_MAP), ("set", SET_MAP), ("anno", ANNO_MAP)):
        absent = [e for e in target.spec.mandatory_epcs(operation) if e not in maps[epc]]
        if absent:
            missing.append(
                f"0x{epc:02X} lacks mandatory {operation} {_hexes(absent)} (access rule: required)"
            )
        unlisted = [
            e
            for e, prop in target.spec.properties.items()
            if _access_rule(prop, operation) in _CONDITIONAL_RULES and e not in maps[epc]
        ]
        if unlisted:
            conditional.append(f"{operation} {_hexes(unlisted)}")
    if missing:
        return failed("; ".join(missing))
    sizes = ", ".join(f"0x{epc:02X}: {len(maps[epc])}" for epc in maps)
    note = (
        f"; conditional (required_c), not listed: {', '.join(conditional)}" if conditional else ""
    )
    return passed(f"maps decode and list every mandatory property ({sizes} EPCs){note}")


def _access_rule(prop: PropertySpec, operation: str) -> str | None:
    """The MRA access rule of ``prop`` for ``operation`` (``required``, ``required_c``...)."""
    rule = (prop.extra or {}).get("access_rule")
    if isinstance(rule, Mapping):
        found = rule.get(_MRA_OPERATION[operation])
        return str(found) if found is not None else None
    return "required" if operation in prop.mandatory else None


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
    if exchange.done is not None:
        target.values = dict(exchange.done.values)
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


def _write_order(epcs: Iterable[int]) -> list[int]:
    """The properties the status-change check may change, the most harmless first.

    Installation location 0x81 is a label; other settings follow by EPC; operation
    status 0x80 (which switches a real appliance on or off) comes last.
    """

    def rank(epc: int) -> tuple[int, int]:
        if epc in WRITE_PREFERENCE:
            return (0, WRITE_PREFERENCE.index(epc))
        return (2, epc) if epc == OPERATION_STATUS else (1, epc)

    return sorted(epcs, key=rank)


async def status_inf(probe: Probe, target: Target) -> Verdict:
    maps = _maps_or_skip(target)
    if isinstance(maps, Verdict):
        return maps
    both = [e for e in maps[ANNO_MAP] if e in maps[SET_MAP]]
    if not both:
        return skipped("no property of 0x9D can be set (none in 0x9E): no change to provoke")
    if not probe.allow_writes:
        return skipped(
            f"provoking a status change writes a new value to {_hexes(_write_order(both)[:1])} "
            "(the target may be a real appliance): run with --allow-writes"
        )
    for epc in _write_order(both):
        before = await _current(probe, target, epc)
        if before is None:
            continue
        alternative = _alternative(target.eoj.class_id, epc, before)
        if alternative is not None:
            return await _provoke_inf(probe, target, epc, before, alternative)
    return skipped(
        f"no property of 0x9D and 0x9E ({_hexes(both)}) has a readable, changeable value"
    )


async def _provoke_inf(
    probe: Probe, target: Target, epc: int, before: bytes, alternative: bytes
) -> Verdict:
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


def _range_problem(prop: PropertySpec, value: object) -> str | None:
    """Why ``value`` (decoded by ``prop``'s type) breaks the class's range, or ``None``."""
    if value is None:
        return None  # a code the type defines as "no data", "overflow"...
    if prop.data_type.kind == "enum" and type(value) is int:
        return f"code 0x{value:02X} is not defined"
    try:
        ok = prop.data_type.in_range(value)
    except (EncodeError, TypeError, ValueError) as exc:
        return f"{value!r} cannot be checked: {exc}"
    return None if ok else f"{value!r} is out of range"


async def values_in_range(probe: Probe, target: Target) -> Verdict:
    maps = _maps_or_skip(target)
    if isinstance(maps, Verdict):
        return maps
    values = target.values
    if values is None:
        exchange = await probe.get(target, maps[GET_MAP])
        if exchange.done is None:
            return skipped(f"Get of the 0x9F map failed: {exchange.error}")
        values = dict(exchange.done.values)
    problems = []
    judged = 0
    for epc, value in sorted(values.items()):
        prop = lookup(target.eoj.class_id, epc)
        if prop is None or epc in (ANNO_MAP, SET_MAP, GET_MAP) or value.error is not None:
            continue  # unspecified EPCs and maps are other checks' business
        judged += 1
        problem = _range_problem(prop, value.value)
        if problem is not None:
            problems.append(f"0x{epc:02X} {prop.name} = {value.edt.hex()}: {problem}")
    if problems:
        return failed("; ".join(problems) + " (APPENDIX class table)")
    if not judged:
        return skipped("no value of a specified property was read")
    return passed(f"{judged} values in their class's range")


def _write_back_candidates(
    target: Target, maps: Mapping[int, tuple[int, ...]]
) -> tuple[list[int], list[int]]:
    """Settable, readable EPCs whose value may be written back; and those left out."""
    chosen, left_out = [], []
    for epc in maps[SET_MAP]:
        prop = lookup(target.eoj.class_id, epc)
        if epc not in maps[GET_MAP] or epc in (ANNO_MAP, SET_MAP, GET_MAP):
            continue  # set-only: nothing to write back
        if prop is None or prop.data_type.kind in _CALENDAR_KINDS:
            left_out.append(epc)
        else:
            chosen.append(epc)
    return chosen, left_out


async def set_accepted(probe: Probe, target: Target) -> Verdict:
    maps = _maps_or_skip(target)
    if isinstance(maps, Verdict):
        return maps
    chosen, left_out = _write_back_candidates(target, maps)
    refused = []
    written = []
    for epc in chosen:
        before = await _current(probe, target, epc)
        if before is None or validate_set(target.eoj.class_id, epc, before) is not None:
            left_out.append(epc)  # unreadable now, or a state Get shows but Set may not write
            continue
        exchange = await probe.set(target, {epc: before})
        done = exchange.done
        if done is None or done.esv is not ESV.SET_RES:
            answered = exchange.error if done is None else done.esv.name
            refused.append(f"SetC of 0x{epc:02X} = {before.hex()} answered {answered}")
        else:
            written.append(epc)
    if refused:
        return failed("; ".join(refused) + " (in 0x9E, value just read back)")
    if not written and not left_out:
        return skipped("0x9E lists no property that 0x9F lists too: nothing to write back")
    if not written:
        return skipped(f"no settable property to write back (left out: {_hexes(left_out)})")
    note = f"; left out {_hexes(sorted(left_out))}" if left_out else ""
    return passed(f"SetC of {_hexes(written)} with their own values answered Set_Res{note}")


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
    (VALUES_IN_RANGE, values_in_range),
    (SET_ACCEPTED, set_accepted),
    (STATUS_INF, status_inf),
)
#: Every check, by id (the response-time check is built per run with its bound).
CHECKS: Final[dict[str, CheckInfo]] = {
    info.check_id: info
    for info in (NODE_REACHABLE, *(i for i, _ in OBJECT_CHECKS), RESPONSE_TIME, FUZZ_ALIVE)
}


def profile_target() -> Target:
    return Target.of(NODE_PROFILE)
