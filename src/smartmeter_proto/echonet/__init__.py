"""ECHONET Lite: frame codec, typed properties from ``specs/echonet``, sans-IO client and node."""

from .energy import UNIT_CODES, EnergyScale
from .events import (
    MULTICAST,
    Address,
    Event,
    FrameDropped,
    Notification,
    PropertyWritten,
    RequestDone,
    RequestFailed,
    Response,
)
from .frame import EOJ, ESV, ArbitraryFrame, Frame, Property, decode, encode
from .node import NODE_PROFILE, DeviceObject, Node
from .properties import PropertyValue, decode_property, encode_property, validate_set
from .session import CONTROLLER, Session
from .specs import ClassSpec, PropertySpec, known_classes, load_class

__all__ = [
    "CONTROLLER",
    "EOJ",
    "ESV",
    "MULTICAST",
    "NODE_PROFILE",
    "UNIT_CODES",
    "Address",
    "ArbitraryFrame",
    "ClassSpec",
    "DeviceObject",
    "EnergyScale",
    "Event",
    "Frame",
    "FrameDropped",
    "Node",
    "Notification",
    "Property",
    "PropertySpec",
    "PropertyValue",
    "PropertyWritten",
    "RequestDone",
    "RequestFailed",
    "Response",
    "Session",
    "decode",
    "decode_property",
    "encode",
    "encode_property",
    "known_classes",
    "load_class",
    "validate_set",
]
