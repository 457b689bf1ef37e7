"""``smartmeter-proto decode dlms HEX|- [--ek KEY --ak KEY] [--system-title ST] [--json]``.

Takes a bare xDLMS/ACSE APDU, an IEC 62056-47 wrapper datagram (port 4059) or an HDLC
frame (IEC 62056-46), recognised automatically: an HDLC frame starts and ends with the
flag 0x7E, a wrapper PDU starts with version 0x0001 and states the length of what follows.

Fully accounted means: every byte belongs to the framing or to one APDU whose tag the
Green Book 9.5 lists and this tool decodes, with nothing after it. A ciphered APDU
(general-glo/ded-ciphering and the service-specific glo-/ded- tags, Green Book 9.2.7.2.4)
needs ``--ek`` and ``--ak`` to be opened: without them it is refused (exit 2) with its
security header in the message; a tag that does not verify exits 1.

Octet strings are shown decoded beside their hex: 12 bytes that form a COSEM date-time
(Blue Book 4.1.6.1) as ``date_time``, 6 bytes in a push body or a capture-object
definition as the OBIS code (``obis``), printable ASCII as ``text``.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
from typing import Any, Final

from ...aroute import acse, apdu, hdlc, security, wrapper
from ...aroute.axdr import DEVIATION_NOT_SPECIFIED, NOT_SPECIFIED, CosemDateTime, Data, DataType
from ...aroute.obis import Obis
from ...errors import DecodeError
from ..arguments import hex_of_size
from ..failure import fail
from .input import add_input_arguments, print_tree, run_decoder

__all__ = ["decode_dlms", "register"]

_LAYER: Final = "dlms"
_HDLC_FLAG: Final = 0x7E
_WRAPPER_VERSION: Final = b"\x00\x01"
_WRAPPER_HEADER: Final = 8
_ACSE_TAGS: Final = frozenset({0x60, 0x61, 0x62, 0x63})
_KEY_LEN: Final = 16
_TITLE_LEN: Final = 8
_OBIS_FIELDS: Final = frozenset({"instance_id", "logical_name"})
_DATE_TIME_FIELDS: Final = frozenset({"date_time", "time"})
_CIPHERING_TAGS: Final = frozenset(int(t) for t in security.CipheringTag)
#: IEC 62056-6-2: a logical name is 6 octets; Blue Book 4.1.6.1: a date-time is 12.
_OBIS_LEN: Final = 6
_DATE_TIME_LEN: Final = 12
#: Blue Book 4.1.6.1 ranges, wildcards (0xFF) and the special values 0xFD/0xFE apart.
_SPECIAL_MONTH_DAY: Final = frozenset({0xFD, 0xFE, NOT_SPECIFIED})
_MAX_DEVIATION_MIN: Final = 720
_PRINTABLE: Final = frozenset(range(0x20, 0x7F))
#: Blue Book 4.3.6 capture-object-definition: {class_id, logical_name, attribute, data index}.
_CAPTURE_OBJECT_TYPES: Final = (
    DataType.LONG_UNSIGNED,
    DataType.OCTET_STRING,
    DataType.INTEGER,
    DataType.LONG_UNSIGNED,
)


def register(protocols: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dlms`` to ``decode``'s protocols."""
    sub = protocols.add_parser("dlms", help="a DLMS/COSEM APDU, wrapper datagram or HDLC frame")
    add_input_arguments(sub, "the APDU, wrapper datagram or HDLC frame")
    sub.add_argument(
        "--ek",
        type=hex_of_size(_KEY_LEN, "--ek (global unicast encryption key)"),
        help="global unicast encryption key (16 bytes, hex)",
    )
    sub.add_argument(
        "--ak",
        type=hex_of_size(_KEY_LEN, "--ak (authentication key)"),
        help="authentication key (16 bytes, hex)",
    )
    sub.add_argument(
        "--system-title",
        type=hex_of_size(_TITLE_LEN, "--system-title"),
        help="the sender's system title (8 bytes, hex), for ciphered APDUs that carry none",
    )
    sub.set_defaults(handler=_handler)


def _date_time_text(raw: bytes) -> str | None:
    """A 12-byte COSEM date-time as ISO-like text (``*`` for wildcards), else ``None``."""
    if len(raw) != _DATE_TIME_LEN:
        return None
    dt = CosemDateTime.decode(raw)
    checks = (
        (dt.month, 1, 12, _SPECIAL_MONTH_DAY),
        (dt.day, 1, 31, _SPECIAL_MONTH_DAY),
        (dt.day_of_week, 1, 7, {NOT_SPECIFIED}),
        (dt.hour, 0, 23, {NOT_SPECIFIED}),
        (dt.minute, 0, 59, {NOT_SPECIFIED}),
        (dt.second, 0, 59, {NOT_SPECIFIED}),
        (dt.hundredths, 0, 99, {NOT_SPECIFIED}),
    )
    if any(not lo <= value <= hi and value not in special for value, lo, hi, special in checks):
        return None
    deviation = dt.deviation
    if deviation != DEVIATION_NOT_SPECIFIED and abs(deviation) > _MAX_DEVIATION_MIN:
        return None

    def part(value: int, width: int, wildcard: int = NOT_SPECIFIED) -> str:
        return "*" * width if value == wildcard or value in (0xFD, 0xFE) else f"{value:0{width}d}"

    year = part(dt.year, 4, 0xFFFF)
    text = (
        f"{year}-{part(dt.month, 2)}-{part(dt.day, 2)}T{part(dt.hour, 2)}:"
        f"{part(dt.minute, 2)}:{part(dt.second, 2)}"
    )
    if dt.hundredths != NOT_SPECIFIED:
        text += f".{dt.hundredths:02d}"
    if deviation != DEVIATION_NOT_SPECIFIED:
        # Blue Book sign: UTC = local + deviation, so UTC+09:00 is -540.
        offset = -deviation
        text += f"{'+' if offset >= 0 else '-'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    return text


def _octets_json(raw: bytes, obis_context: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "octet_string", "value": raw.hex()}
    date_time = _date_time_text(raw)
    if date_time is not None:
        doc["date_time"] = date_time
    elif obis_context and len(raw) == _OBIS_LEN:
        doc["obis"] = str(Obis.from_bytes(raw))
    elif raw and all(b in _PRINTABLE for b in raw):
        doc["text"] = raw.decode("ascii")
    return doc


def _is_capture_object(data: Data) -> bool:
    items = data.value
    return (
        data.type == DataType.STRUCTURE
        and isinstance(items, tuple)
        and tuple(getattr(item, "type", None) for item in items) == _CAPTURE_OBJECT_TYPES
        and len(items[1].value) == _OBIS_LEN
    )


def _data_json(data: Data, obis_context: bool) -> Any:
    """A COSEM Data value: ``{"type": name, "value": ...}`` with decoded octet strings."""
    if data.type == DataType.OCTET_STRING and isinstance(data.value, bytes):
        return _octets_json(data.value, obis_context)
    if isinstance(data.value, tuple) and all(isinstance(v, Data) for v in data.value):
        inner = obis_context or _is_capture_object(data)
        items = [_data_json(v, inner) for v in data.value]
        return {"type": data.type.name.lower(), "value": items}
    return {"type": data.type.name.lower(), "value": _jsonable(data.value, obis_context)}


def _jsonable(value: Any, obis_context: bool = False) -> Any:
    if isinstance(value, Data):
        return _data_json(value, obis_context)
    if isinstance(value, enum.Enum):
        return {"value": value.value, "name": value.name}
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        push = isinstance(value, apdu.DataNotification)
        doc: dict[str, Any] = {"kind": type(value).__name__}
        for field in dataclasses.fields(value):
            if not field.repr:
                continue
            item = getattr(value, field.name)
            if field.name in _OBIS_FIELDS and isinstance(item, bytes) and len(item) == _OBIS_LEN:
                doc[field.name] = str(Obis.from_bytes(item))
            elif field.name in _DATE_TIME_FIELDS and isinstance(item, bytes):
                doc[field.name] = item.hex()
                text = _date_time_text(item)
                if text is not None:
                    doc[f"{field.name}_decoded"] = text
            else:
                doc[field.name] = _jsonable(item, obis_context or push)
        return doc
    if isinstance(value, list | tuple):
        return [_jsonable(v, obis_context) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def _unframe(data: bytes) -> tuple[dict[str, Any], bytes, int]:
    """(framing description, APDU bytes, offset of the APDU in ``data``)."""
    if len(data) >= 2 and data[0] == _HDLC_FLAG and data[-1] == _HDLC_FLAG:
        frame = hdlc.decode(data)
        framing: dict[str, Any] = {
            "framing": "hdlc",
            "destination": _jsonable(frame.destination),
            "source": _jsonable(frame.source),
            "control": _jsonable(frame.control),
            "segmented": frame.segmented,
        }
        # The information field sits before the 2-byte FCS and the closing flag.
        info_at = len(data) - 3 - len(frame.information)
        if not frame.information:
            return framing, b"", info_at
        if frame.segmented or not frame.control.is_information:
            # A segment holds part of an APDU (IEC 62056-46 6.4.4.4.3.2); U-frame
            # information fields carry HDLC parameters, not an APDU.
            framing["information"] = frame.information.hex()
            return framing, b"", info_at
        _response, payload = hdlc.strip_llc(frame.information)
        return framing, payload, info_at + len(frame.information) - len(payload)
    wrapped_length = len(data) - _WRAPPER_HEADER
    if data[:2] == _WRAPPER_VERSION and int.from_bytes(data[6:8], "big") == wrapped_length >= 0:
        wrapped = wrapper.decode(data)
        if not wrapped.apdu:
            raise DecodeError("wrapper", _WRAPPER_HEADER, "wrapper datagram without an APDU")
        framing = {
            "framing": "wrapper",
            "source_wport": wrapped.source_wport,
            "destination_wport": wrapped.destination_wport,
        }
        return framing, wrapped.apdu, _WRAPPER_HEADER
    return {"framing": "none"}, data, 0


def _decode_plain(payload: bytes) -> object:
    if payload[0] in _ACSE_TAGS:
        return acse.decode_acse(payload)
    return apdu.decode_apdu(payload, strict=True)


def decode_dlms(
    data: bytes,
    *,
    ek: bytes | None = None,
    ak: bytes | None = None,
    system_title: bytes | None = None,
) -> dict[str, Any]:
    """The JSON document ``decode dlms --json`` prints.

    Raises :class:`DecodeError` on bytes it cannot fully account for, on a ciphered APDU
    without keys, and :class:`~smartmeter_proto.errors.AuthError` when one does not open.
    """
    if not data:
        raise DecodeError(_LAYER, 0, "no bytes")
    doc, payload, at = _unframe(data)
    if not payload:
        doc["apdu"] = None
        return doc
    try:
        if payload[0] in _CIPHERING_TAGS:
            ciphered = security.decode_ciphered(payload)
            title = ciphered.system_title
            doc["ciphered"] = {
                "tag": _jsonable(ciphered.tag),
                "system_title": None if title is None else title.hex(),
                "security_control": ciphered.security_control.to_byte(),
                "invocation_counter": ciphered.invocation_counter,
            }
            if ek is None or ak is None:
                shown = "none" if title is None else title.hex().upper()
                tag = ciphered.tag
                kind = tag.name.lower().replace("_", "-") if isinstance(tag, enum.Enum) else tag
                raise DecodeError(
                    _LAYER,
                    at,
                    f"{kind} APDU (system title "
                    f"{shown}, invocation counter {ciphered.invocation_counter}): "
                    "keys are needed to open it: give --ek and --ak",
                )
            opened = security.unprotect(payload, ek=ek, ak=ak, system_title=system_title)
        else:
            doc["apdu"] = _jsonable(_decode_plain(payload))
            return doc
    except DecodeError as exc:
        if at and exc.layer != _LAYER:
            raise DecodeError(exc.layer, at + exc.offset, exc.reason) from None
        raise
    try:
        doc["apdu"] = _jsonable(_decode_plain(opened.apdu))
    except DecodeError as exc:
        # Offsets count from the start of the deciphered APDU.
        raise DecodeError(exc.layer, exc.offset, f"deciphered APDU: {exc.reason}") from None
    return doc


def _handler(args: argparse.Namespace) -> int:
    if (args.ek is None) != (args.ak is None):
        fail("give both --ek and --ak (16 bytes each, hex)")

    def decode(data: bytes, args: argparse.Namespace) -> dict[str, Any]:
        return decode_dlms(data, ek=args.ek, ak=args.ak, system_title=args.system_title)

    return run_decoder(args, decode, print_tree)
