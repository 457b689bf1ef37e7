"""Fuzz ``echonet.frame.decode``: any bytes -> Frame, ArbitraryFrame or DecodeError.

What decodes must encode back to the same bytes; ``strict=True`` is tried too.

Input: one UDP payload. Run ``python fuzz/echonet_frame.py`` (atheris) or ``--fallback``.
"""

from __future__ import annotations

import sys

from _harness import Target, main


def build() -> Target:
    from smartmeter_proto.echonet.frame import decode, encode
    from smartmeter_proto.errors import DecodeError

    def call(data: bytes) -> object:
        frame = decode(data)
        if encode(frame) != data:  # Part II 3.2: a decoded frame has one encoding
            raise AssertionError(f"{frame!r} encodes to other bytes")
        return decode(data, strict=True)

    return Target("echonet_frame", call, (DecodeError,), "echonet")


if __name__ == "__main__":
    sys.exit(main("echonet_frame"))
