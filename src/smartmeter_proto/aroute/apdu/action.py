"""ACTION service APDUs: Action-Request (0xC3) and Action-Response (0xC7), IEC 62056-5-3."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypeVar

from ..._buffer import Cursor, Writer
from ..axdr import Data, push_data
from .common import (
    ActionResult,
    AttributeWithSelection,
    CosemMethodDescriptor,
    DataBlock,
    GetResult,
    InvokeIdAndPriority,
    check_uint,
    enum_or_int,
    header,
    pull_count,
    pull_data_field,
    pull_flag,
    pull_get_result,
    pull_invoke,
    push_count,
    push_get_result,
)

__all__ = [
    "ACTION_REQUEST_TAG",
    "ACTION_RESPONSE_TAG",
    "ActionOutcome",
    "ActionRequest",
    "ActionRequestNextPblock",
    "ActionRequestNormal",
    "ActionRequestType",
    "ActionRequestWithFirstPblock",
    "ActionRequestWithList",
    "ActionRequestWithListAndFirstPblock",
    "ActionRequestWithPblock",
    "ActionResponse",
    "ActionResponseNextPblock",
    "ActionResponseNormal",
    "ActionResponseType",
    "ActionResponseWithList",
    "ActionResponseWithPblock",
    "pull_action_request",
    "pull_action_response",
]

# IEC 62056-5-3 XDLMS-APDU tags (gurux-dlms Command.METHOD_REQUEST/METHOD_RESPONSE agree).
ACTION_REQUEST_TAG = 0xC3
ACTION_RESPONSE_TAG = 0xC7

_U32 = 0xFFFFFFFF
_DEFAULT_INVOKE = InvokeIdAndPriority()


class ActionRequestType(IntEnum):
    """Action-Request CHOICE indices."""

    NORMAL = 1
    NEXT_PBLOCK = 2
    WITH_LIST = 3
    WITH_FIRST_PBLOCK = 4
    WITH_LIST_AND_FIRST_PBLOCK = 5
    WITH_PBLOCK = 6


class ActionResponseType(IntEnum):
    """Action-Response CHOICE indices."""

    NORMAL = 1
    WITH_PBLOCK = 2
    WITH_LIST = 3
    NEXT_PBLOCK = 4


# --- ACTION ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionRequestNormal:
    """Action-Request-Normal: invoke one method, with optional parameters (Data)."""

    method: CosemMethodDescriptor
    parameters: Data | None = None
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(ACTION_REQUEST_TAG, ActionRequestType.NORMAL, self.invoke)
        self.method.push(w)
        if self.parameters is None:
            w.push_uint8(0)
        else:
            w.push_uint8(1)
            push_data(w, self.parameters)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class ActionRequestNextPblock:
    """Action-Request-Next-Pblock: ask for the block after ``block_number``."""

    block_number: int
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        check_uint("block_number", self.block_number, _U32)
        w = header(ACTION_REQUEST_TAG, ActionRequestType.NEXT_PBLOCK, self.invoke)
        w.push_uint32(self.block_number)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class ActionRequestWithList:
    """Action-Request-With-List: several methods and their parameters."""

    methods: tuple[CosemMethodDescriptor, ...]
    parameters: tuple[Data, ...]
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(ACTION_REQUEST_TAG, ActionRequestType.WITH_LIST, self.invoke)
        push_count(w, len(self.methods))
        for method in self.methods:
            method.push(w)
        push_count(w, len(self.parameters))
        for value in self.parameters:
            push_data(w, value)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class ActionRequestWithFirstPblock:
    """Action-Request-With-First-Pblock: the first block of long method parameters."""

    method: CosemMethodDescriptor
    block: DataBlock
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(ACTION_REQUEST_TAG, ActionRequestType.WITH_FIRST_PBLOCK, self.invoke)
        self.method.push(w)
        self.block.push(w)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class ActionRequestWithListAndFirstPblock:
    """Action-Request-With-List-And-First-Pblock."""

    methods: tuple[CosemMethodDescriptor, ...]
    block: DataBlock
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(ACTION_REQUEST_TAG, ActionRequestType.WITH_LIST_AND_FIRST_PBLOCK, self.invoke)
        push_count(w, len(self.methods))
        for method in self.methods:
            method.push(w)
        self.block.push(w)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class ActionRequestWithPblock:
    """Action-Request-With-Pblock: a following block of method parameters."""

    block: DataBlock
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(ACTION_REQUEST_TAG, ActionRequestType.WITH_PBLOCK, self.invoke)
        self.block.push(w)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """Action-Response-With-Optional-Data: Action-Result and optional return parameters."""

    result: ActionResult | int
    return_parameters: GetResult | None = None

    def push(self, w: Writer) -> None:
        w.push_uint8(int(self.result))
        if self.return_parameters is None:
            w.push_uint8(0)
        else:
            w.push_uint8(1)
            push_get_result(w, self.return_parameters)

    @classmethod
    def pull(cls, cur: Cursor) -> ActionOutcome:
        result = enum_or_int(ActionResult, cur.pull_uint8("action-result"))
        if not pull_flag(cur, "return-parameters flag"):
            return cls(result)
        return cls(result, pull_get_result(cur))


@dataclass(frozen=True, slots=True)
class ActionResponseNormal:
    """Action-Response-Normal."""

    outcome: ActionOutcome
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(ACTION_RESPONSE_TAG, ActionResponseType.NORMAL, self.invoke)
        self.outcome.push(w)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class ActionResponseWithPblock:
    """Action-Response-With-Pblock: a block of long return parameters."""

    block: DataBlock
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(ACTION_RESPONSE_TAG, ActionResponseType.WITH_PBLOCK, self.invoke)
        self.block.push(w)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class ActionResponseWithList:
    """Action-Response-With-List: one outcome per method."""

    outcomes: tuple[ActionOutcome, ...]
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        w = header(ACTION_RESPONSE_TAG, ActionResponseType.WITH_LIST, self.invoke)
        push_count(w, len(self.outcomes))
        for outcome in self.outcomes:
            outcome.push(w)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class ActionResponseNextPblock:
    """Action-Response-Next-Pblock: acknowledges block ``block_number``."""

    block_number: int
    invoke: InvokeIdAndPriority = field(default=_DEFAULT_INVOKE)

    def encode(self) -> bytes:
        check_uint("block_number", self.block_number, _U32)
        w = header(ACTION_RESPONSE_TAG, ActionResponseType.NEXT_PBLOCK, self.invoke)
        w.push_uint32(self.block_number)
        return w.getvalue()


ActionRequest = (
    ActionRequestNormal
    | ActionRequestNextPblock
    | ActionRequestWithList
    | ActionRequestWithFirstPblock
    | ActionRequestWithListAndFirstPblock
    | ActionRequestWithPblock
)
ActionResponse = (
    ActionResponseNormal
    | ActionResponseWithPblock
    | ActionResponseWithList
    | ActionResponseNextPblock
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


def _action_normal(cur: Cursor, inv: _Invoke) -> ActionRequest:
    method = CosemMethodDescriptor.pull(cur)
    params = pull_data_field(cur) if pull_flag(cur, "parameters flag") else None
    return ActionRequestNormal(method, params, inv)


def _action_with_list(cur: Cursor, inv: _Invoke) -> ActionRequest:
    methods = _methods(cur)
    return ActionRequestWithList(methods, _datas(cur), inv)


def _action_first_block(cur: Cursor, inv: _Invoke) -> ActionRequest:
    method = CosemMethodDescriptor.pull(cur)
    return ActionRequestWithFirstPblock(method, DataBlock.pull(cur), inv)


def _action_list_first_block(cur: Cursor, inv: _Invoke) -> ActionRequest:
    methods = _methods(cur)
    return ActionRequestWithListAndFirstPblock(methods, DataBlock.pull(cur), inv)


def _action_resp_list(cur: Cursor, inv: _Invoke) -> ActionResponse:
    n = pull_count(cur, "list-of-responses", 2)
    return ActionResponseWithList(tuple(ActionOutcome.pull(cur) for _ in range(n)), inv)


_ACTION_REQUESTS: dict[int, Callable[[Cursor, _Invoke], ActionRequest]] = {
    ActionRequestType.NORMAL: _action_normal,
    ActionRequestType.NEXT_PBLOCK: lambda c, i: ActionRequestNextPblock(
        c.pull_uint32("block number"), i
    ),
    ActionRequestType.WITH_LIST: _action_with_list,
    ActionRequestType.WITH_FIRST_PBLOCK: _action_first_block,
    ActionRequestType.WITH_LIST_AND_FIRST_PBLOCK: _action_list_first_block,
    ActionRequestType.WITH_PBLOCK: lambda c, i: ActionRequestWithPblock(DataBlock.pull(c), i),
}
_ACTION_RESPONSES: dict[int, Callable[[Cursor, _Invoke], ActionResponse]] = {
    ActionResponseType.NORMAL: lambda c, i: ActionResponseNormal(ActionOutcome.pull(c), i),
    ActionResponseType.WITH_PBLOCK: lambda c, i: ActionResponseWithPblock(DataBlock.pull(c), i),
    ActionResponseType.WITH_LIST: _action_resp_list,
    ActionResponseType.NEXT_PBLOCK: lambda c, i: ActionResponseNextPblock(
        c.pull_uint32("block number"), i
    ),
}


_T = TypeVar("_T")


def _dispatch(cur: Cursor, table: dict[int, Callable[[Cursor, _Invoke], _T]], what: str) -> _T:
    at = cur.offset
    choice = cur.pull_uint8(f"{what} choice")
    decoder = table.get(choice)
    if decoder is None:
        raise cur.error(f"unknown {what} choice {choice}", at)
    return decoder(cur, pull_invoke(cur))


def pull_action_request(cur: Cursor) -> ActionRequest:
    """Decode an Action-Request body (after the 0xC3 tag)."""
    return _dispatch(cur, _ACTION_REQUESTS, "Action-Request")


def pull_action_response(cur: Cursor) -> ActionResponse:
    """Decode an Action-Response body (after the 0xC7 tag)."""
    return _dispatch(cur, _ACTION_RESPONSES, "Action-Response")
