"""Fuzz ``wisun.j11.FrameParser.feed()``: never raises, whatever the chunking.

Input: the serial stream. It is fed whole and in 7-byte chunks; both must give the same
frames, and the parser may hold at most ``max_frame_size - 1`` bytes.
"""

from __future__ import annotations

import sys

from _harness import Target, main


def build() -> Target:
    from smartmeter_proto.wisun.j11 import FrameParser, J11Frame

    max_frame = 512

    def parse(data: bytes, chunk: int) -> list[object]:
        parser = FrameParser(max_frame_size=max_frame)
        out: list[object] = []
        for at in range(0, len(data), chunk):
            out += parser.feed(data[at : at + chunk])
            if parser.buffered >= max_frame:
                raise AssertionError(f"{parser.buffered} bytes buffered")
        return out

    def call(data: bytes) -> object:
        whole = [e for e in parse(data, max(1, len(data))) if isinstance(e, J11Frame)]
        chunked = [e for e in parse(data, 7) if isinstance(e, J11Frame)]
        if whole != chunked:
            raise AssertionError("chunking changes the frames")
        return whole

    return Target("j11_stream", call, (), "j11")


if __name__ == "__main__":
    sys.exit(main("j11_stream"))
