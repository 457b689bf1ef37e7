"""COSEM object access of the server side of an association (IEC 62056-5-3, Green Book 9.4).

GET, SET and ACTION applied to the server's table of COSEM objects, failures mapped to
the Data-Access-Result a response carries; and the conformance bit each request needs.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...errors import DecodeError, ProtocolError
from ..acse import Conformance
from ..apdu import (
    ActionOutcome,
    ActionRequestNormal,
    ActionRequestWithList,
    ActionResult,
    AttributeWithSelection,
    CosemAttributeDescriptor,
    CosemMethodDescriptor,
    DataAccessResult,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResult,
    SetRequestNormal,
    SetRequestWithList,
)
from ..axdr import Data
from ..context import ContextualObject, RequestContext
from ..cosem import CosemAccessError, CosemObject
from ..obis import Obis

__all__ = ["NEEDED", "access_result", "get_value", "invoke_method", "lookup", "set_value"]

#: Conformance bit each request type needs (Green Book 9.5 conformance block).
NEEDED: dict[type, Conformance] = {
    GetRequestNormal: Conformance.GET,
    GetRequestNext: Conformance.GET,
    GetRequestWithList: Conformance.MULTIPLE_REFERENCES,
    SetRequestNormal: Conformance.SET,
    SetRequestWithList: Conformance.MULTIPLE_REFERENCES,
    ActionRequestNormal: Conformance.ACTION,
    ActionRequestWithList: Conformance.MULTIPLE_REFERENCES,
}


def access_result(exc: BaseException) -> int:
    """The Data-Access-Result for an exception raised by a COSEM object."""
    if isinstance(exc, CosemAccessError):
        return int(exc.result)
    if isinstance(exc, DecodeError):
        return DataAccessResult.TYPE_UNMATCHED
    return DataAccessResult.OTHER_REASON


def lookup(
    objects: Mapping[Obis, CosemObject], attr: CosemAttributeDescriptor | CosemMethodDescriptor
) -> CosemObject | int:
    """The object ``attr`` names, or the Data-Access-Result saying why there is none."""
    obj = objects.get(Obis.from_bytes(attr.instance_id))
    if obj is None:
        return DataAccessResult.OBJECT_UNDEFINED
    if obj.class_id != attr.class_id:
        return DataAccessResult.OBJECT_CLASS_INCONSISTENT
    return obj


def get_value(
    objects: Mapping[Obis, CosemObject], item: AttributeWithSelection, conformance: Conformance
) -> GetResult:
    """GET one attribute; selective access only if ``conformance`` negotiated it."""
    obj = lookup(objects, item.attribute)
    if isinstance(obj, int):
        return DataAccessResult(obj)
    try:
        if item.access is None:
            return obj.get(item.attribute.attribute_id)
        if not conformance & Conformance.SELECTIVE_ACCESS:
            return DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
        return obj.get(
            item.attribute.attribute_id, item.access.access_parameters, item.access.access_selector
        )
    except (ProtocolError, ValueError, TypeError) as exc:
        return DataAccessResult(access_result(exc))


def set_value(
    objects: Mapping[Obis, CosemObject],
    attr: CosemAttributeDescriptor,
    selective: bool,
    value: Data,
    ctx: RequestContext,
) -> DataAccessResult | int:
    """SET one attribute (selective access is refused)."""
    obj = lookup(objects, attr)
    if isinstance(obj, int):
        return obj
    if selective:
        return DataAccessResult.SCOPE_OF_ACCESS_VIOLATED
    try:
        if isinstance(obj, ContextualObject):
            obj.set_in(ctx, attr.attribute_id, value)
        else:
            obj.set(attr.attribute_id, value)
    except (ProtocolError, ValueError, TypeError) as exc:
        return access_result(exc)
    return DataAccessResult.SUCCESS


def invoke_method(
    objects: Mapping[Obis, CosemObject],
    method: CosemMethodDescriptor,
    parameters: Data | None,
    ctx: RequestContext,
) -> ActionOutcome:
    """ACTION on one method of an object."""
    obj = lookup(objects, method)
    if isinstance(obj, int):
        return ActionOutcome(obj)
    try:
        if isinstance(obj, ContextualObject):
            ret = obj.invoke_in(ctx, method.method_id, parameters)
        else:
            ret = obj.invoke(method.method_id, parameters)
    except (ProtocolError, ValueError, TypeError) as exc:
        return ActionOutcome(access_result(exc))
    return ActionOutcome(ActionResult.SUCCESS, ret)
