"""Interop: scapy (PyPI) against smartmeter_proto's IEEE 802.15.4 + 6LoWPAN codec.

Both directions:

1. scapy dissects the MAC frames ``lowpan.udp_frames`` produces (extended and short
   sources, unicast and broadcast, four NHC port forms, hop limits 1/64/255/other,
   payloads from 0 to 600 bytes, fragmented and not) and finds the same IPv6 addresses,
   hop limit, UDP ports, checksum and payload; each fragment header is checked too.
2. ``lowpan.Reassembler`` reads frames scapy builds (``Dot15d4``/``LoWPAN_IPHC``/
   ``LoWPAN_NHC`` with scapy's own compression, and fragments cut with scapy's
   ``LoWPANFragmentationFirst``/``Subsequent`` headers) and finds the same fields.

scapy 2.8.0 quirks, worked around and named, not hidden:

* ``SixLoWPAN.dispatch_hook`` maps the first byte 0x7F to the RFC 4944 ESC dispatch,
  but RFC 6282 IPHC uses 0x7F for TF=11 NH=1 HLIM=11 (hop limit 255 with NHC), which
  Wireshark decodes as IPHC. The script routes 0x7F to ``LoWPAN_IPHC``.
* ``sixlowpan_defragment`` only concatenates fragment payloads and drops the MAC
  header, so IPHC cannot rebuild MAC-derived addresses. The script checks each fragment
  header with scapy, then has scapy dissect the first frame's MAC header followed by the
  concatenated payloads.

Run: ``.venv/bin/python interop/lowpan_scapy.py`` (exit 0 = every check passed).
Needs ``scapy==2.8.0`` (the ``interop`` extra of pyproject.toml).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from scapy.config import conf

setattr(conf, "dot15d4_protocol", "sixlowpan")  # noqa: B010 - untyped scapy option

from scapy.compat import raw  # noqa: E402
from scapy.layers.dot15d4 import Dot15d4, Dot15d4Data  # noqa: E402
from scapy.layers.inet import UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.sixlowpan import (  # noqa: E402
    LoWPAN_IPHC,
    LoWPAN_NHC,
    LoWPANFragmentationFirst,
    LoWPANFragmentationSubsequent,
    SixLoWPAN,
)

from smartmeter_proto.wisun.radio import lowpan, mac802154  # noqa: E402

SCAPY_VERSION = "2.8.0"
METER = bytes.fromhex("001C640000000001")
DONGLE = bytes.fromhex("001C640000000002")
PAN = 0x8123

_original_hook = SixLoWPAN.dispatch_hook


def _iphc_aware_hook(cls: type, _pkt: bytes = b"", *args: Any, **kwargs: Any) -> Any:
    if _pkt[:1] == b"\x7f":
        return LoWPAN_IPHC
    return _original_hook(_pkt, *args, **kwargs)  # type: ignore[no-untyped-call]


setattr(SixLoWPAN, "dispatch_hook", classmethod(_iphc_aware_hook))  # noqa: B010


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def equal(self, name: str, got: object, want: object) -> None:
        if got == want:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {name}: got {got!r}, want {want!r}")


def _ip_text(addr: bytes) -> str:
    import ipaddress

    return str(ipaddress.IPv6Address(addr))


def _scapy_reassemble(frames: list[bytes], checks: Checks, name: str, tag: int) -> Any:
    """scapy's view of one datagram: single frame, or fragments checked and joined."""
    parsed = [Dot15d4(f) for f in frames]
    if len(frames) == 1:
        return parsed[0]
    first = parsed[0][LoWPANFragmentationFirst]
    size = first.datagramSize
    checks.equal(f"{name} FRAG1 tag", first.datagramTag, tag)
    joined = raw(first.payload)
    for i, pkt in enumerate(parsed[1:], 1):
        frag = pkt[LoWPANFragmentationSubsequent]
        checks.equal(
            f"{name} FRAGN{i} tag/size", (frag.datagramTag, frag.datagramSize), (tag, size)
        )
        joined += raw(frag.payload)
    mac_header = mac802154.decode(frames[0]).header()
    return Dot15d4(mac_header + joined), size


def ours_to_scapy(checks: Checks) -> None:
    cases = [
        (METER, DONGLE, 3610, 3610, 0, 255),
        (METER, DONGLE, 3610, 3610, 5, 64),
        (METER, None, 3610, 3610, 20, 255),
        (METER, DONGLE, 0xF0B1, 0xF0B2, 7, 1),
        (METER, DONGLE, 1234, 0xF012, 33, 64),
        (b"\x12\x34", None, 0xF034, 716, 50, 17),
        (b"\x12\x34", DONGLE, 3610, 3610, 96, 64),
        (METER, DONGLE, 3610, 3610, 200, 255),
        (METER, None, 3610, 3610, 300, 64),
        (b"\x00\x07", b"\x00\x08", 0xF0BF, 0xF0B0, 600, 255),
    ]
    for tag, (src, dst, sport, dport, size, hlim) in enumerate(cases):
        payload = bytes((i * 7 + tag) & 0xFF for i in range(size))
        name = f"ours->scapy #{tag} ({len(src)}B src, {sport}->{dport}, {size}B, hlim {hlim})"
        frames = lowpan.udp_frames(
            src_mac=src,
            dst_mac=dst,
            pan_id=PAN,
            src_port=sport,
            dst_port=dport,
            payload=payload,
            seq=tag,
            tag=0x100 + tag,
            hop_limit=hlim,
        )
        result = _scapy_reassemble(frames, checks, name, 0x100 + tag)
        pkt = result if len(frames) == 1 else result[0]
        if len(frames) > 1:
            checks.equal(f"{name} datagram_size", result[1], 48 + size)
        want_dst = lowpan.ALL_NODES if dst is None else lowpan.link_local(dst)
        checks.equal(f"{name} src", pkt[IPv6].src, _ip_text(lowpan.link_local(src)))
        checks.equal(f"{name} dst", pkt[IPv6].dst, _ip_text(want_dst))
        checks.equal(f"{name} hlim", pkt[IPv6].hlim, hlim)
        checks.equal(f"{name} ports", (pkt[UDP].sport, pkt[UDP].dport), (sport, dport))
        checks.equal(f"{name} payload", raw(pkt[UDP].payload), payload)
        packet = lowpan.build_ipv6_udp(
            src_ip=lowpan.link_local(src),
            dst_ip=want_dst,
            src_port=sport,
            dst_port=dport,
            payload=payload,
            hop_limit=hlim,
        )
        checks.equal(f"{name} checksum", pkt[UDP].chksum, int.from_bytes(packet[46:48], "big"))
        # scapy recomputes the checksum from its own IPv6 view of the datagram
        rebuilt = (
            IPv6(src=pkt[IPv6].src, dst=pkt[IPv6].dst, hlim=hlim)
            / UDP(sport=sport, dport=dport)
            / payload
        )
        checks.equal(f"{name} scapy checksum", IPv6(raw(rebuilt))[UDP].chksum, pkt[UDP].chksum)


def _scapy_frame(src: bytes, dst: bytes | None, seq: int, lowpan_layer: Any) -> bytes:
    dst_short = dst is None or len(dst) == 2
    mac = Dot15d4(
        fcf_frametype=1,
        fcf_panidcompress=1,
        fcf_framever=1,
        seqnum=seq,
        fcf_destaddrmode=2 if dst_short else 3,
        fcf_srcaddrmode=2 if len(src) == 2 else 3,
    )
    data = Dot15d4Data(
        dest_panid=PAN,
        dest_addr=0xFFFF if dst is None else int.from_bytes(dst, "big"),
        src_addr=int.from_bytes(src, "big"),
    )
    return bytes(raw(mac / data / lowpan_layer))


def scapy_to_ours(checks: Checks) -> None:
    cases: list[tuple[bytes, bytes | None, dict[str, Any], int, int, int, int]] = [
        (METER, DONGLE, {"sam": 3, "dam": 3, "hlim": 3}, 3610, 3610, 10, 255),
        (METER, None, {"sam": 3, "m": 1, "dam": 3, "hlim": 2}, 3610, 3610, 0, 64),
        (METER, DONGLE, {"sam": 1, "dam": 1, "hlim": 1}, 0xF0B3, 0xF0B4, 25, 1),
        (b"\x12\x34", DONGLE, {"sam": 2, "dam": 0, "hlim": 0}, 1234, 0xF0AA, 40, 33),
        (METER, DONGLE, {"sam": 0, "dam": 3, "hlim": 3, "tf": 0}, 3610, 3610, 3, 255),
    ]
    for seq, (src, dst, iphc, sport, dport, size, hlim) in enumerate(cases):
        payload = bytes(range(size))
        name = f"scapy->ours #{seq} (IPHC {iphc}, {sport}->{dport}, {size}B)"
        dst_link = b"\xff\xff" if dst is None else dst
        src_ip = _ip_text(lowpan.link_local(src))
        dst_ip = _ip_text(lowpan.ALL_NODES if dst is None else lowpan.link_local(dst))
        layer = (
            LoWPAN_IPHC(nh=1, **iphc)
            / LoWPAN_NHC()
            / IPv6(src=src_ip, dst=dst_ip, hlim=hlim)
            / UDP(sport=sport, dport=dport)
            / payload
        )
        frame = _scapy_frame(src, dst, seq, layer)
        got = _feed(lowpan.Reassembler(), [frame], checks, name)
        if got is None:
            continue
        checks.equal(f"{name} addresses", (got.src_mac, got.dst_mac), (src, dst_link))
        checks.equal(f"{name} ips", (_ip_text(got.src_ip), _ip_text(got.dst_ip)), (src_ip, dst_ip))
        checks.equal(f"{name} ports", (got.src_port, got.dst_port), (sport, dport))
        checks.equal(f"{name} hop limit", got.hop_limit, hlim)
        checks.equal(f"{name} payload", got.payload, payload)
    _scapy_fragments_to_ours(checks)


def _scapy_fragments_to_ours(checks: Checks) -> None:
    """A 400-byte datagram compressed by scapy, cut with scapy's fragment headers."""
    payload = bytes(i % 251 for i in range(400))
    src_ip, dst_ip = _ip_text(lowpan.link_local(METER)), _ip_text(lowpan.link_local(DONGLE))
    compressed = raw(
        LoWPAN_IPHC(nh=1, sam=3, dam=3, hlim=3)
        / LoWPAN_NHC()
        / IPv6(src=src_ip, dst=dst_ip, hlim=255)
        / UDP(sport=3610, dport=3610)
        / payload
    )
    header_len = len(compressed) - len(payload)
    gain = 48 - header_len
    size, tag = len(compressed) + gain, 0xBEEF
    first_len = 64 - gain  # covers 64 bytes of the uncompressed datagram
    pieces = [
        raw(LoWPANFragmentationFirst(datagramSize=size, datagramTag=tag)) + compressed[:first_len]
    ]
    for pos in range(first_len, len(compressed), 80):
        pieces.append(
            raw(
                LoWPANFragmentationSubsequent(
                    datagramSize=size, datagramTag=tag, datagramOffset=(pos + gain) // 8
                )
            )
            + compressed[pos : pos + 80]
        )
    frames = [_scapy_frame(METER, DONGLE, i, piece) for i, piece in enumerate(pieces)]
    for order_name, order in (("in order", frames), ("reversed", frames[::-1])):
        got = _feed(lowpan.Reassembler(), order, checks, f"scapy fragments {order_name}")
        if got is not None:
            checks.equal(f"scapy fragments {order_name} payload", got.payload, payload)
            checks.equal(
                f"scapy fragments {order_name} ports", (got.src_port, got.dst_port), (3610, 3610)
            )


def _feed(
    reassembler: lowpan.Reassembler, frames: list[bytes], checks: Checks, name: str
) -> lowpan.UdpDatagram | None:
    results = []
    for frame in frames:
        try:
            got = reassembler.feed(frame, 0.0)
        except Exception as exc:
            checks.equal(f"{name} decodes", repr(exc), "a datagram")
            return None
        if got is not None:
            results.append(got)
    checks.equal(f"{name} datagram count", len(results), 1)
    return results[0] if results else None


def main() -> int:
    import scapy

    if scapy.VERSION != SCAPY_VERSION:
        print(f"WARNING scapy {scapy.VERSION}, pinned {SCAPY_VERSION}")
    checks = Checks()
    steps: list[Callable[[Checks], None]] = [ours_to_scapy, scapy_to_ours]
    for step in steps:
        step(checks)
    print(f"{checks.passed} checks passed, {checks.failed} failed (scapy {scapy.VERSION})")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
