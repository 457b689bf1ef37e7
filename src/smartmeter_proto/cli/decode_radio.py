"""``smartmeter-proto decode pana|lowpan HEX``: the B-route below the dongle, readable.

``pana`` takes a PANA message (the data of an ``ERXUDP ... 02CC 02CC`` line);
``lowpan`` an IEEE 802.15.4 frame without FCS carrying 6LoWPAN (a pcap record
of link type 230), whose UDP payload is decoded further when it is PANA or
ECHONET Lite. Text by default, ``--json`` for JSON; bad input exits 1 with a
one-line reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..auth.eap import EAP_TYPE_PSK, EapPacket
from ..auth.eap_psk_messages import decode_psk_message
from ..errors import DecodeError
from ..wisun import mac802154, pana
from ..wisun.lowpan import Reassembler

__all__ = ["add_radio_decoders", "pana_to_json"]

_ECHONET_PORT = 3610
_PANA_PORT = pana.PANA_UDP_PORT


def add_radio_decoders(protocols: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``pana`` and ``lowpan`` to ``decode``'s protocols."""
    from .decode import _hex_argument as hex_argument

    for name, text in (
        ("pana", "a PANA message (RFC 5191), e.g. the data of an ERXUDP line on port 716"),
        ("lowpan", "an IEEE 802.15.4 frame (no FCS) carrying 6LoWPAN-compressed IPv6/UDP"),
    ):
        sub = protocols.add_parser(name, help=text)
        sub.add_argument("hex", type=hex_argument, help="the bytes in hex, spaces allowed")
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")
        sub.set_defaults(handler=_decode_pana if name == "pana" else _decode_lowpan)


def _eap_json(data: bytes) -> dict[str, Any]:
    packet = EapPacket.decode(data)
    doc: dict[str, Any] = {"code": int(packet.code), "identifier": packet.identifier}
    if packet.type is not None:
        doc["type"] = packet.type
        if packet.type == EAP_TYPE_PSK:
            message = decode_psk_message(packet.data)
            doc["eap_psk"] = type(message).__name__.replace("PskMessage", "message ")
    return doc


def pana_to_json(message: pana.PanaMessage) -> dict[str, Any]:
    """The JSON form printed by ``decode pana --json``."""
    avps = []
    for avp in message.avps:
        entry: dict[str, Any] = {"code": avp.code, "value": avp.value.hex()}
        try:
            entry["name"] = pana.AvpCode(avp.code).name
        except ValueError:
            entry["name"] = None
        if avp.code == pana.AvpCode.EAP_PAYLOAD:
            try:
                entry["eap"] = _eap_json(avp.value)
            except DecodeError as exc:
                entry["eap_error"] = str(exc)
        elif len(avp.value) == 4 and avp.code != pana.AvpCode.AUTH:
            entry["number"] = int.from_bytes(avp.value, "big")
        avps.append(entry)
    return {
        "message": message.name,
        "type": int(message.message_type),
        "flags": f"0x{int(message.flags):04X}",
        "session_id": f"0x{message.session_id:08X}",
        "sequence": message.sequence,
        "avps": avps,
    }


def _print(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(doc, indent=2))
        return
    for key, value in doc.items():
        if isinstance(value, list):
            print(f"{key}:")
            for item in value:
                print(f"  {json.dumps(item)}")
        elif isinstance(value, dict):
            print(f"{key}: {json.dumps(value)}")
        else:
            print(f"{key}: {value}")


def _decode_pana(args: argparse.Namespace) -> int:
    try:
        doc = pana_to_json(pana.decode(args.hex))
    except DecodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _print(doc, args.json)
    return 0


def _decode_lowpan(args: argparse.Namespace) -> int:
    from ..echonet import frame as echonet_frame
    from .decode import echonet_to_json

    try:
        frame = mac802154.decode(args.hex)
        doc: dict[str, Any] = {
            "mac": {
                "type": int(frame.frame_type),
                "seq": frame.seq,
                "pan_id": None if frame.dst_pan_id is None else f"0x{frame.dst_pan_id:04X}",
                "dst": None if frame.dst_addr is None else frame.dst_addr.hex().upper(),
                "src": None if frame.src_addr is None else frame.src_addr.hex().upper(),
                "secured": frame.security_enabled,
            }
        }
        datagram = Reassembler().feed(args.hex, 0.0)
    except DecodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if datagram is None:
        doc["ipv6"] = None  # a fragment, or not IPv6/UDP
    else:
        doc["ipv6"] = {"src": _ip(datagram.src_ip), "dst": _ip(datagram.dst_ip)}
        doc["udp"] = {"src_port": datagram.src_port, "dst_port": datagram.dst_port}
        payload = datagram.payload
        try:
            if _PANA_PORT in (datagram.src_port, datagram.dst_port):
                doc["pana"] = pana_to_json(pana.decode(payload))
            elif _ECHONET_PORT in (datagram.src_port, datagram.dst_port):
                doc["echonet"] = echonet_to_json(echonet_frame.decode(payload))
            else:
                doc["payload"] = payload.hex()
        except DecodeError as exc:
            doc["payload"] = payload.hex()
            doc["payload_error"] = str(exc)
    _print(doc, args.json)
    return 0


def _ip(address: bytes) -> str:
    from ipaddress import IPv6Address

    return str(IPv6Address(address))
