"""Events the ECHONET Lite session and node hand to the application (frozen, slotted)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Final

from ..errors import DecodeError
from .frame import EOJ, ESV, Frame
from .properties import PropertyValue

__all__ = [
    "MULTICAST",
    "Address",
    "DiscoveredNode",
    "Event",
    "FrameDropped",
    "NodeDiscovered",
    "Notification",
    "PropertyWritten",
    "RequestDone",
    "RequestFailed",
    "Response",
]

#: Any hashable peer address the adapter understands, e.g. ``("192.0.2.5", 3610)``.
Address = Hashable


class _Multicast:
    """The adapter's multicast group (224.0.23.0 / ff02::1 on UDP 3610, Part II §3.1)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MULTICAST"


MULTICAST: Final = _Multicast()


@dataclass(frozen=True, slots=True)
class Response:
    """One answer to one of our requests (a request split in parts gives several)."""

    request_id: int
    source: Address
    frame: Frame
    values: tuple[PropertyValue, ...]


@dataclass(frozen=True, slots=True)
class RequestDone:
    """A request finished: every part answered, or (multicast) the listening window closed.

    ``values`` merges the readable properties of every answer by EPC;
    ``refused`` lists EPCs the node would not serve (PDC 0 in an SNA);
    ``undecodable`` lists EPCs whose EDT broke their type, with the reason.
    """

    request_id: int
    esv: ESV
    responses: tuple[Response, ...]
    values: Mapping[int, PropertyValue] = field(default_factory=dict)
    refused: tuple[int, ...] = ()
    undecodable: tuple[tuple[int, DecodeError], ...] = ()

    @property
    def ok(self) -> bool:
        """Every requested property was served."""
        return not self.refused and not self.undecodable

    def __getitem__(self, epc: int) -> PropertyValue:
        return self.values[epc]


@dataclass(frozen=True, slots=True)
class RequestFailed:
    """No answer after every retry; ``reason`` says which part was missing."""

    request_id: int
    reason: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Notification:
    """An INF (0x73) or INFC (0x74) from a node; an INFC has already been answered."""

    source: Address
    frame: Frame
    values: tuple[PropertyValue, ...]
    confirmed: bool = False


@dataclass(frozen=True, slots=True)
class FrameDropped:
    """A datagram that could not be used: bad bytes, or an answer nobody asked for."""

    source: Address
    reason: str
    error: DecodeError | None = None


@dataclass(frozen=True, slots=True)
class DiscoveredNode:
    """A node and the device objects it lists (0xD6 self-node instance list, Part II §6.11.1)."""

    address: Address
    instances: tuple[EOJ, ...]


@dataclass(frozen=True, slots=True)
class NodeDiscovered:
    """A node not known before announced itself (an INF) and its instance list is now known.

    Learnt from the instance-list INF 0xD5 a node sends at start (Part II §4.3.1), or from
    a Get of 0xD6 the session sends to a node whose first INF carried something else.
    """

    node: DiscoveredNode


@dataclass(frozen=True, slots=True)
class PropertyWritten:
    """Device side: a SetC/SetI (or the Set part of a SetGet) changed a property."""

    source: Address
    eoj_int: int
    epc: int
    edt: bytes


Event = (
    Response
    | RequestDone
    | RequestFailed
    | Notification
    | FrameDropped
    | PropertyWritten
    | NodeDiscovered
)
