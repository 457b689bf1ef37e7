"""Fuzz ``wisun.skstack.Parser(dialect).feed()`` and ``close()``: never raises.

Input: byte 0 picks the options (as in skstack_line), byte 1 the chunk size (0: all at
once), the rest is the dongle output stream. Every chunking must give the same messages.
"""

from __future__ import annotations

import sys

from _harness import Target, main


def build() -> Target:
    from smartmeter_proto.wisun.skstack import Parser
    from smartmeter_proto.wisun.skstack.dialects import PayloadMode, dialect_names

    dialects = dialect_names()

    def parse(data: bytes, opts: int, chunk: int) -> list[object]:
        mode = PayloadMode.BINARY if opts & 0x10 else PayloadMode.HEX
        parser = Parser(
            dialects[(opts & 0x0F) % len(dialects)],
            payload_mode=mode,
            rssi=bool(opts & 0x20),
            max_line_length=256,
            max_buffered=1024,
        )
        out: list[object] = []
        for at in range(0, len(data), chunk or max(1, len(data))):
            out += parser.feed(data[at : at + (chunk or len(data))])
        out += parser.close()
        return out

    def call(data: bytes) -> object:
        if len(data) < 2:
            return None
        whole = parse(data[2:], data[0], 0)
        chunked = parse(data[2:], data[0], data[1])
        if whole != chunked:
            raise AssertionError(f"chunk size {data[1]} changes the messages")
        return whole

    return Target("skstack_stream", call, (), "skstack", prefix=2)


if __name__ == "__main__":
    sys.exit(main("skstack_stream"))
