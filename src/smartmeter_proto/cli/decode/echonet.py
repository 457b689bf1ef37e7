"""``smartmeter-proto decode echonet HEX|-``: an ECHONET Lite frame, typed.

Fully accounted means (ECHONET Lite Part II §3.2): EHD 1081 or 1082, an ESV the
specification defines (Tables 3-9 to 3-11), exactly OPC properties with their PDC
bytes and nothing after them, and every EDT of an EPC the class file describes valid
for its type (APPENDIX); an EPC no file describes keeps its raw EDT.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Final

from ...echonet import frame as echonet_frame
from ...echonet.frame import ESV, ArbitraryFrame, Frame, Property
from ...echonet.properties import lookup, typed_property
from ...echonet.specs import load_class
from ...echonet.typed import value_class
from ...errors import DecodeError
from .input import add_input_arguments, run_decoder

__all__ = ["decode_echonet", "echonet_to_json", "register"]

#: EHD1 EHD2 TID SEOJ DEOJ ESV OPC: the bytes before the first property (Part II §3.2).
_HEADER_SIZE: Final = 12
#: EPC and PDC before each EDT.
_PROPERTY_HEAD: Final = 2
_PROPERTY_LAYER: Final = "echonet-property"


def register(protocols: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``echonet`` to ``decode``'s protocols."""
    parser = protocols.add_parser("echonet", help="an ECHONET Lite frame (UDP payload)")
    add_input_arguments(parser, "the frame")
    parser.set_defaults(handler=lambda args: run_decoder(args, decode_echonet, print_echonet))


def _class_name(class_id: int) -> str:
    spec = load_class(class_id)
    return spec.name if spec is not None else "unknown class"


def _property_json(class_id: int, prop: Property, edt_at: int, *, strict: bool) -> dict[str, Any]:
    """One property, typed.

    An EDT that breaks its type raises at its offset in the frame when ``strict``; else the
    entry keeps the raw EDT and names the broken rule under ``error``.
    """
    entry: dict[str, Any] = {"epc": prop.epc, "pdc": prop.pdc, "edt": prop.edt.hex()}
    spec = lookup(class_id, prop.epc)
    if not prop.edt:
        entry.update(name=None if spec is None else spec.name, value=None, unit=None)
        return entry
    value = typed_property(class_id, prop.epc, prop.edt)
    if value.error is not None:
        error = DecodeError(
            _PROPERTY_LAYER,
            edt_at + value.error.offset,
            f"EPC 0x{prop.epc:02X} ({value.name}) of class 0x{class_id:04X}: {value.error.reason}",
        )
        if strict:
            raise error
        entry.update(name=value.name, value=None, unit=None, error=str(error))
        return entry
    if not value.known:
        entry.update(name=None, value=None, unit=None)
        return entry
    decoded = value.as_json()
    entry.update(name=decoded["name"], value=decoded["value"], unit=decoded["unit"])
    if spec is not None and spec.data_type.kind == "enum":
        entry["code"] = int.from_bytes(prop.edt, "big")
    return entry


def _properties_json(
    class_id: int, props: tuple[Property, ...], at: int, *, strict: bool
) -> tuple[list[dict[str, Any]], int]:
    """(entries, offset after the list); ``at`` is the offset of the first EPC."""
    out = []
    for prop in props:
        out.append(_property_json(class_id, prop, at + _PROPERTY_HEAD, strict=strict))
        at += _PROPERTY_HEAD + prop.pdc
    return out, at


def echonet_to_json(decoded: Frame | ArbitraryFrame, *, strict: bool = False) -> dict[str, Any]:
    """The JSON form printed by ``decode echonet --json``.

    An EDT that breaks the type its class file gives it keeps its raw bytes and names the
    rule under ``error``; with ``strict`` it raises :class:`DecodeError` (layer
    ``echonet-property``) at its offset instead.
    """
    if isinstance(decoded, ArbitraryFrame):
        return {"ehd": "1082", "tid": decoded.tid, "edata": decoded.edata.hex()}
    esv = decoded.esv
    class_id = value_class(decoded)
    properties, after = _properties_json(class_id, decoded.properties, _HEADER_SIZE, strict=strict)
    get_properties, _ = _properties_json(class_id, decoded.get_properties, after + 1, strict=strict)
    return {
        "ehd": "1081",
        "tid": decoded.tid,
        "seoj": str(decoded.seoj),
        "seoj_class": _class_name(decoded.seoj.class_id),
        "deoj": str(decoded.deoj),
        "deoj_class": _class_name(decoded.deoj.class_id),
        "esv": int(esv),
        "esv_name": esv.name if isinstance(esv, ESV) else None,
        "properties": properties,
        "get_properties": get_properties,
    }


def decode_echonet(data: bytes, args: argparse.Namespace | None = None) -> dict[str, Any]:
    """Strictly decode one frame (an ESV the spec does not define is refused) to JSON."""
    return echonet_to_json(echonet_frame.decode(data, strict=True), strict=True)


def _shown(prop: dict[str, Any]) -> str:
    if prop["value"] is None:
        return "-"
    unit = f" {prop['unit']}" if prop.get("unit") else ""
    code = f" (0x{prop['code']:02X})" if "code" in prop else ""
    value = prop["value"]
    if prop.get("name") == "manufacturer_code" and isinstance(value, dict):
        return f"{value['name'] or 'unlisted'} (0x{value['code']})"  # EPC 0x8A
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return f"{shown}{unit}{code}"


def print_echonet(doc: dict[str, Any]) -> None:
    """The text form of :func:`echonet_to_json`'s document."""
    if doc["ehd"] == "1082":
        print(f"EHD   1082 (format 2, arbitrary)\nTID   {doc['tid']}\nEDATA {doc['edata']}")
        return
    print("EHD   1081 (ECHONET Lite, format 1)")
    print(f"TID   {doc['tid']}")
    print(f"SEOJ  {doc['seoj']} ({doc['seoj_class']})")
    print(f"DEOJ  {doc['deoj']} ({doc['deoj_class']})")
    print(f"ESV   0x{doc['esv']:02X} {doc['esv_name'] or 'unknown'}")
    for title, key in (("OPC", "properties"), ("OPCGet", "get_properties")):
        if key == "get_properties" and not doc[key]:
            continue
        print(f"{title:<5} {len(doc[key])}")
        for prop in doc[key]:
            name = prop["name"] or ""
            print(f"  0x{prop['epc']:02X} {name:<40} PDC {prop['pdc']:<3} EDT {prop['edt'] or '-'}")
            if prop["pdc"]:
                print(f"       = {_shown(prop)}")
