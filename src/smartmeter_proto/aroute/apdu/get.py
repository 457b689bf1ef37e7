"""GET service APDUs: Get-Request (0xC0) and Get-Response (0xC4), IEC 62056-5-3 / Green Book 9.5."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from ..._buffer import Cursor
from .common import (
    AttributeWithSelection,
    CosemAttributeDescriptor,
    DataAccessResult,
    GetResult,
    InvokeIdAndPriority,
    SelectiveAccess,
    check_uint,
    enum_or_int,
    header,
    pull_bool,
    pull_count,
    pull_get_result,
    pull_invoke,
    pull_octets,
    pull_optional_access,
    push_bool,
    push_count,
    push_get_result,
    push_octets,
    push_optional_access,
)

__all__ = [
    "GET_REQUEST_TAG",
    "GET_RESPONSE_TAG",
    "GetRequest",
    "GetRequestNext",
    "GetRequestNormal",
    "GetRequestType",
    "GetRequestWithList",
    "GetResponse",
    "GetResponseNormal",
    "GetResponseType",
    "GetResponseWithDatablock",
    "GetResponseWithList",
]

# IEC 62056-5-3 XDLMS-APDU tags (gurux-dlms Command.GET_REQUEST/GET_RESPONSE agree).
GET_REQUEST_TAG = 0xC0
GET_RESPONSE_TAG = 0xC4

# DataBlock-G result CHOICE: raw-data [0] OCTET STRING, data-access-result [1].
_BLOCK_RAW = 0
_BLOCK_ERROR = 1


class GetRequestType(IntEnum):
    """Get-Request CHOICE indices."""

    NORMAL = 1
    NEXT = 2
    WITH_LIST = 3


class GetResponseType(IntEnum):
    """Get-Response CHOICE indices."""

    NORMAL = 1
    WITH_DATABLOCK = 2
    WITH_LIST = 3


_DEFAULT_INVOKE = InvokeIdAndPriority()


@dataclass(frozen=True, slots=True)
class GetRequestNormal:
    """Get-Request-Normal: read one attribute, optionally with selective access."""

    attribute: CosemAttributeDescriptor
    access: SelectiveAccess | None = None
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(GET_REQUEST_TAG, GetRequestType.NORMAL, self.invoke)
        self.attribute.push(w)
        push_optional_access(w, self.access)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class GetRequestNext:
    """Get-Request-Next: ask for the block after ``block_number`` (Unsigned32)."""

    block_number: int
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        check_uint("block_number", self.block_number, 0xFFFFFFFF)
        w = header(GET_REQUEST_TAG, GetRequestType.NEXT, self.invoke)
        w.push_uint32(self.block_number)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class GetRequestWithList:
    """Get-Request-With-List: read several attributes in one request."""

    attributes: tuple[AttributeWithSelection, ...]
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(GET_REQUEST_TAG, GetRequestType.WITH_LIST, self.invoke)
        push_count(w, len(self.attributes))
        for item in self.attributes:
            item.push(w)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class GetResponseNormal:
    """Get-Response-Normal: the value (Data) or a Data-Access-Result."""

    result: GetResult
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(GET_RESPONSE_TAG, GetResponseType.NORMAL, self.invoke)
        push_get_result(w, self.result)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class GetResponseWithDatablock:
    """Get-Response-With-Datablock (DataBlock-G): raw block bytes or a Data-Access-Result."""

    last_block: bool
    block_number: int
    result: bytes | DataAccessResult | int
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        check_uint("block_number", self.block_number, 0xFFFFFFFF)
        w = header(GET_RESPONSE_TAG, GetResponseType.WITH_DATABLOCK, self.invoke)
        push_bool(w, self.last_block)
        w.push_uint32(self.block_number)
        if isinstance(self.result, bytes):
            w.push_uint8(_BLOCK_RAW)
            push_octets(w, self.result)
        else:
            w.push_uint8(_BLOCK_ERROR)
            w.push_uint8(int(self.result))
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class GetResponseWithList:
    """Get-Response-With-List: one Get-Data-Result per requested attribute."""

    results: tuple[GetResult, ...]
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(GET_RESPONSE_TAG, GetResponseType.WITH_LIST, self.invoke)
        push_count(w, len(self.results))
        for result in self.results:
            push_get_result(w, result)
        return w.getvalue()


GetRequest = GetRequestNormal | GetRequestNext | GetRequestWithList
GetResponse = GetResponseNormal | GetResponseWithDatablock | GetResponseWithList


def _get_request_normal(cur: Cursor, invoke: InvokeIdAndPriority) -> GetRequest:
    attribute = CosemAttributeDescriptor.pull(cur)
    return GetRequestNormal(attribute, pull_optional_access(cur), invoke)


def _get_request_next(cur: Cursor, invoke: InvokeIdAndPriority) -> GetRequest:
    return GetRequestNext(cur.pull_uint32("block number"), invoke)


def _get_request_with_list(cur: Cursor, invoke: InvokeIdAndPriority) -> GetRequest:
    # each item is at least 10 bytes: descriptor (9) + access flag (1)
    n = pull_count(cur, "attribute-descriptor-list", 10)
    return GetRequestWithList(tuple(AttributeWithSelection.pull(cur) for _ in range(n)), invoke)


def _get_response_normal(cur: Cursor, invoke: InvokeIdAndPriority) -> GetResponse:
    return GetResponseNormal(pull_get_result(cur), invoke)


def _get_response_with_datablock(cur: Cursor, invoke: InvokeIdAndPriority) -> GetResponse:
    last = pull_bool(cur, "last-block")
    number = cur.pull_uint32("block number")
    at = cur.offset
    choice = cur.pull_uint8("DataBlock-G result choice")
    result: bytes | DataAccessResult | int
    if choice == _BLOCK_RAW:
        result = pull_octets(cur, "raw data")
    elif choice == _BLOCK_ERROR:
        result = enum_or_int(DataAccessResult, cur.pull_uint8("data-access-result"))
    else:
        raise cur.error(f"DataBlock-G result choice must be 0 or 1, got {choice}", at)
    return GetResponseWithDatablock(last, number, result, invoke)


def _get_response_with_list(cur: Cursor, invoke: InvokeIdAndPriority) -> GetResponse:
    n = pull_count(cur, "result list", 2)
    return GetResponseWithList(tuple(pull_get_result(cur) for _ in range(n)), invoke)


_REQUESTS: dict[int, Callable[[Cursor, InvokeIdAndPriority], GetRequest]] = {
    GetRequestType.NORMAL: _get_request_normal,
    GetRequestType.NEXT: _get_request_next,
    GetRequestType.WITH_LIST: _get_request_with_list,
}
_RESPONSES: dict[int, Callable[[Cursor, InvokeIdAndPriority], GetResponse]] = {
    GetResponseType.NORMAL: _get_response_normal,
    GetResponseType.WITH_DATABLOCK: _get_response_with_datablock,
    GetResponseType.WITH_LIST: _get_response_with_list,
}


def pull_get_request(cur: Cursor) -> GetRequest:
    """Decode a Get-Request body (after the 0xC0 tag)."""
    at = cur.offset
    choice = cur.pull_uint8("Get-Request choice")
    decoder = _REQUESTS.get(choice)
    if decoder is None:
        raise cur.error(f"unknown Get-Request choice {choice}", at)
    return decoder(cur, pull_invoke(cur))


def pull_get_response(cur: Cursor) -> GetResponse:
    """Decode a Get-Response body (after the 0xC4 tag)."""
    at = cur.offset
    choice = cur.pull_uint8("Get-Response choice")
    decoder = _RESPONSES.get(choice)
    if decoder is None:
        raise cur.error(f"unknown Get-Response choice {choice}", at)
    return decoder(cur, pull_invoke(cur))
