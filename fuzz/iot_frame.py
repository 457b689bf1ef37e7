"""Fuzz ``iot.frame.decode``: any bytes -> an IoT-route message or DecodeError.

What decodes must encode back to the same bytes (the codec accepts canonical CBOR only).

Input: one frame. Run ``python fuzz/iot_frame.py`` (atheris) or ``--fallback``.
"""

from __future__ import annotations

import sys

from _harness import Target, main


def build() -> Target:
    from smartmeter_proto.errors import DecodeError
    from smartmeter_proto.iot.frame import decode, encode

    def call(data: bytes) -> object:
        message = decode(data)
        if encode(message) != data:  # RFC 8949 §4.2: one deterministic encoding
            raise AssertionError(f"{message!r} encodes to other bytes")
        return message

    return Target("iot_frame", call, (DecodeError,), "bytes")


if __name__ == "__main__":
    sys.exit(main("iot_frame"))
