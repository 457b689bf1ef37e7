"""COSEM interface classes as server-side objects (DLMS UA 1000-1 Blue Book, IEC 62056-6-2).

:mod:`.objects`: the object model, result codes, ``Data`` helpers, and the metering classes
(data, register, clock, disconnect control, limiter). :mod:`.management`: the classes about
other objects and the association (profile generic, push setup, association LN, security
setup).
"""

from .management import (
    AccessRights,
    AssociationLN,
    CaptureObject,
    EntryDescriptor,
    ProfileGeneric,
    PushSetup,
    RangeDescriptor,
    SecuritySetup,
    SortMethod,
    parse_selective_access,
)
from .objects import (
    ActionItem,
    ClassId,
    Clock,
    ControlState,
    CosemAccessError,
    CosemData,
    CosemObject,
    DataAccessResult,
    DisconnectControl,
    Limiter,
    Register,
    Unit,
    ValueDefinition,
    datetime_data,
    datetime_from_data,
    enum_data,
    ln_data,
    obis_from_data,
)

__all__ = [
    "AccessRights",
    "ActionItem",
    "AssociationLN",
    "CaptureObject",
    "ClassId",
    "Clock",
    "ControlState",
    "CosemAccessError",
    "CosemData",
    "CosemObject",
    "DataAccessResult",
    "DisconnectControl",
    "EntryDescriptor",
    "Limiter",
    "ProfileGeneric",
    "PushSetup",
    "RangeDescriptor",
    "Register",
    "SecuritySetup",
    "SortMethod",
    "Unit",
    "ValueDefinition",
    "datetime_data",
    "datetime_from_data",
    "enum_data",
    "ln_data",
    "obis_from_data",
    "parse_selective_access",
]
