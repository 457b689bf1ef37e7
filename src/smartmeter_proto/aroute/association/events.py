"""Events of the client side of a COSEM association (IEC 62056-5-3, Green Book 9.3/9.4).

:meth:`.client.AssociationClient.events` returns them, one per completed
request, association change or data-notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from ...errors import DecodeError
from ..acse import AARE, Conformance
from ..apdu import ActionResult as ActionResultCode
from ..apdu import DataAccessResult
from ..axdr import CosemDateTime, Data

__all__ = [
    "ActionResult",
    "Associated",
    "AssociationRefused",
    "ClientEvent",
    "ExceptionReceived",
    "GetListResult",
    "GetResult",
    "Pushed",
    "Released",
    "RequestTimedOut",
    "SendCounterExhausted",
    "SetResult",
    "push_time",
    "rejection_text",
]


@dataclass(frozen=True, slots=True)
class Associated:
    conformance: Conformance
    server_max_pdu_size: int
    server_system_title: bytes | None


@dataclass(frozen=True, slots=True)
class AssociationRefused:
    reason: str
    diagnostic: int | None = None


@dataclass(frozen=True, slots=True)
class GetResult:
    invoke_id: int
    result: Data | DataAccessResult | int


@dataclass(frozen=True, slots=True)
class GetListResult:
    invoke_id: int
    results: tuple[Data | DataAccessResult | int, ...]


@dataclass(frozen=True, slots=True)
class SetResult:
    invoke_id: int
    result: DataAccessResult | int


@dataclass(frozen=True, slots=True)
class ActionResult:
    invoke_id: int
    result: ActionResultCode | int
    return_value: Data | DataAccessResult | int | None = None


@dataclass(frozen=True, slots=True)
class Pushed:
    """A data-notification: body, the sender's system title and IC (None if unciphered)."""

    body: Data
    system_title: bytes | None
    invocation_counter: int | None
    date_time: datetime | None


@dataclass(frozen=True, slots=True)
class Released:
    pass


@dataclass(frozen=True, slots=True)
class RequestTimedOut:
    """No answer after the retries; ``invoke_id`` None for AARQ/RLRQ."""

    invoke_id: int | None


@dataclass(frozen=True, slots=True)
class SendCounterExhausted:
    """The request ``invoke_id`` (None: the association itself) could not be ciphered: the
    client's send counter reached its last value, the key must be replaced."""

    invoke_id: int | None


@dataclass(frozen=True, slots=True)
class ExceptionReceived:
    """The server answered the request in flight with an ExceptionResponse."""

    invoke_id: int | None
    state_error: int
    service_error: int


ClientEvent = (
    Associated
    | AssociationRefused
    | GetResult
    | GetListResult
    | SetResult
    | ActionResult
    | Pushed
    | Released
    | RequestTimedOut
    | ExceptionReceived
    | SendCounterExhausted
)


def push_time(raw: bytes | None) -> datetime | None:
    """The date-time of a data-notification as a datetime, or None if absent or unusable."""
    if raw is None or len(raw) != 12:
        return None
    try:
        return CosemDateTime.decode(raw).to_datetime()
    except (DecodeError, ValueError, OverflowError):
        return None


def rejection_text(aare: AARE) -> str:
    """The AssociationRefused reason for an AARE that rejects the association."""
    diag = aare.diagnostic
    name = diag.name.lower() if isinstance(diag, IntEnum) else str(int(diag))
    return f"association rejected: {name}"
