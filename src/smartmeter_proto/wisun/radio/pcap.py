"""Classic libpcap capture files: a writer and a reader (sans-IO apart from ``file.write``).

Format: the libpcap file format (tcpdump.org "pcap-savefile", IETF
draft-ietf-opsawg-pcap): a 24-byte global header, then per packet a 16-byte record
header (seconds, microseconds, captured length, original length) and the bytes.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from ...errors import DecodeError

__all__ = [
    "LINKTYPE_IEEE802_15_4_NOFCS",
    "LINKTYPE_IEEE802_15_4_WITHFCS",
    "PcapWriter",
    "read_pcap",
]

LAYER = "pcap"

#: IEEE 802.15.4 frames with the FCS (tcpdump.org link-layer header types).
LINKTYPE_IEEE802_15_4_WITHFCS = 195
#: IEEE 802.15.4 frames without the FCS (tcpdump.org link-layer header types).
LINKTYPE_IEEE802_15_4_NOFCS = 230

#: Magic of a microsecond-resolution file; its byte-swapped form marks the other order.
MAGIC_USEC = 0xA1B2C3D4
#: Magic of a nanosecond-resolution file.
MAGIC_NSEC = 0xA1B23C4D
VERSION = (2, 4)
DEFAULT_SNAPLEN = 262144

_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
_USEC = 1_000_000


class PcapWriter:
    """Writes a little-endian, microsecond pcap stream to ``file``.

    The global header is written on construction; :meth:`write` appends one packet.
    """

    def __init__(
        self,
        file: BinaryIO,
        linktype: int = LINKTYPE_IEEE802_15_4_NOFCS,
        *,
        snaplen: int = DEFAULT_SNAPLEN,
    ) -> None:
        self._file = file
        self._snaplen = snaplen
        self.linktype = linktype
        file.write(_GLOBAL.pack(MAGIC_USEC, *VERSION, 0, 0, snaplen, linktype))

    def write(self, timestamp: float, packet: bytes) -> None:
        """Append ``packet`` captured at ``timestamp`` (seconds since the epoch)."""
        if timestamp < 0:
            raise ValueError("pcap timestamps cannot be negative")
        micros = round(timestamp * _USEC)
        captured = packet[: self._snaplen]
        seconds, fraction = divmod(micros, _USEC)
        self._file.write(_RECORD.pack(seconds, fraction, len(captured), len(packet)))
        self._file.write(captured)


def read_pcap(data: bytes, *, max_packets: int = 1_000_000) -> list[tuple[float, bytes]]:
    """(timestamp, packet bytes) for every record of a classic pcap file.

    Either byte order, micro- or nanosecond timestamps. A bad magic, a truncated
    record or a captured length above the snap length raises :class:`DecodeError`.
    """
    data = bytes(data)
    if len(data) < _GLOBAL.size:
        raise DecodeError(LAYER, 0, f"global header needs {_GLOBAL.size} bytes, got {len(data)}")
    (magic,) = struct.unpack_from("<I", data)
    swapped = struct.unpack_from(">I", data)[0]
    if magic in (MAGIC_USEC, MAGIC_NSEC):
        order = "<"
    elif swapped in (MAGIC_USEC, MAGIC_NSEC):
        order, magic = ">", swapped
    else:
        raise DecodeError(LAYER, 0, f"not a pcap file (magic {magic:08x})")
    scale = _USEC if magic == MAGIC_USEC else 1_000_000_000
    record = struct.Struct(order + "IIII")
    snaplen = struct.unpack_from(order + "I", data, 16)[0]
    offset = _GLOBAL.size
    out: list[tuple[float, bytes]] = []
    while offset < len(data):
        if len(data) - offset < record.size:
            raise DecodeError(LAYER, offset, "truncated record header")
        if len(out) >= max_packets:
            raise DecodeError(LAYER, offset, f"more than {max_packets} packets")
        seconds, fraction, captured, _original = record.unpack_from(data, offset)
        if fraction >= scale:
            raise DecodeError(LAYER, offset + 4, f"sub-second field {fraction} out of range")
        if captured > max(snaplen, DEFAULT_SNAPLEN):
            raise DecodeError(LAYER, offset + 8, f"captured length {captured} above snaplen")
        start = offset + record.size
        if start + captured > len(data):
            raise DecodeError(LAYER, start, f"record of {captured} bytes is truncated")
        out.append((seconds + fraction / scale, data[start : start + captured]))
        offset = start + captured
    return out
