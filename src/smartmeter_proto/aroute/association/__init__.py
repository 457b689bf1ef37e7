"""COSEM application association (IEC 62056-5-3, Green Book 9.3/9.4), sans-IO.

:class:`AssociationServer` (meter side, in :mod:`.server`) and
:class:`AssociationClient` (head-end side, in :mod:`.client`): APDU bytes in,
APDU bytes and typed events out; framing (wrapper/HDLC) and I/O live elsewhere.
"""

from __future__ import annotations

from .client import (
    ActionResult,
    Associated,
    AssociationClient,
    AssociationRefused,
    ClientEvent,
    ClientState,
    ClientStats,
    ExceptionReceived,
    GetListResult,
    GetResult,
    Pushed,
    Released,
    RequestTimedOut,
    SendCounterExhausted,
    SetResult,
)
from .server import (
    ASSOCIATION_LN_OBIS,
    DEFAULT_SERVER_CONFORMANCE,
    AssociationServer,
    Authentication,
    ServerState,
    ServerStats,
)

__all__ = [
    "ASSOCIATION_LN_OBIS",
    "DEFAULT_SERVER_CONFORMANCE",
    "ActionResult",
    "Associated",
    "AssociationClient",
    "AssociationRefused",
    "AssociationServer",
    "Authentication",
    "ClientEvent",
    "ClientState",
    "ClientStats",
    "ExceptionReceived",
    "GetListResult",
    "GetResult",
    "Pushed",
    "Released",
    "RequestTimedOut",
    "SendCounterExhausted",
    "ServerState",
    "ServerStats",
    "SetResult",
]
