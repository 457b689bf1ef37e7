"""6LoWPAN over IEEE 802.15.4: IPHC + NHC UDP (RFC 6282), fragmentation (RFC 4944).

Sans-IO: :func:`udp_frames` turns one UDP datagram into MAC frames (without FCS) and
:class:`Reassembler` turns received MAC frames back into :class:`UdpDatagram` s, with
the caller passing the time. The IPv6 (RFC 8200) and UDP (RFC 768) header codec lives
in :mod:`.ipv6`; its public names are re-exported here.

Contexts for stateful compression map a context ID (0-15) to a /64 prefix (8 bytes);
longer or shorter context prefixes are not supported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from ..._buffer import Cursor
from ...errors import DecodeError, EncodeError
from . import mac802154
from .ipv6 import (
    ALL_NODES,
    IPV6_HEADER_LEN,
    IPV6_VERSION,
    LINK_LOCAL_PREFIX,
    NH_UDP,
    UDP_HEADER,
    UDP_HEADER_LEN,
    Ipv6Header,
    build_ipv6_udp,
    iid_from_mac,
    link_local,
    parse_ipv6,
    parse_ipv6_udp,
    udp_checksum,
)

__all__ = [
    "ALL_NODES",
    "LAYER",
    "REASSEMBLY_TIMEOUT_S",
    "Ipv6Header",
    "Reassembler",
    "UdpDatagram",
    "build_ipv6_udp",
    "compress",
    "decompress",
    "iid_from_mac",
    "link_local",
    "parse_ipv6_udp",
    "udp_checksum",
    "udp_frames",
]

LAYER = "6lowpan"

#: Reassembly timeout, the maximum RFC 4944 section 5.3 allows.
REASSEMBLY_TIMEOUT_S = 60.0
#: Largest datagram_size the 11-bit field can carry (RFC 4944 section 5.3).
MAX_DATAGRAM_SIZE = 2047

# Dispatch values (RFC 4944 section 5.1, RFC 6282 section 3.1).
DISPATCH_IPV6 = 0x41
_IPHC_MASK, _IPHC_VALUE = 0xE0, 0x60  # 011xxxxx
_FRAG_MASK, _FRAG1, _FRAGN = 0xF8, 0xC0, 0xE0  # 11000xxx, 11100xxx
FRAG1_HEADER_LEN, FRAGN_HEADER_LEN = 4, 5
FRAG_OFFSET_UNIT = 8  # datagram_offset counts 8-octet units
# NHC UDP (RFC 6282 section 4.3.3): 11110CPP.
_NHC_UDP_MASK, _NHC_UDP_VALUE = 0xF8, 0xF0
_NHC_UDP_CHECKSUM_ELIDED = 0x04
_PORT_8BIT_BASE, _PORT_4BIT_BASE = 0xF000, 0xF0B0  # RFC 6282 section 4.3.3
# Hop limit codes (RFC 6282 section 3.1.1, HLIM).
_HLIM_CODES = {1: 1, 64: 2, 255: 3}
_HLIM_VALUES = {1: 1, 2: 64, 3: 255}


@dataclass(frozen=True, slots=True)
class UdpDatagram:
    """One UDP datagram received over 6LoWPAN, with the link-layer addresses it came with."""

    src_mac: bytes
    dst_mac: bytes
    src_ip: bytes
    dst_ip: bytes
    src_port: int
    dst_port: int
    payload: bytes
    hop_limit: int


# --- addresses ------------------------------------------------------------------------


def _iid_16(iid: bytes) -> bool:
    return iid[:6] == b"\x00\x00\x00\xff\xfe\x00"


# --- IPHC + NHC UDP compression (RFC 6282) ---------------------------------------------


def _find_context(addr: bytes, contexts: Mapping[int, bytes]) -> int | None:
    for cid, prefix in sorted(contexts.items()):
        if addr[:8] == prefix:
            return cid
    return None


def _compress_unicast(
    addr: bytes, mac: bytes | None, contexts: Mapping[int, bytes]
) -> tuple[int, int, bytes, int]:
    """(AC bit, AM mode, inline bytes, context id) for a unicast address."""
    if addr == bytes(16):
        return 1, 0, b"", 0  # SAC=1 SAM=00: the unspecified address
    if addr[:8] == LINK_LOCAL_PREFIX:
        ac, cid = 0, 0
    else:
        found = _find_context(addr, contexts)
        if found is None:
            return 0, 0, addr, 0
        ac, cid = 1, found
    iid = addr[8:]
    if mac is not None and iid == iid_from_mac(mac):
        return ac, 3, b"", cid
    if _iid_16(iid):
        return ac, 2, iid[6:], cid
    return ac, 1, iid, cid


def _compress_multicast(addr: bytes) -> tuple[int, bytes]:
    """(DAM, inline bytes) for a multicast address with DAC=0 (RFC 6282 section 3.1.1)."""
    if addr[1] == 0x02 and addr[2:15] == bytes(13):
        return 3, addr[15:]
    if addr[2:13] == bytes(11):
        return 2, addr[1:2] + addr[13:]
    if addr[2:11] == bytes(9):
        return 1, addr[1:2] + addr[11:]
    return 0, addr


def _compress_tf(traffic_class: int, flow_label: int) -> tuple[int, bytes]:
    ecn, dscp = traffic_class & 0x03, traffic_class >> 2
    if flow_label == 0 and traffic_class == 0:
        return 3, b""
    if flow_label == 0:
        return 2, bytes([(ecn << 6) | dscp])
    if dscp == 0:
        return 1, ((ecn << 22) | flow_label).to_bytes(3, "big")
    return 0, bytes([(ecn << 6) | dscp]) + flow_label.to_bytes(3, "big")


def _compress_udp_ports(sport: int, dport: int) -> tuple[int, bytes]:
    if sport & 0xFFF0 == _PORT_4BIT_BASE and dport & 0xFFF0 == _PORT_4BIT_BASE:
        return 3, bytes([((sport & 0xF) << 4) | (dport & 0xF)])
    if dport & 0xFF00 == _PORT_8BIT_BASE:
        return 1, sport.to_bytes(2, "big") + bytes([dport & 0xFF])
    if sport & 0xFF00 == _PORT_8BIT_BASE:
        return 2, bytes([sport & 0xFF]) + dport.to_bytes(2, "big")
    return 0, sport.to_bytes(2, "big") + dport.to_bytes(2, "big")


def compress(
    packet: bytes,
    *,
    src_mac: bytes | None,
    dst_mac: bytes | None,
    contexts: Mapping[int, bytes] | None = None,
) -> tuple[bytes, int]:
    """IPHC-compress an IPv6 packet (UDP with NHC, checksum carried inline).

    Returns (6LoWPAN bytes starting with the IPHC dispatch, length of the uncompressed
    headers they replace: 40, or 48 with UDP). ``src_mac``/``dst_mac`` are the
    802.15.4 addresses the frame will carry, used to elide interface IDs.
    """
    contexts = contexts or {}
    header, rest = parse_ipv6(packet)
    tf, tf_inline = _compress_tf(header.traffic_class, header.flow_label)
    use_nhc = (  # NHC elides the UDP length, so only when it matches (RFC 6282 4.3.3)
        header.next_header == NH_UDP
        and len(rest) >= UDP_HEADER_LEN
        and int.from_bytes(rest[4:6], "big") == len(rest)
    )
    hlim = _HLIM_CODES.get(header.hop_limit, 0)
    sac, sam, src_inline, sci = _compress_unicast(header.src, src_mac, contexts)
    if header.dst[0] == 0xFF:
        m, dac, dci = 1, 0, 0
        dam, dst_inline = _compress_multicast(header.dst)
    else:
        m = 0
        dac, dam, dst_inline, dci = _compress_unicast(header.dst, dst_mac, contexts)
        if dac and dam == 0:  # DAC=1 DAM=00 is reserved: the unspecified address inline
            dac, dam, dst_inline = 0, 0, header.dst
    out = bytearray([_IPHC_VALUE | (tf << 3) | (int(use_nhc) << 2) | hlim])
    cid = int(sci != 0 or dci != 0)
    out.append((cid << 7) | (sac << 6) | (sam << 4) | (m << 3) | (dac << 2) | dam)
    if cid:
        out.append((sci << 4) | dci)
    out += tf_inline
    if not use_nhc:
        out.append(header.next_header)
    if hlim == 0:
        out.append(header.hop_limit)
    out += src_inline + dst_inline
    if not use_nhc:
        return bytes(out) + rest, IPV6_HEADER_LEN
    sport, dport, _length, checksum = UDP_HEADER.unpack_from(rest)
    ports_mode, ports = _compress_udp_ports(sport, dport)
    out.append(_NHC_UDP_VALUE | ports_mode)
    out += ports + checksum.to_bytes(2, "big")
    return bytes(out) + rest[UDP_HEADER_LEN:], IPV6_HEADER_LEN + UDP_HEADER_LEN


def _context(cur: Cursor, contexts: Mapping[int, bytes], cid: int) -> bytes:
    prefix = contexts.get(cid)
    if prefix is None:
        raise cur.error(f"unknown context {cid}")
    return prefix


def _unicast(
    cur: Cursor, ac: int, am: int, mac: bytes | None, contexts: Mapping[int, bytes], cid: int
) -> bytes:
    if ac and am == 0:
        return bytes(16)
    if not ac and am == 0:
        return cur.pull_bytes(16, "inline address")
    prefix = _context(cur, contexts, cid) if ac else LINK_LOCAL_PREFIX
    if am == 1:
        return prefix + cur.pull_bytes(8, "inline interface ID")
    if am == 2:
        return prefix + b"\x00\x00\x00\xff\xfe\x00" + cur.pull_bytes(2, "inline short ID")
    if mac is None:
        raise cur.error("address elided but the frame carries no link-layer address")
    return prefix + iid_from_mac(mac)


def _multicast(cur: Cursor, dac: int, dam: int, contexts: Mapping[int, bytes], cid: int) -> bytes:
    if dac:
        if dam != 0:
            raise cur.error(f"reserved multicast mode DAC=1 DAM={dam}")
        # ffXX:XXLL:PPPP:PPPP:PPPP:PPPP:XXXX:XXXX (RFC 6282 section 3.1.1, RFC 3306)
        inline = cur.pull_bytes(6, "multicast inline")
        prefix = _context(cur, contexts, cid)
        plen = 64
        return b"\xff" + inline[:2] + bytes([plen]) + prefix + inline[2:]
    if dam == 0:
        return cur.pull_bytes(16, "multicast address")
    if dam == 1:
        data = cur.pull_bytes(6, "multicast 48 bits")
        return b"\xff" + data[:1] + bytes(9) + data[1:]
    if dam == 2:
        data = cur.pull_bytes(4, "multicast 32 bits")
        return b"\xff" + data[:1] + bytes(11) + data[1:]
    return b"\xff\x02" + bytes(13) + cur.pull_bytes(1, "multicast 8 bits")


def _decompress_headers(
    data: bytes,
    src_mac: bytes | None,
    dst_mac: bytes | None,
    contexts: Mapping[int, bytes],
    datagram_size: int | None,
) -> tuple[bytes, int, bool]:
    """(uncompressed IPv6 [+ UDP] headers, bytes of ``data`` consumed, checksum elided)."""
    cur = Cursor(data, LAYER)
    b0, b1 = cur.pull_uint8("IPHC"), cur.pull_uint8("IPHC")
    if b0 & _IPHC_MASK != _IPHC_VALUE:
        raise cur.error(f"not an IPHC dispatch: {b0:02x}", 0)
    tf, nh, hlim = (b0 >> 3) & 3, (b0 >> 2) & 1, b0 & 3
    cid, sac, sam = b1 >> 7, (b1 >> 6) & 1, (b1 >> 4) & 3
    m, dac, dam = (b1 >> 3) & 1, (b1 >> 2) & 1, b1 & 3
    sci = dci = 0
    if cid:
        ctx = cur.pull_uint8("context identifier")
        sci, dci = ctx >> 4, ctx & 0xF
    traffic_class = flow_label = 0
    if tf in (0, 2):
        byte = cur.pull_uint8("traffic class")
        traffic_class = ((byte & 0x3F) << 2) | (byte >> 6)
        if tf == 0:
            flow_label = int.from_bytes(cur.pull_bytes(3, "flow label"), "big") & 0xFFFFF
    elif tf == 1:
        raw = int.from_bytes(cur.pull_bytes(3, "ECN + flow label"), "big")
        traffic_class, flow_label = raw >> 22, raw & 0xFFFFF
    next_header = NH_UDP if nh else cur.pull_uint8("next header")
    hop_limit = _HLIM_VALUES[hlim] if hlim else cur.pull_uint8("hop limit")
    src = _unicast(cur, sac, sam, src_mac, contexts, sci)
    if m:
        dst = _multicast(cur, dac, dam, contexts, dci)
    elif dac and dam == 0:
        raise cur.error("reserved mode DAC=1 DAM=00")
    else:
        dst = _unicast(cur, dac, dam, dst_mac, contexts, dci)
    udp, elided = b"", False
    if nh:
        nhc_at = cur.offset
        nhc = cur.pull_uint8("NHC")
        if nhc & _NHC_UDP_MASK != _NHC_UDP_VALUE:
            raise cur.error(f"unsupported NHC {nhc:02x}", nhc_at)
        sport, dport = _nhc_ports(cur, nhc & 3)
        elided = bool(nhc & _NHC_UDP_CHECKSUM_ELIDED)
        checksum = 0 if elided else cur.pull_uint16("UDP checksum")
        udp = UDP_HEADER.pack(sport, dport, 0, checksum)
    headers_len = IPV6_HEADER_LEN + len(udp)
    total = datagram_size if datagram_size is not None else headers_len + cur.remaining
    if total < headers_len or total - IPV6_HEADER_LEN > 0xFFFF:
        raise cur.error(f"datagram size {total} cannot hold its {headers_len}-byte headers")
    payload_length = total - IPV6_HEADER_LEN
    ip = Ipv6Header(src, dst, next_header, hop_limit, payload_length, traffic_class, flow_label)
    if udp:
        udp = udp[:4] + payload_length.to_bytes(2, "big") + udp[6:]
    return ip.encode() + udp, cur.offset, elided


def _nhc_ports(cur: Cursor, mode: int) -> tuple[int, int]:
    if mode == 0:
        return cur.pull_uint16("UDP source port"), cur.pull_uint16("UDP destination port")
    if mode == 1:
        return cur.pull_uint16("UDP source port"), _PORT_8BIT_BASE | cur.pull_uint8("dst port")
    if mode == 2:
        return _PORT_8BIT_BASE | cur.pull_uint8("src port"), cur.pull_uint16("UDP dst port")
    both = cur.pull_uint8("UDP ports")
    return _PORT_4BIT_BASE | (both >> 4), _PORT_4BIT_BASE | (both & 0xF)


def _fill_udp_checksum(packet: bytes) -> bytes:
    """Recompute an elided NHC UDP checksum (RFC 6282 section 4.3.2)."""
    checksum = udp_checksum(packet[8:24], packet[24:40], packet[40:])
    return packet[:46] + checksum.to_bytes(2, "big") + packet[48:]


def decompress(
    data: bytes,
    *,
    src_mac: bytes | None,
    dst_mac: bytes | None,
    contexts: Mapping[int, bytes] | None = None,
) -> bytes:
    """The IPv6 packet carried by an unfragmented 6LoWPAN payload (IPHC or 0x41 dispatch)."""
    if data[:1] == bytes([DISPATCH_IPV6]):
        return data[1:]
    headers, used, elided = _decompress_headers(data, src_mac, dst_mac, contexts or {}, None)
    packet = headers + data[used:]
    return _fill_udp_checksum(packet) if elided else packet


# --- fragmentation (RFC 4944 section 5.3) ----------------------------------------------


def _fragments(
    lowpan: bytes, compressed_header: int, gain: int, room: int, tag: int
) -> list[bytes]:
    """Split a compressed datagram into FRAG1/FRAGN payloads of at most ``room`` bytes.

    ``gain`` is how many bytes longer the uncompressed headers are than the
    ``compressed_header`` bytes that replace them: datagram_size and datagram_offset
    count the uncompressed datagram, offsets in 8-octet units.
    """
    size = len(lowpan) + gain
    if size > MAX_DATAGRAM_SIZE:
        raise EncodeError(f"datagram of {size} bytes exceeds the 11-bit datagram_size")
    # FRAG1: the uncompressed length it covers must be a multiple of 8
    covered = (room - FRAG1_HEADER_LEN + gain) // FRAG_OFFSET_UNIT * FRAG_OFFSET_UNIT
    first_len = covered - gain
    step = (room - FRAGN_HEADER_LEN) // FRAG_OFFSET_UNIT * FRAG_OFFSET_UNIT
    if first_len < compressed_header or step <= 0:
        raise EncodeError("MAC frame too small to fragment this datagram")
    head = (size | (_FRAG1 << 8)).to_bytes(2, "big") + tag.to_bytes(2, "big")
    out = [head + lowpan[:first_len]]
    head = (size | (_FRAGN << 8)).to_bytes(2, "big") + tag.to_bytes(2, "big")
    for pos in range(first_len, len(lowpan), step):
        offset = (pos + gain) // FRAG_OFFSET_UNIT
        out.append(head + bytes([offset]) + lowpan[pos : pos + step])
    return out


def udp_frames(
    *,
    src_mac: bytes,
    dst_mac: bytes | None,
    pan_id: int,
    src_port: int,
    dst_port: int,
    payload: bytes,
    seq: int,
    tag: int,
    src_ip: bytes | None = None,
    dst_ip: bytes | None = None,
    hop_limit: int = 255,
    mtu: int = 127,
) -> list[bytes]:
    """MAC frames (without FCS) carrying one UDP datagram, fragmented when needed.

    ``dst_mac`` ``None`` sends to the broadcast short address 0xFFFF and, by default,
    to ff02::1. Sequence numbers count up from ``seq`` (mod 256), one per frame.
    ``mtu`` is the largest PSDU including the 2-byte FCS (aMaxPHYPacketSize = 127).
    """
    dst_link = mac802154.BROADCAST_SHORT if dst_mac is None else dst_mac
    if src_ip is None:
        src_ip = link_local(src_mac)
    if dst_ip is None:
        dst_ip = ALL_NODES if dst_mac is None else link_local(dst_mac)
    if not 0 <= tag <= 0xFFFF:
        raise EncodeError(f"datagram tag out of range: {tag}")
    packet = build_ipv6_udp(
        src_ip=src_ip,
        dst_ip=dst_ip,
        src_port=src_port,
        dst_port=dst_port,
        payload=payload,
        hop_limit=hop_limit,
    )
    lowpan, uncompressed = compress(packet, src_mac=src_mac, dst_mac=dst_link)
    frame = partial(mac802154.data_frame, src_addr=src_mac, dst_addr=dst_mac, pan_id=pan_id)
    header_len = len(frame(seq=seq, payload=b"").header())
    room = mtu - mac802154.FCS_LEN - header_len
    compressed_header = len(lowpan) - len(payload)
    gain = uncompressed - compressed_header
    if len(lowpan) <= room:
        pieces = [lowpan]
    else:
        pieces = _fragments(lowpan, compressed_header, gain, room, tag)
    return [frame(seq=(seq + i) & 0xFF, payload=piece).encode() for i, piece in enumerate(pieces)]


# --- reassembly -----------------------------------------------------------------------


@dataclass(slots=True)
class _Partial:
    size: int
    started: float
    buffer: bytearray
    pieces: dict[int, int]  # offset -> length
    received: int = 0
    fill_checksum: bool = False


class Reassembler:
    """Turns received MAC frames into UDP datagrams (RFC 4944 section 5.3 reassembly).

    Buffers are keyed by (source, destination, datagram_tag); at most ``max_buffers``
    reassemblies are kept (the oldest is dropped) and each lives ``timeout`` seconds
    from its first fragment. A fragment that overlaps a received one at another offset
    or length, or that disagrees on datagram_size, discards what was gathered.
    """

    def __init__(
        self,
        *,
        contexts: Mapping[int, bytes] | None = None,
        timeout: float = REASSEMBLY_TIMEOUT_S,
        max_buffers: int = 8,
    ) -> None:
        self._contexts = dict(contexts or {})
        self._timeout = timeout
        self._max_buffers = max_buffers
        self._partials: dict[tuple[bytes, bytes, int], _Partial] = {}

    def pending(self) -> int:
        """How many datagrams are partly reassembled."""
        return len(self._partials)

    def next_deadline(self) -> float | None:
        if not self._partials:
            return None
        return min(p.started for p in self._partials.values()) + self._timeout

    def handle_timeout(self, now: float) -> None:
        """Drop reassemblies older than the timeout."""
        for key in [k for k, p in self._partials.items() if now - p.started >= self._timeout]:
            del self._partials[key]

    def feed(self, frame: bytes, now: float) -> UdpDatagram | None:
        """One received MAC frame (no FCS) -> a complete datagram, or ``None``.

        ``None`` also for frames that carry no UDP datagram (acks, beacons, other
        IPv6 payloads). Malformed frames raise :class:`DecodeError`.
        """
        self.handle_timeout(now)
        mac = mac802154.decode(frame)
        if mac.frame_type != mac802154.FrameType.DATA or not mac.payload:
            return None
        if mac.security is not None:
            raise DecodeError(LAYER, 0, "secured frame: remove MAC protection first")
        src, dst = mac.src_addr, mac.dst_addr
        data = mac.payload
        kind = data[0] & _FRAG_MASK
        if kind not in (_FRAG1, _FRAGN):
            packet = decompress(data, src_mac=src, dst_mac=dst, contexts=self._contexts)
            return _datagram(packet, src, dst)
        return self._fragment(data, src, dst, now)

    def _fragment(
        self, data: bytes, src: bytes | None, dst: bytes | None, now: float
    ) -> UdpDatagram | None:
        first = data[0] & _FRAG_MASK == _FRAG1
        cur = Cursor(data, LAYER)
        size = cur.pull_uint16("datagram size") & 0x7FF
        tag = cur.pull_uint16("datagram tag")
        offset = 0 if first else cur.pull_uint8("datagram offset") * FRAG_OFFSET_UNIT
        body, elided = cur.pull_rest(), False
        if first:
            headers, used, elided = _decompress_headers(body, src, dst, self._contexts, size)
            body = headers + body[used:]
        if not body or offset + len(body) > size:
            raise cur.error(f"fragment {offset}+{len(body)} outside datagram of {size}", 0)
        if len(body) % FRAG_OFFSET_UNIT and offset + len(body) != size:
            raise cur.error("non-final fragment not a multiple of 8 bytes", 0)
        key = (src or b"", dst or b"", tag)
        part = self._partials.get(key)
        if part is not None and part.size == size and part.pieces.get(offset) == len(body):
            if part.buffer[offset : offset + len(body)] == body:
                return None  # duplicate of a fragment already held
            part = None  # same place, other bytes: start over with this one
        elif part is not None and (part.size != size or _overlaps(part, offset, len(body))):
            part = None
        if part is None:
            self._partials.pop(key, None)
            if len(self._partials) >= self._max_buffers:
                oldest = min(self._partials, key=lambda k: self._partials[k].started)
                del self._partials[oldest]
            part = _Partial(size, now, bytearray(size), {})
            self._partials[key] = part
        part.buffer[offset : offset + len(body)] = body
        part.fill_checksum |= elided
        part.pieces[offset] = len(body)
        part.received += len(body)
        if part.received < size:
            return None
        del self._partials[key]
        packet = bytes(part.buffer)
        return _datagram(_fill_udp_checksum(packet) if part.fill_checksum else packet, src, dst)


def _overlaps(part: _Partial, offset: int, length: int) -> bool:
    return any(o < offset + length and offset < o + n for o, n in part.pieces.items())


def _datagram(packet: bytes, src: bytes | None, dst: bytes | None) -> UdpDatagram | None:
    if len(packet) > 6 and packet[0] >> 4 == IPV6_VERSION and packet[6] != NH_UDP:
        return None
    header, sport, dport, payload = parse_ipv6_udp(packet)
    return UdpDatagram(
        src_mac=src or b"",
        dst_mac=dst or b"",
        src_ip=header.src,
        dst_ip=header.dst,
        src_port=sport,
        dst_port=dport,
        payload=payload,
        hop_limit=header.hop_limit,
    )
