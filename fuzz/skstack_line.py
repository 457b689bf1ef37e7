"""Fuzz ``wisun.skstack_messages.decode_line``: one dongle line -> message or DecodeError.

Input: byte 0 picks the options (bits 0-3: dialect index, bit 4: binary ERXUDP payload,
bit 5: RSSI token), the rest is the line without its CR LF.
"""

from __future__ import annotations

import sys

from _harness import Target, main


def build() -> Target:
    from smartmeter_proto.errors import DecodeError
    from smartmeter_proto.wisun.skstack.dialects import PayloadMode, dialect_names
    from smartmeter_proto.wisun.skstack.messages import decode_line

    dialects = dialect_names()

    def call(data: bytes) -> object:
        if not data:
            return None
        mode = PayloadMode.BINARY if data[0] & 0x10 else PayloadMode.HEX
        dialect = dialects[(data[0] & 0x0F) % len(dialects)]
        return decode_line(data[1:], dialect, payload_mode=mode, rssi=bool(data[0] & 0x20))

    return Target("skstack_line", call, (DecodeError,), "skstack", prefix=1)


if __name__ == "__main__":
    sys.exit(main("skstack_line"))
