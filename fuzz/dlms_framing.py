"""Fuzz the A-route framings: ``aroute.hdlc.HdlcParser.feed`` and ``aroute.wrapper``.

* ``HdlcParser().feed`` never raises (bad frames are counted and skipped); the stream is fed
  whole and in 7-byte chunks, which must give the same frames. Each frame's information
  field goes through ``hdlc.strip_llc`` (DecodeError allowed).
* ``wrapper.decode`` (one UDP datagram) may raise DecodeError.
* ``WrapperParser.feed`` (TCP stream) may raise DecodeError once the stream is bad and on
  every later call; whole and 7-byte chunks must give the same frames and the same failed
  state.

Input: a serial or TCP byte stream; both framings see every input.
Run ``python fuzz/dlms_framing.py`` (atheris) or ``--fallback``.
"""

from __future__ import annotations

import sys

from _harness import Target, main

CHUNK = 7


def build() -> Target:
    from smartmeter_proto.aroute import hdlc, wrapper
    from smartmeter_proto.errors import DecodeError

    def hdlc_frames(data: bytes, chunk: int) -> list[hdlc.HdlcFrame]:
        parser = hdlc.HdlcParser()
        out: list[hdlc.HdlcFrame] = []
        for at in range(0, len(data), chunk):
            out += parser.feed(data[at : at + chunk])
        return out

    def wrapper_frames(data: bytes, chunk: int) -> tuple[list[wrapper.WrapperFrame], bool]:
        parser = wrapper.WrapperParser()
        out: list[wrapper.WrapperFrame] = []
        for at in range(0, len(data), chunk):
            try:
                out += parser.feed(data[at : at + chunk])
            except DecodeError:
                if not parser.failed:
                    raise AssertionError("WrapperParser raised but is not failed") from None
                try:
                    parser.feed(b"")
                except DecodeError:
                    break
                raise AssertionError("a failed WrapperParser accepted more bytes") from None
        return out, parser.failed

    def call(data: bytes) -> object:
        results: list[object] = []
        frames = hdlc_frames(data, max(1, len(data)))
        if frames != hdlc_frames(data, CHUNK):
            raise AssertionError("chunking changes the HDLC frames")
        for frame in frames:
            try:
                results.append(hdlc.strip_llc(frame.information))
            except DecodeError as exc:
                results.append(exc)
        try:
            results.append(wrapper.decode(data))
        except DecodeError as exc:
            results.append(exc)
        whole = wrapper_frames(data, max(1, len(data)))
        if whole != wrapper_frames(data, CHUNK):
            raise AssertionError("chunking changes the wrapper frames")
        results.append(whole)
        return results

    return Target("dlms_framing", call, (), "bytes")


def seeds() -> dict[str, bytes]:
    """The HDLC frames and the UDP datagram of tests/aroute/test_wrapper_hdlc.py, streams."""
    from pana_message import load_test_module

    from smartmeter_proto.aroute import wrapper

    test = load_test_module("tests/aroute/test_wrapper_hdlc.py")
    out = {
        "hdlc-snrm": test.SNRM,
        "hdlc-ua": test.UA,
        "hdlc-aarq": test.AARQ_I,
        "hdlc-aare": test.AARE_I,
        "hdlc-segmented": test.SEGMENTED_I,
    }
    for address, frame in test.GURUX_SNRM.items():
        out[f"hdlc-gurux-snrm-{address.logical:x}-{address.physical or 0:x}"] = frame
    stream = b"".join(test.ALL_FRAMES)
    out["hdlc-stream"] = stream
    out["hdlc-stream-shared-flags"] = test.SNRM[:-1] + test.UA[:-1] + test.AARQ_I
    out["hdlc-stream-junk"] = b"\x00\xff" + test.SNRM + b"\x7e\x7e\x13" + test.UA + b"\x7e"
    out["hdlc-bad-fcs"] = test.AARQ_I[:-3] + b"\x00\x00\x7e"
    out["hdlc-cut"] = test.AARE_I[:-6]
    udp = test.UDP_PUSH
    out["wrapper-udp-push"] = udp
    get = bytes.fromhex("C001C100080000010000FF0200")
    frames = [
        wrapper.encode(wrapper.WrapperFrame(wrapper.WPort.PUBLIC_CLIENT, 1, get)),
        wrapper.encode(wrapper.WrapperFrame(1, wrapper.WPort.PUBLIC_CLIENT, b"\xc4\x01\xc1\x00")),
        udp,
    ]
    out["wrapper-tcp-stream"] = b"".join(frames)
    out["wrapper-tcp-then-bad-version"] = frames[0] + b"\x00\x02" + udp[2:]
    out["wrapper-length-lie"] = udp[:6] + b"\xff\xff" + udp[8:]
    out["wrapper-empty-apdu"] = bytes.fromhex("0001001000010000")
    out["edge-empty"] = b""
    out["edge-flags"] = b"\x7e" * 5
    return out


if __name__ == "__main__":
    sys.exit(main("dlms_framing"))
