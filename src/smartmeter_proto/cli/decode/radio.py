"""``smartmeter-proto decode pana|lowpan HEX|-``: the B-route below the dongle, readable.

``pana`` takes a PANA message (the data of an ``ERXUDP ... 02CC 02CC`` line); its
EAP-Payload AVP holds exactly one EAP packet (RFC 5191 section 8.4), decoded too.
``lowpan`` takes an IEEE 802.15.4 frame without FCS carrying 6LoWPAN (a pcap record of
link type 230): a data frame (RFC 4944 section 3: IPv6 rides data frames only) with an
IPHC or uncompressed-IPv6 dispatch, or a fragment header (RFC 4944 section 5.3). Its UDP
payload is decoded further when it is PANA (port 716) or ECHONET Lite (port 3610), as
strictly as ``decode pana`` and ``decode echonet`` do.
"""

from __future__ import annotations

import argparse
from ipaddress import IPv6Address
from typing import Any, Final

from ..._buffer import Cursor
from ...auth.eap import EAP_TYPE_PSK, EapCode, EapPacket
from ...auth.eap_psk_messages import decode_psk_message
from ...echonet import frame as echonet_frame
from ...echonet.frame import ECHONET_PORT
from ...errors import DecodeError
from ...wisun.radio import lowpan, mac802154
from ...wisun.radio.ipv6 import NH_UDP, parse_ipv6, parse_ipv6_udp
from ...wisun.radio.pana import message as pana
from .echonet import echonet_to_json
from .input import add_input_arguments, print_tree, run_decoder

__all__ = ["decode_lowpan", "decode_pana", "pana_to_json", "register"]

_PANA_PORT: Final = pana.PANA_UDP_PORT
#: PANA header: reserved, length, flags, type (2 bytes each), session id, sequence (4 each).
_PANA_HEADER: Final = 16
#: AVP header: code, flags, length, reserved (2 bytes each); a vendor id adds 4.
_AVP_HEADER: Final = 8
_AVP_VENDOR: Final = 4
_AVP_ALIGN: Final = 4
_U32_SIZE: Final = 4
#: RFC 4944 section 5.1 / 5.3 dispatch patterns of the fragment headers.
_FRAG_MASK: Final = 0xF8
_FRAG1: Final = 0xC0
_FRAGN: Final = 0xE0
_DATAGRAM_SIZE_MASK: Final = 0x07FF


def register(protocols: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``pana`` and ``lowpan`` to ``decode``'s protocols."""
    sub = protocols.add_parser(
        "pana", help="a PANA message (RFC 5191), e.g. the data of an ERXUDP line on port 716"
    )
    add_input_arguments(sub, "the message")
    sub.set_defaults(handler=lambda args: run_decoder(args, decode_pana, print_tree))
    sub = protocols.add_parser(
        "lowpan", help="an IEEE 802.15.4 frame (no FCS) carrying 6LoWPAN-compressed IPv6/UDP"
    )
    add_input_arguments(sub, "the MAC frame (no FCS)")
    sub.set_defaults(handler=lambda args: run_decoder(args, decode_lowpan, print_tree))


def _name(enum: Any, value: int) -> str | None:
    try:
        return str(enum(value).name)
    except ValueError:
        return None


def _eap_json(data: bytes, at: int) -> dict[str, Any]:
    """The EAP packet filling an EAP-Payload AVP whose value starts at ``at``."""
    try:
        packet = EapPacket.decode(data)
        length = int.from_bytes(data[2:4], "big")
        if length != len(data):
            raise DecodeError(
                "eap", 2, f"length {length} but the EAP-Payload AVP holds {len(data)} bytes"
            )
        doc: dict[str, Any] = {
            "code": int(packet.code),
            "code_name": _name(EapCode, packet.code),
            "identifier": packet.identifier,
        }
        if packet.type is not None:
            doc["type"] = packet.type
            if packet.type == EAP_TYPE_PSK:
                message = decode_psk_message(packet.data)
                doc["eap_psk"] = type(message).__name__.replace("PskMessage", "message ")
    except DecodeError as exc:
        raise DecodeError(exc.layer, at + exc.offset, exc.reason) from None
    return doc


def pana_to_json(message: pana.PanaMessage) -> dict[str, Any]:
    """The JSON form printed by ``decode pana --json``.

    Numbers are numbers; ``*_name`` keys name the codes (``None`` when unassigned).
    Raises :class:`DecodeError` when an EAP-Payload AVP does not hold one valid EAP packet.
    """
    avps = []
    at = _PANA_HEADER
    for avp in message.avps:
        value_at = at + _AVP_HEADER + (_AVP_VENDOR if avp.vendor_id is not None else 0)
        entry: dict[str, Any] = {
            "code": avp.code,
            "name": _name(pana.AvpCode, avp.code) if avp.vendor_id is None else None,
            "flags": avp.flags,
            "vendor_id": avp.vendor_id,
            "value": avp.value.hex(),
        }
        if avp.vendor_id is None and avp.code == pana.AvpCode.EAP_PAYLOAD:
            entry["eap"] = _eap_json(avp.value, value_at)
        elif len(avp.value) == _U32_SIZE and avp.code != pana.AvpCode.AUTH:
            entry["number"] = int.from_bytes(avp.value, "big")
        avps.append(entry)
        at = value_at + len(avp.value) + (-len(avp.value) % _AVP_ALIGN)
    flags = int(message.flags)
    return {
        "message": message.name,
        "type": int(message.message_type),
        "type_name": _name(pana.MessageType, int(message.message_type)),
        "flags": flags,
        "flag_names": [f.name for f in pana.Flag if f.name and flags & f.value],
        "session_id": message.session_id,
        "sequence": message.sequence,
        "avps": avps,
    }


def decode_pana(data: bytes, args: argparse.Namespace | None = None) -> dict[str, Any]:
    """One PANA message (RFC 5191 section 6) to JSON; :class:`DecodeError` if malformed."""
    return pana_to_json(pana.decode(data))


def _mac_json(frame: mac802154.MacFrame) -> dict[str, Any]:
    kind = int(frame.frame_type)
    return {
        "type": kind,
        "type_name": _name(mac802154.FrameType, kind),
        "version": int(frame.frame_version),
        "seq": frame.seq,
        "pan_id": frame.dst_pan_id if frame.dst_pan_id is not None else frame.src_pan_id,
        "dst": None if frame.dst_addr is None else frame.dst_addr.hex().upper(),
        "src": None if frame.src_addr is None else frame.src_addr.hex().upper(),
        "secured": frame.security_enabled,
        "ack_request": frame.ack_request,
    }


def _fragment_json(payload: bytes, at: int) -> dict[str, Any]:
    """A FRAG1/FRAGN header (RFC 4944 section 5.3); the rest needs the other fragments."""
    cur = Cursor(payload, lowpan.LAYER)
    first = payload[0] & _FRAG_MASK == _FRAG1
    try:
        size = cur.pull_uint16("datagram size") & _DATAGRAM_SIZE_MASK
        tag = cur.pull_uint16("datagram tag")
        offset = 0 if first else cur.pull_uint8("datagram offset") * lowpan.FRAG_OFFSET_UNIT
    except DecodeError as exc:
        raise DecodeError(exc.layer, at + exc.offset, exc.reason) from None
    return {
        "kind": "FRAG1" if first else "FRAGN",
        "datagram_size": size,
        "datagram_tag": tag,
        "datagram_offset": offset,
        "fragment_bytes": cur.remaining,
    }


def _udp_payload_json(doc: dict[str, Any], sport: int, dport: int, payload: bytes) -> None:
    if _PANA_PORT in (sport, dport):
        doc["pana"] = pana_to_json(pana.decode(payload))
    elif ECHONET_PORT in (sport, dport):
        doc["echonet"] = echonet_to_json(echonet_frame.decode(payload, strict=True))
    else:
        doc["payload"] = payload.hex()


def decode_lowpan(data: bytes, args: argparse.Namespace | None = None) -> dict[str, Any]:
    """One 802.15.4 data frame carrying 6LoWPAN to JSON, down to PANA or ECHONET Lite."""
    frame = mac802154.decode(data, strict=True)
    doc: dict[str, Any] = {"mac": _mac_json(frame)}
    at = len(data) - len(frame.payload)
    if frame.frame_type != mac802154.FrameType.DATA:
        raise DecodeError(
            lowpan.LAYER,
            0,
            f"a {doc['mac']['type_name'].lower()} frame carries no 6LoWPAN "
            "(RFC 4944 section 3: IPv6 rides data frames)",
        )
    if frame.security is not None:
        raise DecodeError(lowpan.LAYER, at, "secured frame: the payload is CCM*-protected")
    if frame.ie_present:
        raise DecodeError(lowpan.LAYER, at, "information elements present: not decoded")
    if not frame.payload:
        raise DecodeError(lowpan.LAYER, at, "data frame without a 6LoWPAN payload")
    if frame.payload[0] & _FRAG_MASK in (_FRAG1, _FRAGN):
        doc["fragment"] = _fragment_json(frame.payload, at)
        return doc
    try:
        packet = lowpan.decompress(frame.payload, src_mac=frame.src_addr, dst_mac=frame.dst_addr)
        header, segment = parse_ipv6(packet)
    except DecodeError as exc:
        raise DecodeError(exc.layer, at + exc.offset, exc.reason) from None
    doc["ipv6"] = {
        "src": str(IPv6Address(header.src)),
        "dst": str(IPv6Address(header.dst)),
        "next_header": header.next_header,
        "hop_limit": header.hop_limit,
    }
    if header.next_header != NH_UDP:
        doc["payload"] = segment.hex()
        return doc
    _header, sport, dport, payload = parse_ipv6_udp(packet)
    doc["udp"] = {"src_port": sport, "dst_port": dport, "length": len(segment)}
    payload_at = len(data) - len(payload)
    try:
        _udp_payload_json(doc, sport, dport, payload)
    except DecodeError as exc:
        raise DecodeError(exc.layer, payload_at + exc.offset, exc.reason) from None
    return doc
