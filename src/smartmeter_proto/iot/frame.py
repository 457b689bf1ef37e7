"""IoT-route frame codec: a CBOR envelope (RFC 8949) around SenML packs and valve messages.

Schema and rules: ``specs/iot/frame.cddl``. Input is checked by a structural pre-scan
(bounds, depth, deterministic heads) before ``cbor2`` sees it, then re-encoded and compared
byte for byte, so every accepted frame is in deterministic encoding (RFC 8949 §4.2.1) and
``encode(decode(b)) == b`` holds for every ``b`` that :func:`decode` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import KEEP, IntEnum, IntFlag
from typing import Any, ClassVar

import cbor2

from ..errors import DecodeError, EncodeError
from .senml import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_RECORDS,
    SenmlPack,
    dumps_deterministic,
    load_cbor,
    pack_from_cbor,
    pack_to_cbor,
)

__all__ = [
    "CRITICAL_KEY_LIMIT",
    "FORMAT_VERSION",
    "AckResult",
    "BackfillEntry",
    "BackfillRequest",
    "BackfillResponse",
    "Header",
    "Key",
    "Message",
    "MessageType",
    "MeterKind",
    "Reading",
    "Route",
    "StatusFlags",
    "ValveAck",
    "ValveAction",
    "ValveCancel",
    "ValveCommand",
    "ValveReservation",
    "ValveState",
    "ValveStatus",
    "decode",
    "encode",
]

LAYER = "iot"
FORMAT_VERSION = 1  # envelope key 0; frame.cddl "version"
CRITICAL_KEY_LIMIT = 32  # envelope keys < 32 must be understood; >= 32 are kept opaque
METER_ID_MAX = 64  # bytes (UTF-8 for text ids); frame.cddl "meter-id"
FIRST_READING_SEQ = 1  # lowest reading seq a back-fill may name; frame.cddl "reading-seq"


class Key(IntEnum):
    """Envelope map keys (frame.cddl ``iot-frame``)."""

    VERSION = 0
    METER_ID = 1
    METER_KIND = 2
    ROUTE = 3
    SEQ = 4
    MESSAGE_TYPE = 5
    FLAGS = 6
    PAYLOAD = 7


class MeterKind(IntEnum):
    """Kind of the metering device; 16..31 are special meters (特例計量器) by subtype."""

    GAS = 1
    WATER = 2
    SPECIAL_PV = 16  # PV power conditioner
    SPECIAL_EV = 17  # EV charger / discharger
    SPECIAL_OTHER = 31


class Route(IntEnum):
    """Path the frame travels (METI next-generation smart meter: A-route(IoT), B-route(IoT))."""

    A_IOT = 1  # meter -> head-end directly
    B_IOT = 2  # meter -> electricity smart meter -> head-end


class MessageType(IntEnum):
    """Envelope key 5: selects the payload schema."""

    READING = 1
    BACKFILL_REQUEST = 2
    BACKFILL_RESPONSE = 3
    VALVE_COMMAND = 4
    VALVE_ACK = 5
    VALVE_STATUS = 6
    VALVE_CANCEL = 7


class StatusFlags(IntFlag, boundary=KEEP):
    """Alarm/status bitmap (envelope key 6); unknown bits survive a round trip."""

    LEAK = 1 << 0
    TAMPER = 1 << 1
    LOW_BATTERY = 1 << 2
    SHUT_OFF = 1 << 3  # valve closed by the meter's own safety function


_NO_FLAGS = StatusFlags(0)


class ValveAction(IntEnum):
    OPEN = 1
    CLOSE = 2


class ValveState(IntEnum):
    OPEN = 1
    CLOSED = 2
    MOVING = 3
    FAULT = 4


class AckResult(IntEnum):
    """Outcome reported in a :class:`ValveAck` for a command or a cancel."""

    DONE = 0  # executed now / cancel applied
    SCHEDULED = 1  # reservation stored, runs at activate_at
    NOT_FOUND = 2  # no pending command with that id
    TOO_LATE = 3  # activation time passed or command already executed
    REJECTED_UNSAFE = 4  # safety interlock (e.g. open refused while a leak is flagged)
    REJECTED_BUSY = 5
    FAILED = 6  # actuator fault


@dataclass(frozen=True, slots=True)
class Header:
    """Envelope fields shared by every message (frame.cddl ``iot-frame``).

    ``seq`` is per meter and strictly increasing (uint64); ``extensions`` are envelope
    entries with keys >= ``CRITICAL_KEY_LIMIT``, values as deterministic CBOR bytes.
    """

    meter_id: str | bytes
    kind: MeterKind | int
    route: Route | int
    seq: int
    flags: StatusFlags = _NO_FLAGS
    version: int = FORMAT_VERSION
    extensions: tuple[tuple[int, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Reading:
    """Meter readings as a SenML pack."""

    TYPE: ClassVar[MessageType] = MessageType.READING
    header: Header
    pack: SenmlPack


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    """Ask for the stored readings with seqs ``first_seq`` to ``last_seq`` (inclusive, >= 1)."""

    TYPE: ClassVar[MessageType] = MessageType.BACKFILL_REQUEST
    header: Header
    request_id: int
    first_seq: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class BackfillEntry:
    """One stored reading: its seq (the ``seq`` it was numbered with), POSIX time and pack."""

    seq: int
    time: int
    pack: SenmlPack


@dataclass(frozen=True, slots=True)
class BackfillResponse:
    """Stored readings for ``request_id``, one entry per reading in ascending unique seq.

    An empty ``entries`` means the meter holds none of the requested readings any more;
    ``more`` says further responses to the same request follow.
    """

    TYPE: ClassVar[MessageType] = MessageType.BACKFILL_RESPONSE
    header: Header
    request_id: int
    entries: tuple[BackfillEntry, ...]
    more: bool = False


@dataclass(frozen=True, slots=True)
class ValveCommand:
    """Open/close a valve now (``activate_at`` None) or at a POSIX time (reservation)."""

    TYPE: ClassVar[MessageType] = MessageType.VALVE_COMMAND
    header: Header
    command_id: int
    action: ValveAction | int
    activate_at: int | None = None


@dataclass(frozen=True, slots=True)
class ValveAck:
    """Answer to a :class:`ValveCommand` or :class:`ValveCancel` with the same command id."""

    TYPE: ClassVar[MessageType] = MessageType.VALVE_ACK
    header: Header
    command_id: int
    result: AckResult | int


@dataclass(frozen=True, slots=True)
class ValveReservation:
    """A command waiting for its activation time."""

    command_id: int
    action: ValveAction | int
    activate_at: int


@dataclass(frozen=True, slots=True)
class ValveStatus:
    """Read-back of the valve: its state and the pending reservation, if any."""

    TYPE: ClassVar[MessageType] = MessageType.VALVE_STATUS
    header: Header
    state: ValveState | int
    pending: ValveReservation | None = None


@dataclass(frozen=True, slots=True)
class ValveCancel:
    """Cancel the pending reservation ``command_id`` before it takes effect."""

    TYPE: ClassVar[MessageType] = MessageType.VALVE_CANCEL
    header: Header
    command_id: int


_KNOWN_KEYS = frozenset(int(k) for k in Key)
_KNOWN_TYPES = frozenset(int(t) for t in MessageType)

Message = (
    Reading
    | BackfillRequest
    | BackfillResponse
    | ValveCommand
    | ValveAck
    | ValveStatus
    | ValveCancel
)


# ------------------------------------------------------------ semantic layer


def _fail(path: str, reason: str) -> DecodeError:
    return DecodeError(LAYER, 0, f"{path}: {reason}")


def _uint(value: object, path: str) -> int:
    if type(value) is not int or value < 0:
        raise _fail(path, f"expected uint, found {type(value).__name__}")
    return value


def _code(value: object, enum: type[IntEnum], path: str) -> int:
    """A code as its enum member when known, else the raw uint (unknown codes survive)."""
    raw = _uint(value, path)
    try:
        return enum(raw)
    except ValueError:
        return raw


def _closed_map(
    obj: object, path: str, required: tuple[int, ...], optional: tuple[int, ...] = ()
) -> dict[int, Any]:
    """A payload map: every key known, every required key present (frame.cddl)."""
    if type(obj) is not dict:
        raise _fail(path, f"expected a map, found {type(obj).__name__}")
    for key in obj:
        if key not in required and key not in optional:
            raise _fail(path, f"unknown key {key!r}")
    for key in required:
        if key not in obj:
            raise _fail(path, f"missing key {key}")
    return obj


def _header_from_cbor(obj: object) -> tuple[Header, MessageType, object]:
    if type(obj) is not dict:
        raise _fail("frame", f"expected a map, found {type(obj).__name__}")
    extensions: list[tuple[int, bytes]] = []
    for key, value in obj.items():
        if type(key) is not int:
            raise _fail("frame", f"envelope key must be an integer, found {key!r:.40}")
        if key >= CRITICAL_KEY_LIMIT:
            extensions.append((key, dumps_deterministic(value)))
        elif key not in _KNOWN_KEYS:
            raise _fail("frame", f"unknown critical key {key} (keys < {CRITICAL_KEY_LIMIT})")
    for key in (Key.VERSION, Key.METER_ID, Key.METER_KIND, Key.ROUTE, Key.SEQ):
        if key not in obj:
            raise _fail("frame", f"missing key {int(key)} ({key.name.lower()})")
    for key in (Key.MESSAGE_TYPE, Key.PAYLOAD):
        if key not in obj:
            raise _fail("frame", f"missing key {int(key)} ({key.name.lower()})")
    version = _uint(obj[Key.VERSION], "frame.version")
    if version != FORMAT_VERSION:
        raise _fail("frame.version", f"unsupported version {version}")
    meter_id = obj[Key.METER_ID]
    if type(meter_id) is str:
        size = len(meter_id.encode("utf-8"))
    elif type(meter_id) is bytes:
        size = len(meter_id)
    else:
        raise _fail("frame.meter_id", f"expected text or bytes, found {type(meter_id).__name__}")
    if not 1 <= size <= METER_ID_MAX:
        raise _fail("frame.meter_id", f"length {size} outside 1..{METER_ID_MAX}")
    flags = 0
    if Key.FLAGS in obj:
        flags = _uint(obj[Key.FLAGS], "frame.flags")
        if flags == 0:
            raise _fail("frame.flags", "zero flags must be omitted")
    mtype = _uint(obj[Key.MESSAGE_TYPE], "frame.message_type")
    if mtype not in _KNOWN_TYPES:
        raise _fail("frame.message_type", f"unknown message type {mtype}")
    header = Header(
        meter_id=meter_id,
        kind=_code(obj[Key.METER_KIND], MeterKind, "frame.kind"),
        route=_code(obj[Key.ROUTE], Route, "frame.route"),
        seq=_uint(obj[Key.SEQ], "frame.seq"),
        flags=StatusFlags(flags),
        version=version,
        extensions=tuple(extensions),
    )
    return header, MessageType(mtype), obj[Key.PAYLOAD]


def _reservation(obj: object, path: str) -> ValveReservation:
    m = _closed_map(obj, path, (0, 1, 2))
    return ValveReservation(
        _uint(m[0], f"{path}.command_id"),
        _code(m[1], ValveAction, f"{path}.action"),
        _uint(m[2], f"{path}.activate_at"),
    )


def _reading_seq(value: object, path: str) -> int:
    seq = _uint(value, path)
    if seq < FIRST_READING_SEQ:
        raise _fail(path, f"seq {seq} below {FIRST_READING_SEQ}")
    return seq


def _entries(obj: object, max_records: int, path: str) -> tuple[BackfillEntry, ...]:
    """Back-fill entries: at most ``max_records``, seqs strictly ascending (frame.cddl)."""
    if type(obj) is not list:
        raise _fail(path, f"expected an array, found {type(obj).__name__}")
    if len(obj) > max_records:
        raise _fail(path, f"{len(obj)} entries exceed max_records={max_records}")
    out: list[BackfillEntry] = []
    for i, item in enumerate(obj):
        where = f"{path}[{i}]"
        m = _closed_map(item, where, (0, 1, 2))
        seq = _reading_seq(m[0], f"{where}.seq")
        if out and seq <= out[-1].seq:
            what = "duplicate" if seq == out[-1].seq else "unsorted"
            raise _fail(where, f"{what} seq {seq} after {out[-1].seq} (must ascend)")
        time = _uint(m[1], f"{where}.time")
        out.append(BackfillEntry(seq, time, pack_from_cbor(m[2], max_records, f"{where}.pack")))
    return tuple(out)


def _message_from_cbor(obj: object, max_records: int) -> Message:
    header, mtype, p = _header_from_cbor(obj)
    path = "payload"
    if mtype is MessageType.READING:
        return Reading(header, pack_from_cbor(p, max_records, path))
    if mtype is MessageType.BACKFILL_REQUEST:
        m = _closed_map(p, path, (0, 1, 2))
        first = _reading_seq(m[1], f"{path}.first_seq")
        last = _reading_seq(m[2], f"{path}.last_seq")
        if first > last:
            raise _fail(path, f"first_seq {first} after last_seq {last}")
        return BackfillRequest(header, _uint(m[0], f"{path}.request_id"), first, last)
    if mtype is MessageType.BACKFILL_RESPONSE:
        m = _closed_map(p, path, (0, 1, 2))
        more = m[2]
        if type(more) is not bool:
            raise _fail(f"{path}.more", "expected bool")
        entries = _entries(m[1], max_records, f"{path}.entries")
        return BackfillResponse(header, _uint(m[0], f"{path}.request_id"), entries, more)
    if mtype is MessageType.VALVE_COMMAND:
        m = _closed_map(p, path, (0, 1), (2,))
        at = _uint(m[2], f"{path}.activate_at") if 2 in m else None
        action = _code(m[1], ValveAction, f"{path}.action")
        return ValveCommand(header, _uint(m[0], f"{path}.command_id"), action, at)
    if mtype is MessageType.VALVE_ACK:
        m = _closed_map(p, path, (0, 1))
        result = _code(m[1], AckResult, f"{path}.result")
        return ValveAck(header, _uint(m[0], f"{path}.command_id"), result)
    if mtype is MessageType.VALVE_STATUS:
        m = _closed_map(p, path, (0,), (1,))
        pending = _reservation(m[1], f"{path}.pending") if 1 in m else None
        return ValveStatus(header, _code(m[0], ValveState, f"{path}.state"), pending)
    m = _closed_map(p, path, (0,))  # VALVE_CANCEL
    return ValveCancel(header, _uint(m[0], f"{path}.command_id"))


def _payload_to_cbor(msg: Message) -> object:
    if isinstance(msg, Reading):
        return pack_to_cbor(msg.pack)
    if isinstance(msg, BackfillRequest):
        return {0: msg.request_id, 1: msg.first_seq, 2: msg.last_seq}
    if isinstance(msg, BackfillResponse):
        entries = [{0: e.seq, 1: e.time, 2: pack_to_cbor(e.pack)} for e in msg.entries]
        return {0: msg.request_id, 1: entries, 2: msg.more}
    if isinstance(msg, ValveCommand):
        out: dict[int, object] = {0: msg.command_id, 1: msg.action}
        if msg.activate_at is not None:
            out[2] = msg.activate_at
        return out
    if isinstance(msg, ValveAck):
        return {0: msg.command_id, 1: msg.result}
    if isinstance(msg, ValveStatus):
        out = {0: msg.state}
        if msg.pending is not None:
            r = msg.pending
            out[1] = {0: r.command_id, 1: r.action, 2: r.activate_at}
        return out
    return {0: msg.command_id}


def _extension_values(msg: Message) -> list[bytes]:
    """Every opaque CBOR value the message carries (envelope and SenML extensions)."""
    out = [raw for _key, raw in msg.header.extensions]
    if isinstance(msg, Reading):
        packs = [msg.pack]
    elif isinstance(msg, BackfillResponse):
        packs = [entry.pack for entry in msg.entries]
    else:
        packs = []
    for pack in packs:
        out.extend(raw for rec in pack.records for _label, raw in rec.extensions)
    return out


def _message_to_cbor(msg: Message) -> dict[int, object]:
    h = msg.header
    out: dict[int, object] = {
        Key.VERSION: h.version,
        Key.METER_ID: h.meter_id,
        Key.METER_KIND: h.kind,
        Key.ROUTE: h.route,
        Key.SEQ: h.seq,
        Key.MESSAGE_TYPE: msg.TYPE,
        Key.PAYLOAD: _payload_to_cbor(msg),
    }
    if h.flags:
        out[Key.FLAGS] = h.flags
    for key, raw in h.extensions:
        out[key] = cbor2.loads(raw)
    # Plain ints for keys and codes, so cbor2 never sees enum subclasses.
    return {int(k): _plain(v) for k, v in out.items()}


def _plain(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------ public


def decode(
    data: bytes | bytearray | memoryview,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_records: int = DEFAULT_MAX_RECORDS,
) -> Message:
    """Decode one IoT frame; raise only ``DecodeError(layer="iot", ...)`` on bad input.

    Structural errors carry the byte offset; schema errors carry offset 0 and a path.
    """
    obj = load_cbor(data, max_bytes=max_bytes, max_depth=max_depth)
    return _message_from_cbor(obj, max_records)


def encode(
    msg: Message,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_records: int = DEFAULT_MAX_RECORDS,
) -> bytes:
    """Encode ``msg`` deterministically; raise ``EncodeError`` if it would not decode back."""
    try:
        for raw in _extension_values(msg):
            load_cbor(raw, max_bytes=max_bytes, max_depth=max_depth)
        data = dumps_deterministic(_message_to_cbor(msg))
    except DecodeError as exc:
        raise EncodeError(f"iot frame: extension value: {exc.reason}") from None
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, AttributeError) as exc:
        raise EncodeError(f"iot frame: {exc}") from None
    try:
        back = decode(data, max_bytes=max_bytes, max_depth=max_depth, max_records=max_records)
    except DecodeError as exc:
        raise EncodeError(f"iot frame would not decode: {exc.reason}") from None
    if back != msg:
        raise EncodeError("iot frame does not survive a round trip (check field types)")
    return data
