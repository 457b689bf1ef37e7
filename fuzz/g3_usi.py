"""Fuzz ``plc.usi.UsiParser.feed`` and ``plc.g3adp.decode_adp``: the parser never raises.

Input: the serial stream from (or to) a G3-PLC modem. It is fed whole and in 7-byte
chunks (both must give the same frames); ``UsiParser.feed`` returns bad frames as
``DecodeError`` items and must not raise. The DATA of each protocol-0x25 frame goes to
``decode_adp``, which may raise ``DecodeError`` only (caught per frame).
"""

from __future__ import annotations

import sys

from _harness import Target, main

CHUNK = 7


def build() -> Target:
    from smartmeter_proto.errors import DecodeError
    from smartmeter_proto.plc import g3adp
    from smartmeter_proto.plc.usi import UsiFrame, UsiParser, UsiProtocol

    def frames(data: bytes, chunk: int) -> list[UsiFrame]:
        parser = UsiParser()
        out: list[UsiFrame] = []
        for at in range(0, len(data), chunk):
            out += [f for f in parser.feed(data[at : at + chunk]) if isinstance(f, UsiFrame)]
        return out

    def call(data: bytes) -> object:
        whole = frames(data, max(1, len(data)))
        if whole != frames(data, CHUNK):
            raise AssertionError("chunking changes the frames")
        results: list[object] = []
        for frame in whole:
            if frame.protocol != UsiProtocol.ADP_G3:
                continue
            try:
                results.append(g3adp.decode_adp(frame.data))
            except DecodeError as exc:
                results.append(exc)
        return results

    return Target("g3_usi", call, (), "bytes")


def seeds() -> dict[str, bytes]:
    """The USI frames of tests/plc/test_usi.py, the ADP layouts of test_g3adp.py in USI."""
    from pana_message import load_test_module

    from smartmeter_proto.plc.usi import UsiFrame, UsiProtocol, encode_frame

    test_usi = load_test_module("tests/plc/test_usi.py")
    test_g3adp = load_test_module("tests/plc/test_g3adp.py")
    out = {"usi-init-arib": test_usi.INIT_ARIB, "usi-discovery-15": test_usi.DISCOVERY_15}
    layouts = next(
        m.args[1]
        for m in test_g3adp.test_layouts.pytestmark
        if m.name == "parametrize" and m.args[0] == ("hexstr", "expected")
    )
    adp = [encode_frame(UsiFrame(UsiProtocol.ADP_G3, bytes.fromhex(h))) for h, _expected in layouts]
    for hexstr, _expected in layouts:
        data = bytes.fromhex(hexstr)
        out.setdefault(f"adp-{data[0]:02x}", encode_frame(UsiFrame(UsiProtocol.ADP_G3, data)))
    out["stream-all-layouts"] = b"".join(adp)
    out["stream-with-junk"] = b"\x00\x7d" + b"\x11\x7e".join(adp[:6]) + b"\x7e\x7e"
    out["edge-empty"] = b""
    out["edge-delimiters"] = b"\x7e\x7e\x7e"
    out["edge-bad-escape"] = bytes.fromhex("7E 00 E5 7D 11 7E")  # test_usi.py
    out["edge-cut"] = test_usi.INIT_ARIB[:-3]
    out["edge-bad-crc"] = test_usi.INIT_ARIB[:-2] + b"\x00\x7e"
    out["edge-other-protocols"] = encode_frame(UsiFrame(0x22, b"\x01\x02")) + encode_frame(
        UsiFrame(0x01, b"\x7e\x7d")
    )
    return out


if __name__ == "__main__":
    sys.exit(main("g3_usi"))
