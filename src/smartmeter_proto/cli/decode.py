"""``smartmeter-proto decode PROTOCOL HEX``: bytes to readable text or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..echonet import frame as echonet_frame
from ..echonet.frame import ESV, ArbitraryFrame, Frame
from ..echonet.properties import decode_frame_properties
from ..echonet.specs import load_class
from ..echonet.typed import value_class
from ..errors import DecodeError
from .decode_dlms import add_dlms_decoder
from .decode_radio import add_radio_decoders
from .iot import add_decode_parser

__all__ = ["echonet_to_json", "register"]


def _hex_argument(text: str) -> bytes:
    cleaned = "".join(text.split()).replace(":", "").removeprefix("0x")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hexadecimal: {text[:40]!r}") from None


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("decode", help="decode a frame given in hex")
    protocols = parser.add_subparsers(dest="protocol", required=True, metavar="PROTOCOL")
    echonet = protocols.add_parser("echonet", help="an ECHONET Lite frame (UDP payload)")
    echonet.add_argument("hex", help="the frame in hex, spaces allowed ('-' reads stdin)")
    echonet.add_argument("--json", action="store_true", help="print JSON instead of text")
    echonet.set_defaults(handler=_decode_echonet)
    add_decode_parser(protocols)
    add_radio_decoders(protocols)
    add_dlms_decoder(protocols)


def _class_name(class_id: int) -> str:
    spec = load_class(class_id)
    return spec.name if spec is not None else "unknown class"


def _properties_json(frame: Frame, props: tuple[echonet_frame.Property, ...]) -> list[Any]:
    values, errors = decode_frame_properties(value_class(frame), props)
    by_epc = {v.epc: v for v in values}
    failed = dict(errors)
    out = []
    for prop in props:
        entry: dict[str, Any] = {"epc": prop.epc, "pdc": prop.pdc, "edt": prop.edt.hex()}
        if prop.epc in by_epc:
            decoded = by_epc[prop.epc].as_json()
            entry.update(name=decoded["name"], value=decoded["value"], unit=decoded["unit"])
        elif prop.epc in failed:
            entry.update(value=None, error=str(failed[prop.epc]))
        else:
            entry.update(value=None)
        out.append(entry)
    return out


def echonet_to_json(decoded: Frame | ArbitraryFrame) -> dict[str, Any]:
    """The JSON form printed by ``decode echonet --json``."""
    if isinstance(decoded, ArbitraryFrame):
        return {"ehd": "1082", "tid": decoded.tid, "edata": decoded.edata.hex()}
    esv = decoded.esv
    return {
        "ehd": "1081",
        "tid": decoded.tid,
        "seoj": str(decoded.seoj),
        "deoj": str(decoded.deoj),
        "esv": int(esv),
        "esv_name": esv.name if isinstance(esv, ESV) else None,
        "properties": _properties_json(decoded, decoded.properties),
        "get_properties": _properties_json(decoded, decoded.get_properties),
    }


def _print_text(doc: dict[str, Any]) -> None:
    if doc["ehd"] == "1082":
        print(f"EHD   1082 (format 2, arbitrary)\nTID   {doc['tid']}\nEDATA {doc['edata']}")
        return
    seoj, deoj = (int(doc[k], 16) for k in ("seoj", "deoj"))
    print("EHD   1081 (ECHONET Lite, format 1)")
    print(f"TID   {doc['tid']}")
    print(f"SEOJ  {doc['seoj']} ({_class_name(seoj >> 8)})")
    print(f"DEOJ  {doc['deoj']} ({_class_name(deoj >> 8)})")
    print(f"ESV   0x{doc['esv']:02X} {doc['esv_name'] or 'unknown'}")
    for title, key in (("OPC", "properties"), ("OPCGet", "get_properties")):
        if key == "get_properties" and not doc[key]:
            continue
        print(f"{title:<5} {len(doc[key])}")
        for prop in doc[key]:
            shown = prop.get("error") or (
                f"{prop['value']}" + (f" {prop['unit']}" if prop.get("unit") else "")
                if prop.get("name")
                else "-"
            )
            name = prop.get("name", "")
            print(f"  0x{prop['epc']:02X} {name:<40} PDC {prop['pdc']:<3} EDT {prop['edt'] or '-'}")
            if prop["pdc"]:
                print(f"       = {shown}")


def _decode_echonet(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.hex == "-" else args.hex
    try:
        data = _hex_argument(text)
    except argparse.ArgumentTypeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        decoded = echonet_frame.decode(data)
    except DecodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    doc = echonet_to_json(decoded)
    if args.json:
        json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        _print_text(doc)
    return 0
