"""Building blocks shared by the xDLMS service APDUs (IEC 62056-5-3 / Green Book 9.5).

Invoke-id-and-priority bytes, COSEM attribute and method descriptors, selective
access, data blocks, result enums and the A-XDR length/count helpers every
service module reads through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

from ..._buffer import MINIMAL_LENGTH, Cursor, Writer
from ...errors import DecodeError, EncodeError
from ..axdr import Data, pull_data, push_data, push_length

__all__ = [
    "LAYER",
    "ActionResult",
    "AttributeWithSelection",
    "CosemAttributeDescriptor",
    "CosemMethodDescriptor",
    "DataAccessResult",
    "DataBlock",
    "GetResult",
    "InvokeIdAndPriority",
    "LongInvokeIdAndPriority",
    "SelectiveAccess",
]

LAYER = "xdlms"

# Green Book 9.5 (COSEM APDU ASN.1): Invoke-Id-And-Priority ::= Unsigned8,
# bits 0-3 invoke id, bits 4-5 reserved, bit 6 service class (1 = confirmed),
# bit 7 priority (1 = high).
_INVOKE_ID_MASK = 0x0F
_RESERVED_SHIFT = 4
_RESERVED_MASK = 0x03
_CONFIRMED_BIT = 0x40
_HIGH_PRIORITY_BIT = 0x80

# Green Book 9.5: Long-Invoke-Id-And-Priority ::= Unsigned32, bits 0-23 long
# invoke id, 24-27 reserved, 28 self-descriptive, 29 processing option
# (1 = break on error), 30 service class (1 = confirmed), 31 priority (1 = high).
_LONG_ID_MASK = 0xFFFFFF
_LONG_RESERVED_SHIFT = 24
_LONG_SELF_DESCRIPTIVE = 1 << 28
_LONG_BREAK_ON_ERROR = 1 << 29
_LONG_CONFIRMED = 1 << 30
_LONG_HIGH_PRIORITY = 1 << 31

# IEC 62056-6-2: the logical name (OBIS code) of an instance is 6 octets.
OBIS_LENGTH = 6

E = TypeVar("E", bound=IntEnum)


def enum_or_int(enum: type[E], value: int) -> E | int:
    """``enum(value)`` if the code is known, else the raw int (unknown codes survive)."""
    try:
        return enum(value)
    except ValueError:
        return value


def wrap_error(exc: DecodeError) -> DecodeError:
    """Relabel an error raised by a lower codec (A-XDR) as an xDLMS decode error."""
    if exc.layer == LAYER:
        return exc
    return DecodeError(LAYER, exc.offset, f"{exc.layer}: {exc.reason}")


class DataAccessResult(IntEnum):
    """Data-Access-Result (Green Book 9.5, IEC 62056-5-3)."""

    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    LONG_GET_ABORTED = 15
    NO_LONG_GET_IN_PROGRESS = 16
    LONG_SET_ABORTED = 17
    NO_LONG_SET_IN_PROGRESS = 18
    DATA_BLOCK_NUMBER_INVALID = 19
    OTHER_REASON = 250


class ActionResult(IntEnum):
    """Action-Result (Green Book 9.5, IEC 62056-5-3)."""

    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    LONG_ACTION_ABORTED = 15
    NO_LONG_ACTION_IN_PROGRESS = 16
    OTHER_REASON = 250


# Get-Data-Result ::= CHOICE { data [0] Data, data-access-result [1] Data-Access-Result }
GetResult = Data | DataAccessResult | int
_CHOICE_DATA = 0
_CHOICE_ACCESS_RESULT = 1


def _check_range(name: str, value: int, hi: int) -> None:
    if not 0 <= value <= hi:
        raise ValueError(f"{name} must be in 0..{hi}, got {value}")


@dataclass(frozen=True, slots=True)
class InvokeIdAndPriority:
    """The one-byte Invoke-Id-And-Priority of confirmed services (Green Book 9.5)."""

    invoke_id: int = 1
    confirmed: bool = True
    high_priority: bool = True
    reserved: int = 0  # bits 4-5, kept so that any byte survives a round trip

    def __post_init__(self) -> None:
        _check_range("invoke_id", self.invoke_id, _INVOKE_ID_MASK)
        _check_range("reserved", self.reserved, _RESERVED_MASK)

    def to_byte(self) -> int:
        return (
            self.invoke_id
            | self.reserved << _RESERVED_SHIFT
            | (_CONFIRMED_BIT if self.confirmed else 0)
            | (_HIGH_PRIORITY_BIT if self.high_priority else 0)
        )

    @classmethod
    def from_byte(cls, value: int) -> InvokeIdAndPriority:
        return cls(
            invoke_id=value & _INVOKE_ID_MASK,
            confirmed=bool(value & _CONFIRMED_BIT),
            high_priority=bool(value & _HIGH_PRIORITY_BIT),
            reserved=(value >> _RESERVED_SHIFT) & _RESERVED_MASK,
        )


@dataclass(frozen=True, slots=True)
class LongInvokeIdAndPriority:
    """The four-byte Long-Invoke-Id-And-Priority of DataNotification (Green Book 9.5)."""

    long_invoke_id: int = 0
    high_priority: bool = False
    confirmed: bool = False
    break_on_error: bool = False
    self_descriptive: bool = False
    reserved: int = 0  # bits 24-27

    def __post_init__(self) -> None:
        _check_range("long_invoke_id", self.long_invoke_id, _LONG_ID_MASK)
        _check_range("reserved", self.reserved, 0x0F)

    def to_int(self) -> int:
        return (
            self.long_invoke_id
            | self.reserved << _LONG_RESERVED_SHIFT
            | (_LONG_SELF_DESCRIPTIVE if self.self_descriptive else 0)
            | (_LONG_BREAK_ON_ERROR if self.break_on_error else 0)
            | (_LONG_CONFIRMED if self.confirmed else 0)
            | (_LONG_HIGH_PRIORITY if self.high_priority else 0)
        )

    @classmethod
    def from_int(cls, value: int) -> LongInvokeIdAndPriority:
        # Each field is masked out of ``value``, so in range: the __post_init__ checks are
        # skipped by setting the slots directly (decoding runs this once per notification).
        new: LongInvokeIdAndPriority = _new_object(cls)
        _set_long_invoke_id(new, value & _LONG_ID_MASK)
        _set_high_priority(new, bool(value & _LONG_HIGH_PRIORITY))
        _set_confirmed(new, bool(value & _LONG_CONFIRMED))
        _set_break_on_error(new, bool(value & _LONG_BREAK_ON_ERROR))
        _set_self_descriptive(new, bool(value & _LONG_SELF_DESCRIPTIVE))
        _set_reserved(new, (value >> _LONG_RESERVED_SHIFT) & 0x0F)
        return new


# Slot setters of the frozen LongInvokeIdAndPriority, for from_int (they bypass the frozen
# __setattr__, as dataclasses' own __init__ does through object.__setattr__).
_new_object = object.__new__
_SlotSetter = Callable[[LongInvokeIdAndPriority, object], None]
_set_long_invoke_id: _SlotSetter = LongInvokeIdAndPriority.__dict__["long_invoke_id"].__set__
_set_high_priority: _SlotSetter = LongInvokeIdAndPriority.__dict__["high_priority"].__set__
_set_confirmed: _SlotSetter = LongInvokeIdAndPriority.__dict__["confirmed"].__set__
_set_break_on_error: _SlotSetter = LongInvokeIdAndPriority.__dict__["break_on_error"].__set__
_set_self_descriptive: _SlotSetter = LongInvokeIdAndPriority.__dict__["self_descriptive"].__set__
_set_reserved: _SlotSetter = LongInvokeIdAndPriority.__dict__["reserved"].__set__


@dataclass(frozen=True, slots=True)
class CosemAttributeDescriptor:
    """Cosem-Attribute-Descriptor: class id (Unsigned16), OBIS instance id (6 octets), attribute."""

    class_id: int
    instance_id: bytes
    attribute_id: int

    def __post_init__(self) -> None:
        _check_range("class_id", self.class_id, 0xFFFF)
        if len(self.instance_id) != OBIS_LENGTH:
            raise ValueError(
                f"instance_id must be {OBIS_LENGTH} bytes, got {len(self.instance_id)}"
            )
        _check_range("attribute_id", self.attribute_id, 0xFF)

    def push(self, w: Writer) -> None:
        w.push_uint16(self.class_id)
        w.push_bytes(self.instance_id)
        w.push_uint8(self.attribute_id)

    @classmethod
    def pull(cls, cur: Cursor) -> CosemAttributeDescriptor:
        class_id = cur.pull_uint16("class id")
        instance_id = cur.pull_bytes(OBIS_LENGTH, "instance id")
        return cls(class_id, instance_id, cur.pull_uint8("attribute id"))


@dataclass(frozen=True, slots=True)
class CosemMethodDescriptor:
    """Cosem-Method-Descriptor: class id (Unsigned16), OBIS instance id (6 octets), method id."""

    class_id: int
    instance_id: bytes
    method_id: int

    def __post_init__(self) -> None:
        _check_range("class_id", self.class_id, 0xFFFF)
        if len(self.instance_id) != OBIS_LENGTH:
            raise ValueError(
                f"instance_id must be {OBIS_LENGTH} bytes, got {len(self.instance_id)}"
            )
        _check_range("method_id", self.method_id, 0xFF)

    def push(self, w: Writer) -> None:
        w.push_uint16(self.class_id)
        w.push_bytes(self.instance_id)
        w.push_uint8(self.method_id)

    @classmethod
    def pull(cls, cur: Cursor) -> CosemMethodDescriptor:
        class_id = cur.pull_uint16("class id")
        instance_id = cur.pull_bytes(OBIS_LENGTH, "instance id")
        return cls(class_id, instance_id, cur.pull_uint8("method id"))


@dataclass(frozen=True, slots=True)
class SelectiveAccess:
    """Selective-Access-Descriptor: access selector (Unsigned8) and its Data parameters."""

    access_selector: int
    access_parameters: Data

    def __post_init__(self) -> None:
        _check_range("access_selector", self.access_selector, 0xFF)


@dataclass(frozen=True, slots=True)
class AttributeWithSelection:
    """Cosem-Attribute-Descriptor-With-Selection (the items of the *-with-list requests)."""

    attribute: CosemAttributeDescriptor
    access: SelectiveAccess | None = None

    def push(self, w: Writer) -> None:
        self.attribute.push(w)
        push_optional_access(w, self.access)

    @classmethod
    def pull(cls, cur: Cursor) -> AttributeWithSelection:
        attribute = CosemAttributeDescriptor.pull(cur)
        return cls(attribute, pull_optional_access(cur))


@dataclass(frozen=True, slots=True)
class DataBlock:
    """DataBlock-SA: last-block flag, block number (Unsigned32), raw data (OCTET STRING)."""

    last_block: bool
    block_number: int
    raw_data: bytes

    def __post_init__(self) -> None:
        _check_range("block_number", self.block_number, 0xFFFFFFFF)

    def push(self, w: Writer) -> None:
        push_bool(w, self.last_block)
        w.push_uint32(self.block_number)
        push_octets(w, self.raw_data)

    @classmethod
    def pull(cls, cur: Cursor) -> DataBlock:
        last = pull_bool(cur, "last-block")
        number = cur.pull_uint32("block number")
        return cls(last, number, pull_octets(cur, "raw data"))


# --- A-XDR helpers -------------------------------------------------------------------------

# A-XDR BOOLEAN: FALSE is 0x00; TRUE is written 0x01 (as gurux-dlms does). Only 0x00 and
# 0x01 are read, so that every accepted encoding survives a round trip unchanged.
_TRUE = 0x01


def push_bool(w: Writer, value: bool) -> None:
    w.push_uint8(_TRUE if value else 0)


def pull_bool(cur: Cursor, what: str) -> bool:
    at = cur.offset
    value = cur.pull_uint8(what)
    if value == 0:
        return False
    if value == _TRUE:
        return True
    raise cur.error(f"{what}: boolean must be 0x00 or 0x01, got 0x{value:02X}", at)


def pull_flag(cur: Cursor, what: str) -> bool:
    """An OPTIONAL usage flag: 0x00 absent, 0x01 present."""
    at = cur.offset
    value = cur.pull_uint8(what)
    if value > 1:
        raise cur.error(f"{what}: usage flag must be 0 or 1, got {value}", at)
    return value == 1


def _pull_minimal_length(cur: Cursor, what: str) -> int:
    """An A-XDR length that must use the shortest form, so encode(decode(b)) == b."""
    return cur.pull_ber_length(what, MINIMAL_LENGTH)


def pull_count(cur: Cursor, what: str, min_item_size: int = 1) -> int:
    """A SEQUENCE OF quantity, bounded by what the remaining input could hold."""
    at = cur.offset
    count = _pull_minimal_length(cur, what)
    if count * min_item_size > cur.remaining:
        raise cur.error(f"{what}: {count} items cannot fit in {cur.remaining} bytes", at)
    return count


def pull_octets(cur: Cursor, what: str) -> bytes:
    """An A-XDR OCTET STRING: length then content."""
    at = cur.offset
    buf, end = cur._data, cur._end  # this package's own cursor: the short form read in place
    if at < end:
        n = buf[at]
        stop = at + 1 + n
        if n < 0x80 and stop <= end:
            cur.offset = stop
            return buf[at + 1 : stop]
    n = _pull_minimal_length(cur, what)
    if n > cur.remaining:
        raise cur.error(f"{what}: length {n} exceeds {cur.remaining} remaining bytes", at)
    return cur.pull_bytes(n, what)


def push_octets(w: Writer, value: bytes) -> None:
    push_length(w, len(value))
    w.push_bytes(value)


def push_count(w: Writer, n: int) -> None:
    push_length(w, n)


def pull_data_field(cur: Cursor) -> Data:
    try:
        return pull_data(cur)
    except DecodeError as exc:
        raise wrap_error(exc) from None


def header(tag: int, choice: int, invoke: InvokeIdAndPriority) -> Writer:
    """A writer holding the APDU tag, the CHOICE index and the invoke-id byte."""
    w = Writer()
    w.push_uint8(tag)
    w.push_uint8(choice)
    w.push_uint8(invoke.to_byte())
    return w


# Every Invoke-Id-And-Priority byte, built once: decoding looks them up.
_INVOKES = tuple(InvokeIdAndPriority.from_byte(i) for i in range(256))


def pull_invoke(cur: Cursor) -> InvokeIdAndPriority:
    return _INVOKES[cur.pull_uint8("invoke-id-and-priority")]


def push_optional_access(w: Writer, access: SelectiveAccess | None) -> None:
    if access is None:
        w.push_uint8(0)
        return
    w.push_uint8(1)
    w.push_uint8(access.access_selector)
    push_data(w, access.access_parameters)


def pull_optional_access(cur: Cursor) -> SelectiveAccess | None:
    if not pull_flag(cur, "access-selection flag"):
        return None
    selector = cur.pull_uint8("access selector")
    return SelectiveAccess(selector, pull_data_field(cur))


def push_get_result(w: Writer, result: GetResult) -> None:
    if isinstance(result, Data):
        w.push_uint8(_CHOICE_DATA)
        push_data(w, result)
    else:
        w.push_uint8(_CHOICE_ACCESS_RESULT)
        w.push_uint8(int(result))


def pull_get_result(cur: Cursor) -> GetResult:
    at = cur.offset
    choice = cur.pull_uint8("Get-Data-Result choice")
    if choice == _CHOICE_DATA:
        return pull_data_field(cur)
    if choice == _CHOICE_ACCESS_RESULT:
        return enum_or_int(DataAccessResult, cur.pull_uint8("data-access-result"))
    raise cur.error(f"Get-Data-Result choice must be 0 or 1, got {choice}", at)


def check_uint(name: str, value: int, hi: int) -> None:
    """Raise EncodeError when an integer field does not fit its wire size."""
    if not 0 <= value <= hi:
        raise EncodeError(f"{name} out of range 0..{hi}: {value}")
