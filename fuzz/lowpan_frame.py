"""Fuzz ``wisun.mac802154.decode`` and ``wisun.lowpan.Reassembler.feed`` -> value or DecodeError.

Input: one IEEE 802.15.4 MAC frame without FCS. It is decoded and unprotected (zero key,
with and without the sender's extended address: DecodeError, never ValueError), then fed
twice to a fresh reassembler (the second time takes the duplicate-fragment path).
"""

from __future__ import annotations

import sys

from _harness import Target, main

METER = bytes.fromhex("001C640000000001")
DONGLE = bytes.fromhex("001C640000000002")
PAN_ID = 0xB5FB
ECHONET_PORT = 3610
PANA_PORT = 716


#: unprotect() is tried with a zero key, with and without the sender's extended address.
KEY = bytes(16)
SENDER = bytes.fromhex("ACDE480000000001")


def build() -> Target:
    from smartmeter_proto.errors import DecodeError
    from smartmeter_proto.wisun.radio import lowpan, mac802154

    def call(data: bytes) -> object:
        results: list[object] = []
        try:
            frame = mac802154.decode(data)
            results.append(frame)
            # What the frame says (no security, counter suppressed, no source for the
            # nonce, a short MIC) is a DecodeError, never a ValueError.
            for src_ext in (None, SENDER):
                try:
                    results.append(mac802154.unprotect(frame, KEY, src_ext=src_ext))
                except DecodeError as exc:
                    results.append(exc)
        except DecodeError as exc:
            results.append(exc)
        reassembler = lowpan.Reassembler()
        for now in (0.0, 1.0):
            try:
                results.append(reassembler.feed(data, now))
            except DecodeError as exc:
                results.append(exc)
        results.append(reassembler.pending())
        return results

    return Target("lowpan_frame", call, (DecodeError,), "bytes")


def seeds() -> dict[str, bytes]:
    """Real frames from tests/wisun (scapy captures), frames built by ``udp_frames``."""
    from pana_message import load_test_module, real_messages

    from smartmeter_proto.wisun.radio import lowpan

    test_lowpan = load_test_module("tests/wisun/test_lowpan.py")
    test_mac = load_test_module("tests/wisun/test_mac802154.py")
    out: dict[str, bytes] = {
        # scapy dot15d4.uts captures (ZEP2 ones carry an FCS: kept whole and stripped)
        "scapy-dio": test_lowpan.DIO[:-2],
        "scapy-dio-with-fcs": test_lowpan.DIO,
        "scapy-ra": test_lowpan.RA[:-2],
        "scapy-iphc-http": test_mac.SCAPY_IPHC[:-2],
        "scapy-beacon": test_mac.SCAPY_BEACON[:-2],
        # IEEE 802.15.4-2011 Annex C secured-frame vectors, clear and protected
        "annex-c-data": test_mac.DATA_CLEAR,
        "annex-c-data-secured": test_mac.DATA_SECURED,
        "annex-c-beacon": test_mac.BEACON_CLEAR,
        "annex-c-command": test_mac.CMD_CLEAR,
    }
    # [WSUHA] ECHONET Lite INF of the meter (tests/wisun/test_skstack.py BP35C2_SESSION)
    echonet = bytes.fromhex(
        "1081000102880105FF017302EA0B07E70C13001E000000458EEB0B07E70C13001E0000000015"
    )
    pana = real_messages()["wsuha-par-psk1"]
    built = {
        "echonet-unicast": lowpan.udp_frames(
            src_mac=METER,
            dst_mac=DONGLE,
            pan_id=PAN_ID,
            src_port=ECHONET_PORT,
            dst_port=ECHONET_PORT,
            payload=echonet,
            seq=1,
            tag=1,
        ),
        "echonet-broadcast": lowpan.udp_frames(
            src_mac=METER,
            dst_mac=None,
            pan_id=PAN_ID,
            src_port=ECHONET_PORT,
            dst_port=ECHONET_PORT,
            payload=echonet[:14],
            seq=2,
            tag=2,
        ),
        "pana": lowpan.udp_frames(
            src_mac=METER,
            dst_mac=DONGLE,
            pan_id=PAN_ID,
            src_port=PANA_PORT,
            dst_port=PANA_PORT,
            payload=pana,
            seq=3,
            tag=3,
        ),
        "fragmented": lowpan.udp_frames(
            src_mac=DONGLE,
            dst_mac=METER,
            pan_id=PAN_ID,
            src_port=0xF0B1,
            dst_port=0xF0B2,
            payload=bytes(range(256)),
            seq=4,
            tag=0x1234,
        ),
    }
    for name, frames in built.items():
        for index, frame in enumerate(frames):
            out[f"{name}-{index}"] = frame
    first = built["fragmented"][0]
    out["edge-empty"] = b""
    out["edge-frame-control-only"] = first[:2]
    out["edge-header-only"] = first[:21]
    out["edge-frag1-cut"] = first[:27]
    out["edge-frag1-size-lie"] = first[:21] + bytes([first[21] | 0x07, 0xFF]) + first[23:]
    out["edge-iphc-cut"] = built["echonet-unicast"][0][:24]
    return out


if __name__ == "__main__":
    sys.exit(main("lowpan_frame"))
