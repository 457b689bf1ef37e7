"""SET service APDUs: Set-Request (0xC1) and Set-Response (0xC5), IEC 62056-5-3 / Green Book 9.5."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypeVar

from ..._buffer import Cursor, Writer
from ..axdr import Data, push_data
from .common import (
    AttributeWithSelection,
    CosemAttributeDescriptor,
    CosemMethodDescriptor,
    DataAccessResult,
    DataBlock,
    InvokeIdAndPriority,
    SelectiveAccess,
    check_uint,
    enum_or_int,
    header,
    pull_count,
    pull_data_field,
    pull_invoke,
    pull_optional_access,
    push_count,
    push_optional_access,
)

__all__ = [
    "SET_REQUEST_TAG",
    "SET_RESPONSE_TAG",
    "SetRequest",
    "SetRequestNormal",
    "SetRequestType",
    "SetRequestWithDatablock",
    "SetRequestWithFirstDatablock",
    "SetRequestWithList",
    "SetRequestWithListAndFirstDatablock",
    "SetResponse",
    "SetResponseDatablock",
    "SetResponseLastDatablock",
    "SetResponseLastDatablockWithList",
    "SetResponseNormal",
    "SetResponseType",
    "SetResponseWithList",
    "pull_set_request",
    "pull_set_response",
]

# IEC 62056-5-3 XDLMS-APDU tags (gurux-dlms Command.SET_REQUEST/SET_RESPONSE agree).
SET_REQUEST_TAG = 0xC1
SET_RESPONSE_TAG = 0xC5

_U32 = 0xFFFFFFFF
_DEFAULT_INVOKE = InvokeIdAndPriority()


class SetRequestType(IntEnum):
    """Set-Request CHOICE indices (gurux-dlms SetRequestType agrees)."""

    NORMAL = 1
    WITH_FIRST_DATABLOCK = 2
    WITH_DATABLOCK = 3
    WITH_LIST = 4
    WITH_LIST_AND_FIRST_DATABLOCK = 5


class SetResponseType(IntEnum):
    """Set-Response CHOICE indices."""

    NORMAL = 1
    DATABLOCK = 2
    LAST_DATABLOCK = 3
    LAST_DATABLOCK_WITH_LIST = 4
    WITH_LIST = 5


def _push_results(w: Writer, results: tuple[DataAccessResult | int, ...]) -> None:
    push_count(w, len(results))
    for r in results:
        w.push_uint8(int(r))


def _pull_results(cur: Cursor) -> tuple[DataAccessResult | int, ...]:
    n = pull_count(cur, "result list")
    return tuple(
        enum_or_int(DataAccessResult, cur.pull_uint8("data-access-result")) for _ in range(n)
    )


# --- SET ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetRequestNormal:
    """Set-Request-Normal: write ``value`` to one attribute."""

    attribute: CosemAttributeDescriptor
    value: Data
    access: SelectiveAccess | None = None
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(SET_REQUEST_TAG, SetRequestType.NORMAL, self.invoke)
        self.attribute.push(w)
        push_optional_access(w, self.access)
        push_data(w, self.value)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class SetRequestWithFirstDatablock:
    """Set-Request-With-First-Datablock: the first block of a long value."""

    attribute: CosemAttributeDescriptor
    block: DataBlock
    access: SelectiveAccess | None = None
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(SET_REQUEST_TAG, SetRequestType.WITH_FIRST_DATABLOCK, self.invoke)
        self.attribute.push(w)
        push_optional_access(w, self.access)
        self.block.push(w)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class SetRequestWithDatablock:
    """Set-Request-With-Datablock: a following block of a long value."""

    block: DataBlock
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(SET_REQUEST_TAG, SetRequestType.WITH_DATABLOCK, self.invoke)
        self.block.push(w)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class SetRequestWithList:
    """Set-Request-With-List: several attributes and their values."""

    attributes: tuple[AttributeWithSelection, ...]
    values: tuple[Data, ...]
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(SET_REQUEST_TAG, SetRequestType.WITH_LIST, self.invoke)
        push_count(w, len(self.attributes))
        for item in self.attributes:
            item.push(w)
        push_count(w, len(self.values))
        for value in self.values:
            push_data(w, value)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class SetRequestWithListAndFirstDatablock:
    """Set-Request-With-List-And-First-Datablock."""

    attributes: tuple[AttributeWithSelection, ...]
    block: DataBlock
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(SET_REQUEST_TAG, SetRequestType.WITH_LIST_AND_FIRST_DATABLOCK, self.invoke)
        push_count(w, len(self.attributes))
        for item in self.attributes:
            item.push(w)
        self.block.push(w)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class SetResponseNormal:
    """Set-Response-Normal: one Data-Access-Result."""

    result: DataAccessResult | int
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(SET_RESPONSE_TAG, SetResponseType.NORMAL, self.invoke)
        w.push_uint8(int(self.result))
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class SetResponseDatablock:
    """Set-Response-Datablock: acknowledges block ``block_number``."""

    block_number: int
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        check_uint("block_number", self.block_number, _U32)
        w = header(SET_RESPONSE_TAG, SetResponseType.DATABLOCK, self.invoke)
        w.push_uint32(self.block_number)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class SetResponseLastDatablock:
    """Set-Response-Last-Datablock: result of the whole transfer and the last block number."""

    result: DataAccessResult | int
    block_number: int
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        check_uint("block_number", self.block_number, _U32)
        w = header(SET_RESPONSE_TAG, SetResponseType.LAST_DATABLOCK, self.invoke)
        w.push_uint8(int(self.result))
        w.push_uint32(self.block_number)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class SetResponseLastDatablockWithList:
    """Set-Response-Last-Datablock-With-List."""

    results: tuple[DataAccessResult | int, ...]
    block_number: int
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        check_uint("block_number", self.block_number, _U32)
        w = header(SET_RESPONSE_TAG, SetResponseType.LAST_DATABLOCK_WITH_LIST, self.invoke)
        _push_results(w, self.results)
        w.push_uint32(self.block_number)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class SetResponseWithList:
    """Set-Response-With-List: one Data-Access-Result per attribute."""

    results: tuple[DataAccessResult | int, ...]
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(SET_RESPONSE_TAG, SetResponseType.WITH_LIST, self.invoke)
        _push_results(w, self.results)
        return w.getvalue()


SetRequest = (
    SetRequestNormal
    | SetRequestWithFirstDatablock
    | SetRequestWithDatablock
    | SetRequestWithList
    | SetRequestWithListAndFirstDatablock
)
SetResponse = (
    SetResponseNormal
    | SetResponseDatablock
    | SetResponseLastDatablock
    | SetResponseLastDatablockWithList
    | SetResponseWithList
)
# --- decoders -------------------------------------------------------------------------------

_Invoke = InvokeIdAndPriority
# minimum wire sizes that bound list counts: descriptor + access flag, method descriptor
_ATTR_MIN = 10
_METHOD_MIN = 9


def _attrs(cur: Cursor) -> tuple[AttributeWithSelection, ...]:
    n = pull_count(cur, "attribute-descriptor-list", _ATTR_MIN)
    return tuple(AttributeWithSelection.pull(cur) for _ in range(n))


def _methods(cur: Cursor) -> tuple[CosemMethodDescriptor, ...]:
    n = pull_count(cur, "method-descriptor-list", _METHOD_MIN)
    return tuple(CosemMethodDescriptor.pull(cur) for _ in range(n))


def _datas(cur: Cursor) -> tuple[Data, ...]:
    n = pull_count(cur, "data list")
    return tuple(pull_data_field(cur) for _ in range(n))


def _set_normal(cur: Cursor, inv: _Invoke) -> SetRequest:
    attribute = CosemAttributeDescriptor.pull(cur)
    access = pull_optional_access(cur)
    return SetRequestNormal(attribute, pull_data_field(cur), access, inv)


def _set_first_block(cur: Cursor, inv: _Invoke) -> SetRequest:
    attribute = CosemAttributeDescriptor.pull(cur)
    access = pull_optional_access(cur)
    return SetRequestWithFirstDatablock(attribute, DataBlock.pull(cur), access, inv)


def _set_with_list(cur: Cursor, inv: _Invoke) -> SetRequest:
    attributes = _attrs(cur)
    return SetRequestWithList(attributes, _datas(cur), inv)


def _set_list_first_block(cur: Cursor, inv: _Invoke) -> SetRequest:
    attributes = _attrs(cur)
    return SetRequestWithListAndFirstDatablock(attributes, DataBlock.pull(cur), inv)


def _set_resp_last_list(cur: Cursor, inv: _Invoke) -> SetResponse:
    results = _pull_results(cur)
    return SetResponseLastDatablockWithList(results, cur.pull_uint32("block number"), inv)


def _set_resp_last(cur: Cursor, inv: _Invoke) -> SetResponse:
    result = enum_or_int(DataAccessResult, cur.pull_uint8("data-access-result"))
    return SetResponseLastDatablock(result, cur.pull_uint32("block number"), inv)


_SET_REQUESTS: dict[int, Callable[[Cursor, _Invoke], SetRequest]] = {
    SetRequestType.NORMAL: _set_normal,
    SetRequestType.WITH_FIRST_DATABLOCK: _set_first_block,
    SetRequestType.WITH_DATABLOCK: lambda c, i: SetRequestWithDatablock(DataBlock.pull(c), i),
    SetRequestType.WITH_LIST: _set_with_list,
    SetRequestType.WITH_LIST_AND_FIRST_DATABLOCK: _set_list_first_block,
}
_SET_RESPONSES: dict[int, Callable[[Cursor, _Invoke], SetResponse]] = {
    SetResponseType.NORMAL: lambda c, i: SetResponseNormal(
        enum_or_int(DataAccessResult, c.pull_uint8("data-access-result")), i
    ),
    SetResponseType.DATABLOCK: lambda c, i: SetResponseDatablock(c.pull_uint32("block number"), i),
    SetResponseType.LAST_DATABLOCK: _set_resp_last,
    SetResponseType.LAST_DATABLOCK_WITH_LIST: _set_resp_last_list,
    SetResponseType.WITH_LIST: lambda c, i: SetResponseWithList(_pull_results(c), i),
}
_T = TypeVar("_T")


def _dispatch(cur: Cursor, table: dict[int, Callable[[Cursor, _Invoke], _T]], what: str) -> _T:
    at = cur.offset
    choice = cur.pull_uint8(f"{what} choice")
    decoder = table.get(choice)
    if decoder is None:
        raise cur.error(f"unknown {what} choice {choice}", at)
    return decoder(cur, pull_invoke(cur))


def pull_set_request(cur: Cursor) -> SetRequest:
    """Decode a Set-Request body (after the 0xC1 tag)."""
    return _dispatch(cur, _SET_REQUESTS, "Set-Request")


def pull_set_response(cur: Cursor) -> SetResponse:
    """Decode a Set-Response body (after the 0xC5 tag)."""
    return _dispatch(cur, _SET_RESPONSES, "Set-Response")
