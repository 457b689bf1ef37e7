"""Fuzz ``wisun.j11_messages.decode_message``: J11Frame -> typed message or DecodeError.

Input: a J11 frame whose checksums and length are ignored: bytes 0-3 the unique code
(anything but the request code means response), 4-5 the command, 12.. the data.
"""

from __future__ import annotations

import sys

from _harness import Target, main


def build() -> Target:
    from smartmeter_proto.errors import DecodeError
    from smartmeter_proto.wisun.j11 import J11Frame, UniqueCode
    from smartmeter_proto.wisun.j11.messages import decode_message, encode_message

    request = UniqueCode.REQUEST.to_bytes(4, "big")

    def call(data: bytes) -> object:
        if len(data) < 12:
            return None
        code = UniqueCode.REQUEST if data[:4] == request else UniqueCode.RESPONSE
        frame = J11Frame(int.from_bytes(data[4:6], "big"), data[12:], code)
        message = decode_message(frame)
        # Short forms (ActiveScan without the 8 ID bytes) encode long: compare messages.
        again = decode_message(encode_message(message))
        if again != message:
            raise AssertionError(f"{message!r} encodes to a frame that decodes as {again!r}")
        return message

    return Target("j11_message", call, (DecodeError,), "j11")


if __name__ == "__main__":
    sys.exit(main("j11_message"))
