"""Fuzz ``echonet.typed.decode_typed`` (and ``TypedFrame.frame()``): value or DecodeError.

Input: one UDP payload. The typed decoder caches frame shapes, so a frame is decoded
twice: the second call may take the cached fast path and must agree with the first.
"""

from __future__ import annotations

import sys

from _harness import Target, main


def build() -> Target:
    from smartmeter_proto.echonet.typed import TypedFrame, decode_typed
    from smartmeter_proto.errors import DecodeError

    def errors(typed: TypedFrame) -> list[tuple[int, str]]:
        return [(epc, str(exc)) for epc, exc in typed.errors]

    def call(data: bytes) -> object:
        first = decode_typed(data)
        again = decode_typed(data)
        # DecodeError compares by identity: compare the errors by their text.
        if first._replace(errors=()) != again._replace(errors=()) or errors(first) != errors(again):
            raise AssertionError(f"typed decode differs on a second call: {first!r} != {again!r}")
        return first.frame()

    return Target("echonet_typed", call, (DecodeError,), "echonet")


if __name__ == "__main__":
    sys.exit(main("echonet_typed"))
