"""``smartmeter-proto decode dlms HEX [--ek KEY --ak KEY] [--system-title ST] [--json]``.

Takes a bare xDLMS/ACSE APDU, an IEC 62056-47 wrapper datagram (port 4059) or
an HDLC frame (IEC 62056-46), recognised automatically: an HDLC frame starts
and ends with the flag 0x7E, a wrapper PDU starts with version 0x0001 and
states the length of what follows. Ciphered APDUs (general-glo/ded-ciphering
and the service-specific glo-/ded- tags) are deciphered when both keys are
given. Bad input or a failed tag exits 1 with one line naming the reason.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import sys
from typing import Any

from ..aroute import acse, apdu, hdlc, security, wrapper
from ..aroute.axdr import Data, to_python
from ..aroute.obis import Obis
from ..errors import AuthError, DecodeError

__all__ = ["add_dlms_decoder", "decode_dlms"]

_HDLC_FLAG = 0x7E
_WRAPPER_VERSION = b"\x00\x01"
_WRAPPER_HEADER = 8
_ACSE_TAGS = frozenset({0x60, 0x61, 0x62, 0x63})
_KEY_LEN = 16
_TITLE_LEN = 8
_OBIS_FIELDS = frozenset({"instance_id", "logical_name"})
_CIPHERING_TAGS = frozenset(int(t) for t in security.CipheringTag)


def add_dlms_decoder(protocols: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dlms`` to ``decode``'s protocols."""
    from .decode import _hex_argument as hex_argument

    sub = protocols.add_parser("dlms", help="a DLMS/COSEM APDU, wrapper datagram or HDLC frame")
    sub.add_argument("hex", type=hex_argument, help="the bytes in hex, spaces allowed")
    sub.add_argument("--ek", type=hex_argument, help="global unicast encryption key (hex)")
    sub.add_argument("--ak", type=hex_argument, help="authentication key (hex)")
    sub.add_argument(
        "--system-title",
        type=hex_argument,
        help="the sender's system title, for ciphered APDUs that do not carry one",
    )
    sub.add_argument("--json", action="store_true", help="print JSON instead of text")
    sub.set_defaults(handler=_handler)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Data):
        return {"type": value.type.name.lower(), "value": _jsonable(to_python(value))}
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        doc = {"kind": type(value).__name__}
        for field in dataclasses.fields(value):
            if field.repr:
                item = getattr(value, field.name)
                if field.name in _OBIS_FIELDS and isinstance(item, bytes) and len(item) == 6:
                    doc[field.name] = str(Obis.from_bytes(item))
                else:
                    doc[field.name] = _jsonable(item)
        return doc
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def _unframe(data: bytes) -> tuple[dict[str, Any], bytes]:
    """(framing description, APDU bytes)."""
    if len(data) >= 2 and data[0] == _HDLC_FLAG and data[-1] == _HDLC_FLAG:
        frame = hdlc.decode(data)
        _response, payload = hdlc.strip_llc(frame.information)
        framing = {
            "framing": "hdlc",
            "destination": _jsonable(frame.destination),
            "source": _jsonable(frame.source),
            "control": _jsonable(frame.control),
            "segmented": frame.segmented,
        }
        return framing, payload
    wrapped_length = len(data) - _WRAPPER_HEADER
    if data[:2] == _WRAPPER_VERSION and int.from_bytes(data[6:8], "big") == wrapped_length >= 0:
        wrapped = wrapper.decode(data)
        framing = {
            "framing": "wrapper",
            "source_wport": wrapped.source_wport,
            "destination_wport": wrapped.destination_wport,
        }
        return framing, wrapped.apdu
    return {"framing": "none"}, data


def decode_dlms(
    data: bytes,
    *,
    ek: bytes | None = None,
    ak: bytes | None = None,
    system_title: bytes | None = None,
) -> dict[str, Any]:
    """The JSON document ``decode dlms --json`` prints; DecodeError/AuthError on bad input."""
    if not data:
        raise DecodeError("dlms", 0, "no bytes")
    doc, payload = _unframe(data)
    if not payload:
        doc["apdu"] = None
        return doc
    if payload[0] in _CIPHERING_TAGS:
        ciphered = security.decode_ciphered(payload)
        doc["ciphered"] = {
            "tag": _jsonable(ciphered.tag),
            "system_title": None if ciphered.system_title is None else ciphered.system_title.hex(),
            "security_control": f"0x{ciphered.security_control.to_byte():02X}",
            "invocation_counter": ciphered.invocation_counter,
        }
        if ek is None or ak is None:
            doc["apdu"] = None
            doc["note"] = "ciphered: give --ek and --ak to decipher"
            return doc
        opened = security.unprotect(payload, ek=ek, ak=ak, system_title=system_title)
        payload = opened.apdu
    decoded: object = (
        acse.decode_acse(payload) if payload[0] in _ACSE_TAGS else apdu.decode_apdu(payload)
    )
    doc["apdu"] = _jsonable(decoded)
    return doc


def _check_lengths(args: argparse.Namespace) -> str | None:
    for name in ("ek", "ak"):
        key = getattr(args, name)
        if key is not None and len(key) != _KEY_LEN:
            return f"--{name} must be {_KEY_LEN} bytes"
    if (args.ek is None) != (args.ak is None):
        return "give both --ek and --ak"
    if args.system_title is not None and len(args.system_title) != _TITLE_LEN:
        return f"--system-title must be {_TITLE_LEN} bytes"
    return None


def _print_text(doc: dict[str, Any], indent: str = "") -> None:
    for key, value in doc.items():
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _print_text(value, indent + "  ")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            print(f"{indent}{key}:")
            for item in value:
                _print_text(item, indent + "  - ")
        else:
            print(f"{indent}{key}: {json.dumps(value)}")


def _handler(args: argparse.Namespace) -> int:
    problem = _check_lengths(args)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        doc = decode_dlms(args.hex, ek=args.ek, ak=args.ak, system_title=args.system_title)
    except (DecodeError, AuthError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        _print_text(doc)
    return 0
