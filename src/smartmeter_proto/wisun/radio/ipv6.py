"""IPv6 (RFC 8200) + UDP (RFC 768) headers: build, parse, checksum, link-local addresses.

Used by the 6LoWPAN layer (:mod:`.lowpan`) and by simulators that carry IPv6 packets
uncompressed. Sans-IO, pure functions.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..._buffer import Cursor
from ...errors import EncodeError

__all__ = [
    "ALL_NODES",
    "IPV6_HEADER_LEN",
    "IPV6_VERSION",
    "LINK_LOCAL_PREFIX",
    "NH_UDP",
    "UDP_HEADER",
    "UDP_HEADER_LEN",
    "Ipv6Header",
    "build_ipv6_udp",
    "iid_from_mac",
    "link_local",
    "parse_ipv6",
    "parse_ipv6_udp",
    "udp_checksum",
]

#: ff02::1, link-local all-nodes multicast (RFC 4291 section 2.7.1).
ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")
#: fe80::/64, the link-local prefix (RFC 4291 section 2.5.6).
LINK_LOCAL_PREFIX = bytes.fromhex("fe80000000000000")

IPV6_HEADER_LEN = 40  # RFC 8200 section 3
UDP_HEADER_LEN = 8  # RFC 768
NH_UDP = 17  # IANA protocol number
IPV6_VERSION = 6

UDP_HEADER = struct.Struct(">HHHH")


@dataclass(frozen=True, slots=True)
class Ipv6Header:
    """Fixed IPv6 header (RFC 8200 section 3); addresses are 16 bytes."""

    src: bytes
    dst: bytes
    next_header: int
    hop_limit: int
    payload_length: int
    traffic_class: int = 0
    flow_label: int = 0

    def encode(self) -> bytes:
        first = (IPV6_VERSION << 28) | (self.traffic_class << 20) | self.flow_label
        return (
            struct.pack(">IHBB", first, self.payload_length, self.next_header, self.hop_limit)
            + self.src
            + self.dst
        )


# --- addresses ------------------------------------------------------------------------


def iid_from_mac(mac: bytes) -> bytes:
    """Interface ID from an 802.15.4 address (RFC 4944 section 6, RFC 6282 section 3.2.2).

    Extended (8 bytes): the EUI-64 with the U/L bit inverted. Short (2 bytes):
    ``0000:00ff:fe00:XXXX``.
    """
    if len(mac) == 8:
        return bytes([mac[0] ^ 0x02]) + mac[1:]
    if len(mac) == 2:
        return b"\x00\x00\x00\xff\xfe\x00" + mac
    raise ValueError(f"802.15.4 address must be 2 or 8 bytes, got {len(mac)}")


def link_local(mac: bytes) -> bytes:
    """fe80::/64 address whose interface ID derives from ``mac``."""
    return LINK_LOCAL_PREFIX + iid_from_mac(mac)


# --- IPv6 / UDP -----------------------------------------------------------------------


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    words: tuple[int, ...] = struct.unpack(f">{len(data) // 2}H", data)
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def udp_checksum(src_ip: bytes, dst_ip: bytes, segment: bytes) -> int:
    """UDP checksum over the IPv6 pseudo-header (RFC 8200 section 8.1).

    ``segment`` is the UDP header + payload with the checksum field zero. A computed
    zero is returned as 0xFFFF, as RFC 768 prescribes.
    """
    pseudo = src_ip + dst_ip + struct.pack(">II", len(segment), NH_UDP)
    value = 0xFFFF ^ _sum16(pseudo + segment)
    return value or 0xFFFF


def build_ipv6_udp(
    *,
    src_ip: bytes,
    dst_ip: bytes,
    src_port: int,
    dst_port: int,
    payload: bytes,
    hop_limit: int = 255,
) -> bytes:
    """An IPv6 packet carrying one UDP datagram with its checksum."""
    if len(src_ip) != 16 or len(dst_ip) != 16:
        raise EncodeError("IPv6 addresses must be 16 bytes")
    length = UDP_HEADER_LEN + len(payload)
    if length > 0xFFFF or not (0 <= src_port <= 0xFFFF and 0 <= dst_port <= 0xFFFF):
        raise EncodeError("UDP port or length out of range")
    if not 0 <= hop_limit <= 0xFF:
        raise EncodeError(f"hop limit out of range: {hop_limit}")
    segment = UDP_HEADER.pack(src_port, dst_port, length, 0) + payload
    checksum = udp_checksum(src_ip, dst_ip, segment)
    segment = segment[:6] + checksum.to_bytes(2, "big") + segment[8:]
    return Ipv6Header(src_ip, dst_ip, NH_UDP, hop_limit, length).encode() + segment


def parse_ipv6(packet: bytes) -> tuple[Ipv6Header, bytes]:
    """(IPv6 header, payload); raises :class:`DecodeError` on a malformed fixed header."""
    cur = Cursor(packet, "ipv6")
    first = cur.pull_uint32("version/class/flow")
    if first >> 28 != IPV6_VERSION:
        raise cur.error(f"IP version {first >> 28}, expected 6", 0)
    length = cur.pull_uint16("payload length")
    next_header, hop_limit = cur.pull_uint8("next header"), cur.pull_uint8("hop limit")
    src, dst = cur.pull_bytes(16, "source address"), cur.pull_bytes(16, "destination address")
    if cur.remaining != length:
        raise cur.error(f"payload length {length} but {cur.remaining} bytes follow", 4)
    header = Ipv6Header(
        src, dst, next_header, hop_limit, length, (first >> 20) & 0xFF, first & 0xFFFFF
    )
    return header, cur.pull_rest()


def parse_ipv6_udp(packet: bytes) -> tuple[Ipv6Header, int, int, bytes]:
    """(IPv6 header, source port, destination port, payload); checksum verified.

    Raises :class:`DecodeError` when the packet is not IPv6 + UDP or the UDP length or
    checksum is wrong (a zero checksum is invalid over IPv6, RFC 8200 section 8.1).
    """
    header, segment = parse_ipv6(packet)
    cur = Cursor(segment, "udp")
    if header.next_header != NH_UDP:
        raise cur.error(f"next header {header.next_header} is not UDP", 0)
    sport, dport, length, checksum = (cur.pull_uint16(n) for n in ("sport", "dport", "len", "sum"))
    if length != len(segment):
        raise cur.error(f"UDP length {length} but {len(segment)} bytes", 4)
    zeroed = segment[:6] + b"\x00\x00" + segment[8:]
    if checksum == 0 or checksum != udp_checksum(header.src, header.dst, zeroed):
        raise cur.error(f"bad UDP checksum {checksum:04x}", 6)
    return header, sport, dport, cur.pull_rest()
