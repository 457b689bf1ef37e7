"""Differential: one IEEE 802.15.4 frame into ``wisun.mac802154``/``lowpan`` and scapy 2.8.0.

``mac802154.decode`` against scapy ``Dot15d4`` (no FCS) on the same bytes. Both read a frame
of version 2003/2006 without security: frame type, sequence number, PAN ids and addresses
agree. A data frame whose payload ours decompresses (``lowpan.decompress``, IPHC RFC 6282 or
the 0x41 dispatch RFC 4944 §5.1) and scapy dissects to IPv6: source, destination, next
header, hop limit, and for UDP the ports and payload agree.

scapy is lenient: it dissects whatever bytes it gets (a short frame leaves fields unset).
When ours refuses, the refusal is counted under the rule it applies (``OUR_RULES``: each a
spec section); a refusal whose reason no rule names is a crash, as is any disagreement on a
value not explained by ``PEER_QUIRKS``. ``OUTCOMES`` counts every verdict.

Needs the ``interop`` extra (scapy). Input: one MAC frame, no FCS.
Run ``python fuzz/diff_lowpan.py`` (atheris) or ``--fallback``.
"""

from __future__ import annotations

import ipaddress
import sys
from collections import Counter
from typing import Any, Final

from _harness import Target, main

#: Reason substrings of our DecodeErrors -> the rule (IEEE 802.15.4-2015, RFC 4944/6282).
OUR_RULES: Final = {
    "reserved addressing mode": "802.15.4-2015 §7.2.2.9: addressing mode 1 is reserved",
    "reserved frame version": "802.15.4-2015 §7.2.2.10: frame version 3 is reserved",
    "beacon without a source address": "802.15.4-2015 §7.3.1: a beacon carries a source",
    "acknowledgment": "802.15.4-2015 §7.3.3: an Imm-Ack has no addresses or payload",
    "frame of": "802.15.4-2015 §7.2.1: the MHR is cut short",
    "truncated": "802.15.4-2015 §7.2: a field runs past the frame",
    "short": "802.15.4-2015 §7.2: a field runs past the frame",
    "left": "802.15.4-2015 §7.2: a field runs past the frame",
    "needs": "802.15.4-2015 §7.2.2: the frame type requires an address it lacks",
    "without": "802.15.4-2015 §7.2.2: the frame type requires an address it lacks",
    "PAN": "802.15.4-2015 §7.2.2.6 table 7-2: PAN id presence",
    "security": "802.15.4-2015 §9.4: auxiliary security header",
    "key identifier": "802.15.4-2015 §9.4.3: key identifier mode",
    "IE": "802.15.4-2015 §7.4: header/payload IEs",
    "reserved": "802.15.4-2015 §7.2.2: a reserved field or value",
    "frame type": "802.15.4-2015 §7.2.2.2: frame type",
}
#: Where scapy 2.8.0 reads the same bytes otherwise (named, counted, not failures).
PEER_QUIRKS: Final = {
    "sc-no-v2015": "scapy Dot15d4 knows the 2003/2006 MHR only: frame version 2 (sequence "
    "suppression, IEs, table 7-2 PAN id rules) is dissected with the 2006 rules; compared "
    "only for versions 0 and 1",
    "sc-other-types": "scapy 2.8.0 dissects beacon addressing and the 2015 frame types "
    "(multipurpose, fragment, extended) without their address fields; only the type and "
    "sequence number are compared for them (data and MAC command frames: every field)",
    "sc-secured": "scapy dissects a secured frame's payload as plaintext; not compared",
    "sc-no-iphc": "scapy leaves the payload undissected (Raw) or dispatches it elsewhere "
    "(0x7F as RFC 4944 ESC, see interop/lowpan_scapy.py) where ours decompresses IPHC",
    "sc-no-dst": "scapy 2.8.0 binds no Dot15d4Data/Dot15d4Cmd layer to a data or MAC command "
    "frame without a destination address (its payload stays Raw): the source PAN id and "
    "address it carries (802.15.4-2006 section 7.2.1.1.5: a lone address has its PAN id) "
    "are not dissected; only the type and sequence number are compared",
    "sc-cmd-no-id": "scapy 2.8.0 cannot dissect a MAC command frame that ends before its "
    "command frame identifier and leaves the whole MAC layer Raw (no PAN ids, no addresses); "
    "ours reads the header and refuses the frame only with strict=True (802.15.4-2006 "
    "section 7.2.2.4); only the type and sequence number are compared",
    "sc-iphc-error": "scapy raises inside its IPHC decompression on a payload ours reads",
}

OUTCOMES: Counter[str] = Counter()


def build() -> Target:
    import logging

    logging.getLogger("scapy").setLevel(logging.CRITICAL)
    from scapy.config import conf

    setattr(conf, "dot15d4_protocol", "sixlowpan")  # noqa: B010 - untyped scapy option
    from scapy.layers.dot15d4 import Dot15d4, Dot15d4Cmd, Dot15d4Data
    from scapy.layers.inet import UDP
    from scapy.layers.inet6 import IPv6

    from smartmeter_proto.errors import DecodeError
    from smartmeter_proto.wisun.radio import lowpan, mac802154

    def count(verdict: str) -> str:
        OUTCOMES[verdict] += 1
        return verdict

    def addr(value: Any, mode: int) -> bytes | None:
        if mode < 2 or value is None:
            return None
        return int(value).to_bytes(2 if mode == 2 else 8, "big")

    def mac_fields(pkt: Any) -> tuple[object, ...]:
        layer = pkt.payload
        dmode, smode = pkt.fcf_destaddrmode, pkt.fcf_srcaddrmode
        dpan = getattr(layer, "dest_panid", None) if dmode else None
        span = getattr(layer, "src_panid", None) if smode else None
        if smode and pkt.fcf_panidcompress and dmode:
            span = dpan
        return (
            pkt.fcf_frametype,
            pkt.seqnum,
            dpan,
            addr(getattr(layer, "dest_addr", None), dmode),
            span,
            addr(getattr(layer, "src_addr", None), smode),
        )

    def ours_fields(frame: Any) -> tuple[object, ...]:
        span = frame.src_pan_id
        if span is None and frame.src_addr is not None:
            span = frame.dst_pan_id  # PAN id compression: the source shares it
        return (
            frame.frame_type,
            frame.seq,
            frame.dst_pan_id if frame.dst_addr else None,
            frame.dst_addr,
            span,
            frame.src_addr,
        )

    def compare_ipv6(frame: Any, pkt: Any) -> str:
        try:
            packet = lowpan.decompress(
                frame.payload, src_mac=frame.src_addr, dst_mac=frame.dst_addr
            )
        except DecodeError:
            return "iphc-ours-refuse"  # scapy's IPHC has no checks to agree with
        try:
            theirs = pkt.getlayer(IPv6)
        except Exception:
            theirs = None
        if theirs is None:
            return "sc-no-iphc"
        if len(packet) < 40:
            return "ipv6-short"
        src, dst = bytes(packet[8:24]), bytes(packet[24:40])
        want = (ipaddress.IPv6Address(src), ipaddress.IPv6Address(dst), packet[6], packet[7])
        try:
            got = (
                ipaddress.IPv6Address(theirs.src),
                ipaddress.IPv6Address(theirs.dst),
                theirs.nh,
                theirs.hlim,
            )
        except Exception:
            return "sc-iphc-error"
        if got != want:
            raise AssertionError(f"IPv6 ours {want}, scapy {got}")
        if packet[6] == 17 and len(packet) >= 48 and UDP in pkt:
            ours_udp = (int.from_bytes(packet[40:42], "big"), int.from_bytes(packet[42:44], "big"))
            if (pkt[UDP].sport, pkt[UDP].dport) != ours_udp:
                raise AssertionError(
                    f"UDP ports ours {ours_udp}, scapy {(pkt[UDP].sport, pkt[UDP].dport)}"
                )
            if bytes(pkt[UDP].payload) != packet[48:]:
                raise AssertionError("UDP payload differs")
            return "agree-udp"
        return "agree-ipv6"

    def call(data: bytes) -> object:
        try:
            frame: Any = mac802154.decode(data)
            reason = ""
        except DecodeError as exc:
            frame, reason = None, exc.reason
        try:
            pkt, failed = Dot15d4(data), None
        except Exception as exc:
            pkt, failed = None, exc
        if frame is None:
            if failed is not None:
                return count("agree-reject")
            rule = next((k for k in OUR_RULES if k in reason), None)
            if rule is None:
                raise AssertionError(f"scapy reads it; we refuse for no named rule: {reason}")
            return count(f"sc-lenient:{rule}")
        if failed is not None:
            return count("sc-raises")
        if frame.frame_version > 1:
            return count("sc-no-v2015")
        if frame.security is not None:
            return count("sc-secured")
        got, want = mac_fields(pkt), ours_fields(frame)
        raw_mac = not isinstance(getattr(pkt, "payload", None), (Dot15d4Data, Dot15d4Cmd))
        if frame.frame_type in (1, 3) and raw_mac and frame.dst_addr is None:
            # 802.15.4-2006 section 7.2.1.1.5: a lone source address carries its PAN id.
            got, want = got[:2], want[:2]
            OUTCOMES["sc-no-dst"] += 1
        elif frame.frame_type == 3 and raw_mac and not frame.payload:
            # 802.15.4-2006 section 7.2.2.4: ours refuses it only with strict=True
            got, want = got[:2], want[:2]
            OUTCOMES["sc-cmd-no-id"] += 1
        if frame.frame_type not in (1, 3):
            got, want = got[:2], want[:2]
            OUTCOMES["sc-other-types"] += 1
        if got != want:
            raise AssertionError(f"MAC ours {want}, scapy {got}")
        verdicts = [count("agree-mac")]
        if frame.frame_type == 1 and frame.payload and frame.src_addr and frame.dst_addr:
            verdicts.append(count(compare_ipv6(frame, pkt)))
        return verdicts

    return Target("diff_lowpan", call, (), "bytes")


if __name__ == "__main__":
    sys.exit(main("diff_lowpan"))
